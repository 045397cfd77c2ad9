(function () {
  // Draws the plotly figures built in Python (#plots, name -> {data, layout}; one element
  // per figure) and shows the image of a point hovered or clicked. Sets
  // window.__firstPlotMs (the 2D view drawn), window.__plotsMs and body[data-rendered]
  // (every plot drawn) for benchmarks/bench_report.py and the browser tests.
  const R = JSON.parse(document.getElementById('report-data').textContent);
  const T = JSON.parse(document.getElementById('thumbs').textContent);
  const P = JSON.parse(document.getElementById('plots').textContent);
  const F = R.figures;
  const config = {responsive: true, displaylogo: false};

  // The point clouds come without their points, which the report data holds once: each
  // trace's meta names the report trace it draws, customdata gets its positions or rows.
  function withPoints(fig, traces, key) {
    for (const tr of fig.data) {
      const t = traces[tr.meta];
      tr.x = t.x; tr.y = t.y; tr.customdata = t[key];
      if (tr.type !== 'scattergl') tr.z = t.z;
    }
    return fig;
  }

  // A plotly_hover / plotly_click handler that puts a point's image and label in a
  // panel; describe(customdata, point) returns [input position, label].
  function panel(imgId, labelId, describe) {
    const img = document.getElementById(imgId);
    const label = document.getElementById(labelId);
    return function (ev) {
      if (!ev || !ev.points || !ev.points.length) return;
      const pt = ev.points[0];
      let row = pt.customdata;
      if (row === undefined && pt.data) row = pt.data.customdata[pt.pointNumber];
      if (row === undefined) return;
      const [pos, text] = describe(row, pt);
      label.textContent = text;
      const b64 = T[String(pos)];
      if (b64) { img.src = 'data:image/png;base64,' + b64; img.alt = F.ids[pos]; }
      else { img.removeAttribute('src'); img.alt = 'no image'; }
    };
  }

  const done = [];
  const show = panel('hover-img', 'hover-id',
    (pos) => [pos, F.ids[pos] + ' (' + R.decisions_by_position[pos] + ')']);
  const g2 = document.getElementById('scatter2d');
  const g3 = document.getElementById('scatter3d');
  const s2 = withPoints(P.scatter2d, F.embedding.traces, 'positions');
  const s3 = withPoints(P.scatter3d, F.embedding.traces, 'positions');
  done.push(Plotly.newPlot(g2, s2.data, s2.layout, config).then(function () {
    window.__firstPlotMs = performance.now();
  }));
  done.push(Plotly.newPlot(g3, s3.data, s3.layout, config));
  for (const g of [g2, g3]) { g.on('plotly_hover', show); g.on('plotly_click', show); }
  if (P.nn) done.push(Plotly.newPlot('nn-plot', P.nn.data, P.nn.layout, config));
  if (P.coverage) {
    done.push(Plotly.newPlot('coverage-plot', P.coverage.data, P.coverage.layout, config));
  }
  if (P.classes) done.push(Plotly.newPlot('class-plot', P.classes.data, P.classes.layout, config));

  const DP = F.data_parameters;
  if (P.dp_trajectories) {
    const t = P.dp_trajectories;
    done.push(Plotly.newPlot('dp-trajectories', t.data, t.layout, config));
    const dpShow = panel('dp-hover-img', 'dp-hover-id', function (row, pt) {
      const pos = DP.positions ? DP.positions[row] : row;
      return [pos, F.ids[pos] + ' (' + pt.data.name.split(' (')[0] + ', sigma ' +
        DP.sigma_chosen[row] + ')'];
    });
    const ge = document.getElementById('dp-embedding');
    const m = withPoints(P.dp_embedding, DP.embedding.traces, 'rows');
    done.push(Plotly.newPlot(ge, m.data, m.layout, config));
    ge.on('plotly_hover', dpShow); ge.on('plotly_click', dpShow);
  }

  Promise.all(done).then(function () {
    window.__plotsMs = performance.now();
    document.body.setAttribute('data-rendered', '1');
  });
})();
