"""The run report of ``sklearn-curate curate``: ``report.json`` and ``report.html``.

``report.json`` holds every number the page shows: counts, parameters, timings,
versions and, under ``figures``, the point coordinates, the nearest-neighbour distance
histograms, the removed / nearest-kept pairs with their distances, the per-class counts and the
coverage of the embedding (critical-radius histogram, least-covered rows; see :func:`sklearn_curate.report._figures.build_figures`)
and, when the run had a mislabelled step (``--mislabelled``), ``data_parameters``: the
Data Parameters figures of :func:`sklearn_curate.report._dp_figures.data_parameter_figures` plus
``positions`` (the input position of each row the scorer saw). Reports without that key
render exactly as before.

``report.html`` is one self-contained file that opens offline: plotly.js, the report
itself (as JSON) and the thumbnails (base64 PNG) are inlined. The tables are rendered
from the report in Python; the plots are drawn in the browser from the embedded JSON.
Thumbnails are shown on demand (hover or click a point) from one id -> PNG map, so
the page stays responsive with tens of thousands of points.

From Python, on the results of the curators::

    from sklearn_curate.report._html import curation_report, write_report
    report, thumbs = curation_report(X, outlier_filter=of, similarity_filter=sf,
                                     images=images, labels=y)
    write_report(report, "out", thumbnails=thumbs)
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from ._figures import PAIR_REASONS, build_figures, make_thumbnails

__all__ = ["build_figures", "curation_report", "make_thumbnails", "render_html", "write_report"]

_CSS = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; color: #222;
       padding: 0 1em; }
h1 { font-size: 1.5em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.7em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
p.note { color: #555; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }
.plot { width: 30em; height: 26em; border: 1px solid #ddd; }
#hover-panel { width: 10em; border: 1px solid #ddd; padding: 0.5em; min-height: 12em; }
#hover-img { width: 8em; height: 8em; image-rendering: pixelated; background: #eee;
             display: block; }
.grid { display: flex; flex-wrap: wrap; gap: 0.5em; }
.pair { border: 1px solid #ddd; padding: 0.3em; font-size: 0.8em; width: 9.5em; }
.pair img { width: 4.4em; height: 4.4em; image-rendering: pixelated; background: #eee; }
.pair div { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
"""

_COLORS = {"kept": "#1f77b4", "outlier": "#d62728", "similar": "#ff7f0e"}
MAX_PAIRS_SHOWN = 60


def _cell(value) -> str:
    if isinstance(value, bool) or value is None:
        return f"<td>{html.escape(str(value))}</td>"
    if isinstance(value, (int, float)):
        text = f"{value:.6g}" if isinstance(value, float) else str(value)
        return f'<td class="num">{text}</td>'
    if isinstance(value, (list, dict)):
        value = json.dumps(value)
    return f"<td>{html.escape(str(value))}</td>"


def _table(rows, header=None) -> str:
    out = ["<table>"]
    if header:
        out.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
    for row in rows:
        out.append("<tr>" + "".join(_cell(v) for v in row) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _section(title: str, anchor: str) -> str:
    return f'<h2 id="{anchor}">{html.escape(title)}</h2>'


def _summary(report: dict) -> list:
    parts = []
    counts = report.get("counts", {})
    parts.append(_section("Decisions", "counts"))
    shares = report.get("shares_percent", {})
    rows = [(k, v, shares.get(k, "")) for k, v in counts.items()]
    parts.append(_table(rows, ("decision", "count", "% of inputs")))
    if report.get("counting_rule"):
        parts.append(f'<p class="note">{html.escape(report["counting_rule"])}</p>')
    if report.get("warnings"):
        parts.append(_section("Warnings", "warnings"))
        items = "".join(f"<li>{html.escape(w)}</li>" for w in report["warnings"])
        parts.append(f'<ul class="warnings">{items}</ul>')
    if report.get("input"):
        parts.append(_section("Input", "input"))
        parts.append(_table(report["input"].items(), ("key", "value")))
    if report.get("default_data"):
        parts.append(_section("Injected faults (default data)", "faults"))
        parts.append(_table(report["default_data"].items(), ("key", "value")))
    if report.get("steps"):
        parts.append(_section("Steps", "steps"))
        rows = [
            (
                s.get("name"),
                s.get("seconds"),
                s.get("device") or "",
                s.get("backend") or "",
                s.get("detail", ""),
            )
            for s in report["steps"]
        ]
        if report.get("total_seconds") is not None:
            rows.append(("total", report["total_seconds"], "", "", ""))
        parts.append(_table(rows, ("step", "seconds", "device", "backend", "detail")))
    return parts


def _img(thumbnails, pos) -> str:
    b64 = thumbnails.get(str(pos)) if thumbnails else None
    if b64 is None:
        return '<img alt="no image">'
    return f'<img alt="" src="data:image/png;base64,{b64}">'


def _pairs_section(figures: dict, thumbnails: dict | None) -> list:
    ids = figures["ids"]
    pairs = figures.get("pairs") or {}
    parts = [_section("Removed images beside their nearest kept image", "pairs")]
    parts.append(
        '<p class="note">Each removed input (left) beside the nearest kept input (right: '
        "for near-duplicates the kept input it stands for, for exact duplicates the first "
        f"copy) and the {html.escape(figures.get('distance', 'distance'))}. Outliers: the "
        "farthest first; near-duplicates: the closest first. Every pair is in "
        "report.json under figures.pairs.</p>"
    )
    if not figures.get("images"):
        parts.append('<p class="note">No images: the inputs are feature vectors.</p>')
    titles = {
        "outlier": "Outliers",
        "similar": "Near-duplicates",
        "exact_duplicate": "Exact duplicates (identical bytes)",
    }
    for reason in PAIR_REASONS:
        rows = pairs.get(reason)
        if not rows:
            continue
        shown = rows[:MAX_PAIRS_SHOWN]
        parts.append(f"<h3>{titles[reason]}: {len(rows)}</h3>")
        if len(shown) < len(rows):
            parts.append(f'<p class="note">Showing the first {len(shown)} of {len(rows)}.</p>')
        parts.append('<div class="grid">')
        for r in shown:
            a, b = r["position"], r["nearest"]
            parts.append(
                f'<div class="pair">{_img(thumbnails, a)} {_img(thumbnails, b)}'
                f"<div>{html.escape(ids[a])}</div><div>&rarr; {html.escape(ids[b])}</div>"
                f"<div>distance {_fmt(r['distance'])}</div></div>"
            )
        parts.append("</div>")
    return parts


def _classes_section(figures: dict) -> list:
    classes = figures.get("classes")
    if not classes:
        return []
    rows = list(zip(classes["names"], classes["before"], classes["after"], strict=True))
    return [
        _section("Counts per class", "classes"),
        '<div class="plots"><div>',
        _table(rows, ("class", "inputs", "kept")),
        '</div><div id="class-plot" class="plot"></div></div>',
    ]


def _coverage_section(figures: dict, thumbnails: dict | None) -> list:
    if "coverage" not in figures:  # a report written before coverage was added
        return []
    cov = figures["coverage"]
    parts = [_section("Coverage", "coverage")]
    if not cov:
        parts.append('<p class="note">Too few embedded rows to compute coverage.</p>')
        return parts
    ids = figures["ids"]
    parts.append(
        '<p class="note">DataEval\'s coverage, for information only: it removes nothing. '
        "Each embedded row's critical radius is the distance to its k-th nearest "
        f"neighbour (k = {cov['n_neighbors']}) in the {html.escape(cov['scaling'])}; a "
        "row whose radius is above the coverage radius (the vertical line) sits in a "
        "sparsely populated region and is under-covered. Method "
        f"{html.escape(cov['method'])}: the coverage radius is "
        f"{_fmt(cov['coverage_radius'])}"
        + (
            f", set so that the top fraction {_fmt(cov['fraction'])} of the radii lie above it"
            if cov["method"] == "adaptive"
            else " (the closed form for points spread uniformly in the unit cube)"
        )
        + f"; {cov['n_uncovered']} of the {cov['n_samples']} rows are under-covered. "
        "Every number is in report.json under figures.coverage.</p>"
    )
    parts.append('<div id="coverage-plot" class="plot" style="width:60em"></div>')
    positions = cov["least_covered_positions"]
    if not positions:
        return parts
    if len(positions) < cov["n_uncovered"]:
        what = f"the first {len(positions)} of the {cov['n_uncovered']} under-covered rows"
    else:
        what = f"all {cov['n_uncovered']} under-covered rows"
    parts.append(f"<h3>Least-covered inputs: {what}, most isolated first</h3>")
    if not figures.get("images"):
        parts.append('<p class="note">No images: the inputs are feature vectors.</p>')
    parts.append('<div class="grid">')
    for pos, radius in zip(positions, cov["least_covered_radii"], strict=True):
        parts.append(
            f'<div class="pair">{_img(thumbnails, pos)}'
            f"<div>{html.escape(ids[pos])}</div><div>radius {_fmt(radius)}</div></div>"
        )
    parts.append("</div>")
    return parts


#: Colours of the Data Parameters categories (the seed tool's borders).
_DP_COLORS = {"easy": "green", "hard": "red", "need_review": "orange"}
_DP_TITLES = {"easy": "easy", "hard": "hard", "need_review": "need review"}
#: Most classes given an image strip on the page (all are in report.json).
MAX_DP_CLASSES_SHOWN = 100
# Inlined in the section (not in _CSS), so pages without the section are unchanged.
_DP_CSS = """
.dp-strip { display: flex; flex-wrap: wrap; align-items: center; gap: 0.3em;
            margin: 0.2em 0; }
.dp-strip .dp-label { width: 8em; font-size: 0.85em; }
.dp-strip img { width: 3em; height: 3em; image-rendering: pixelated; background: #eee;
                border: 3px solid; }
.dp-strip span.dp-id { border: 3px solid; padding: 0 0.3em; font-size: 0.8em; }
.dp-easy { border-color: green !important; } .dp-hard { border-color: red !important; }
.dp-need_review { border-color: orange !important; }
#dp-hover-panel { width: 10em; border: 1px solid #ddd; padding: 0.5em; min-height: 12em; }
#dp-hover-img { width: 8em; height: 8em; image-rendering: pixelated; background: #eee;
                display: block; }
"""


def _dp_section(figures: dict, thumbnails: dict | None) -> list:
    """The "Mislabelled samples (data parameters)" section, when the step ran."""
    dp = figures.get("data_parameters")
    if dp is None:
        return []
    ids = figures["ids"]
    positions = dp.get("positions") or list(range(dp["n_samples"]))
    sigma = dp["sigma_chosen"]
    counts = dp["counts"]
    parts = [_section("Mislabelled samples (data parameters)", "data-parameters")]
    parts.append(f"<style>{_DP_CSS}</style>")
    parts.append(
        '<p class="note">DataParameterScorer learnt a temperature sigma per row for '
        f"{dp['n_epochs']} epochs on the {dp['n_samples']} rows left after the other steps, "
        "with their class labels (sigma starts at 1; the network cannot fit a mislabelled "
        "row, so its sigma rises). The rows are ranked by sigma after epoch "
        f"{dp['best_epoch']} (scoring {html.escape(dp['scoring'])}); the {dp['n_removed']} "
        "with the largest sigma are in removed_mislabelled.txt. Categories: "
        '<span style="color:green">easy</span> (log sigma at that epoch and its mean over '
        'the epochs both at most 0), <span style="color:red">hard</span> (both above 0: '
        'likely mislabelled or an outlier), <span style="color:orange">need review</span> '
        "(the two disagree). Every number is in report.json under "
        "figures.data_parameters.</p>"
    )
    parts.append(
        _table(
            [(_DP_TITLES[c], counts[c]) for c in dp["categories"]] + [("removed", dp["n_removed"])],
            ("category", "rows"),
        )
    )
    emb = dp["embedding"]
    note = (
        "Left: sigma after each epoch, per category: the median (thick line), the band "
        f"between the percentiles {dp['band_percentiles'][0]} and "
        f"{dp['band_percentiles'][1]} and a few rows (thin lines); the dashed line marks "
        f"the chosen epoch. Right: {html.escape(emb['method'])}, one point per row"
    )
    if emb["subsampled"]:
        note += f" ({emb['n_points']} of the {dp['n_samples']} rows)"
    note += "; hover or click a point to see its image."
    parts.append(f'<p class="note">{note}</p>')
    parts.append(
        '<div class="plots"><div id="dp-trajectories" class="plot"></div>'
        '<div id="dp-embedding" class="plot"></div>'
        '<div id="dp-hover-panel"><img id="dp-hover-img" alt="">'
        '<div id="dp-hover-id">hover a point</div></div></div>'
    )
    classes = dp["classes"]
    names = classes["names"]
    shown = names[:MAX_DP_CLASSES_SHOWN]
    parts.append("<h3>Per class: easy, hard and need-review rows</h3>")
    parts.append(
        '<p class="note">Border colour = category. Easy: the lowest sigma first; hard: the '
        "highest sigma first; need review: the largest gap between log sigma at the chosen "
        "epoch and its mean first. Hover an image for its id and sigma."
        + (f" Showing {len(shown)} of the {len(names)} classes." if len(shown) < len(names) else "")
        + "</p>"
    )
    for name in shown:
        strip = classes["strips"][name]
        c = strip["counts"]
        parts.append(
            f"<h4>class {html.escape(name)}: {c['easy']} easy, {c['hard']} hard, "
            f"{c['need_review']} need review</h4>"
        )
        for cat in dp["categories"]:
            items = []
            for row in strip[cat]:
                pos = positions[row]
                title = html.escape(f"{ids[pos]} ({_DP_TITLES[cat]}, sigma {_fmt(sigma[row])})")
                b64 = thumbnails.get(str(pos)) if thumbnails else None
                if b64 is None:
                    items.append(
                        f'<span class="dp-id dp-{cat}" title="{title}">{html.escape(ids[pos])}</span>'
                    )
                else:
                    items.append(
                        f'<img class="dp-{cat}" alt="{html.escape(ids[pos])}" title="{title}" '
                        f'src="data:image/png;base64,{b64}">'
                    )
            label = (
                f'<span class="dp-label" style="color:{_DP_COLORS[cat]}">{_DP_TITLES[cat]}</span>'
            )
            parts.append(
                f'<div class="dp-strip">{label}{"".join(items) or "<span>none</span>"}</div>'
            )
    return parts


_DP_JS = r"""
  const DP = F.data_parameters;
  if (DP && document.getElementById('dp-trajectories')) {
    const dpColors = {easy: '#2ca02c', hard: '#d62728', need_review: '#ff7f0e'};
    const dpFill = {easy: 'rgba(44,160,44,0.2)', hard: 'rgba(214,39,40,0.2)',
                    need_review: 'rgba(255,127,14,0.2)'};
    const lines = [];
    for (const c of DP.categories) {
      const t = DP.trajectories[c];
      if (!t.median.length) continue;
      for (const curve of t.curves) {
        lines.push({type: 'scatter', mode: 'lines', x: DP.epochs, y: curve, opacity: 0.35,
          line: {color: dpColors[c], width: 0.7}, showlegend: false, hoverinfo: 'skip',
          legendgroup: c});
      }
      lines.push({type: 'scatter', mode: 'lines', x: DP.epochs, y: t.q10, line: {width: 0},
        showlegend: false, hoverinfo: 'skip', legendgroup: c});
      lines.push({type: 'scatter', mode: 'lines', x: DP.epochs, y: t.q90, line: {width: 0},
        fill: 'tonexty', fillcolor: dpFill[c], showlegend: false, hoverinfo: 'skip',
        legendgroup: c});
      lines.push({type: 'scatter', mode: 'lines', x: DP.epochs, y: t.median, legendgroup: c,
        name: c.replace('_', ' ') + ' (' + DP.counts[c] + ')',
        line: {color: dpColors[c], width: 3}});
    }
    const b = DP.best_epoch;
    done.push(Plotly.newPlot('dp-trajectories', lines,
      {margin: {l: 50, r: 10, t: 60, b: 40}, title: {text: 'sigma per epoch'},
       legend: {orientation: 'h', y: 1.0, yanchor: 'bottom', x: 0, xanchor: 'left'},
       xaxis: {title: {text: 'epoch'}},
       yaxis: {title: {text: 'sigma (instance temperature)'}, type: 'log'},
       shapes: [{type: 'line', x0: b, x1: b, yref: 'paper', y0: 0, y1: 1,
                 line: {color: '#555', width: 1, dash: 'dash'}}]},
      config));
    const pts = [];
    for (const c of DP.categories) {
      const t = DP.embedding.traces[c];
      if (!t.rows.length) continue;
      pts.push({type: 'scattergl', mode: 'markers', name: c.replace('_', ' ') + ' (' +
        t.rows.length + ')', x: t.x, y: t.y, customdata: t.rows, hoverinfo: 'name',
        marker: {size: 4, color: dpColors[c], opacity: 0.8}});
    }
    const dpImg = document.getElementById('dp-hover-img');
    const dpId = document.getElementById('dp-hover-id');
    function dpShow(ev) {
      if (!ev || !ev.points || !ev.points.length) return;
      const pt = ev.points[0];
      let row = pt.customdata;
      if (row === undefined && pt.data) row = pt.data.customdata[pt.pointNumber];
      if (row === undefined) return;
      const pos = DP.positions ? DP.positions[row] : row;
      dpId.textContent = F.ids[pos] + ' (' + pt.data.name.split(' (')[0] + ', sigma ' +
        DP.sigma_chosen[row] + ')';
      const b64 = T[String(pos)];
      if (b64) { dpImg.src = 'data:image/png;base64,' + b64; dpImg.alt = F.ids[pos]; }
      else { dpImg.removeAttribute('src'); dpImg.alt = 'no image'; }
    }
    const ge = document.getElementById('dp-embedding');
    done.push(Plotly.newPlot(ge, pts,
      {margin: {l: 40, r: 10, t: 60, b: 40}, title: {text: 'map of the trajectories'},
       legend: {orientation: 'h', y: 1.0, yanchor: 'bottom', x: 0, xanchor: 'left'},
       hovermode: 'closest'}, config));
    ge.on('plotly_hover', dpShow); ge.on('plotly_click', dpShow);
  }
"""


def _json_script(element_id: str, payload) -> str:
    text = json.dumps(payload, separators=(",", ":")).replace("</", "<\\/")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


_JS = r"""
(function () {
  const t0 = performance.now();
  const R = JSON.parse(document.getElementById('report-data').textContent);
  const T = JSON.parse(document.getElementById('thumbs').textContent);
  const F = R.figures;
  const colors = {kept: '#1f77b4', outlier: '#d62728', similar: '#ff7f0e'};
  const config = {responsive: true, displaylogo: false};
  function traces(kind) {
    const out = [];
    for (const [dec, t] of Object.entries(F.embedding.traces)) {
      if (!t.positions.length) continue;
      const tr = {type: kind, mode: 'markers', name: dec + ' (' + t.positions.length + ')',
        x: t.x, y: t.y, customdata: t.positions, hoverinfo: 'name',
        marker: {size: kind === 'scatter3d' ? 2 : 4, color: colors[dec], opacity: 0.8}};
      if (kind === 'scatter3d') tr.z = t.z;
      out.push(tr);
    }
    return out;
  }
  const panelImg = document.getElementById('hover-img');
  const panelId = document.getElementById('hover-id');
  function show(ev) {
    if (!ev || !ev.points || !ev.points.length) return;
    const pt = ev.points[0];
    const gd = ev.points[0].fullData ? null : null;
    let pos = pt.customdata;
    if (pos === undefined && pt.data) pos = pt.data.customdata[pt.pointNumber];
    if (pos === undefined) return;
    panelId.textContent = F.ids[pos] + ' (' + R.decisions_by_position[pos] + ')';
    const b64 = T[String(pos)];
    if (b64) { panelImg.src = 'data:image/png;base64,' + b64; panelImg.alt = F.ids[pos]; }
    else { panelImg.removeAttribute('src'); panelImg.alt = 'no image'; }
  }
  const layout2 = {margin: {l: 40, r: 10, t: 30, b: 40}, title: {text: 'two components'},
    legend: {orientation: 'h'}, hovermode: 'closest'};
  const layout3 = {margin: {l: 0, r: 0, t: 30, b: 0}, title: {text: 'three components'},
    legend: {orientation: 'h'}, scene: {aspectmode: 'cube'}};
  const done = [];
  const g2 = document.getElementById('scatter2d');
  const g3 = document.getElementById('scatter3d');
  done.push(Plotly.newPlot(g2, traces('scattergl'), layout2, config).then(function () {
    window.__firstPlotMs = performance.now();
  }));
  done.push(Plotly.newPlot(g3, traces('scatter3d'), layout3, config));
  for (const g of [g2, g3]) { g.on('plotly_hover', show); g.on('plotly_click', show); }
  const nn = F.nn_distance;
  if (nn && nn.bin_edges) {
    const mid = nn.bin_edges.slice(0, -1).map((e, i) => (e + nn.bin_edges[i + 1]) / 2);
    const w = nn.bin_edges[1] - nn.bin_edges[0];
    done.push(Plotly.newPlot('nn-plot', [
      {type: 'bar', x: mid, y: nn.before, width: w, name: 'before (all embedded)',
       opacity: 0.6, marker: {color: '#7f7f7f'}},
      {type: 'bar', x: mid, y: nn.after, width: w, name: 'after (kept)', opacity: 0.6,
       marker: {color: '#1f77b4'}}],
      {barmode: 'overlay', margin: {l: 50, r: 10, t: 10, b: 40},
       xaxis: {title: {text: 'distance to nearest neighbour'}}, yaxis: {title: {text: 'rows'}}},
      config));
  }
  const cov = F.coverage;
  if (cov && document.getElementById('coverage-plot')) {
    const e = cov.bin_edges;
    const mid = e.slice(0, -1).map((v, i) => (v + e[i + 1]) / 2);
    const r = cov.coverage_radius;
    done.push(Plotly.newPlot('coverage-plot', [
      {type: 'bar', x: mid, y: cov.counts, width: e[1] - e[0], name: 'rows',
       marker: {color: '#7f7f7f'}}],
      {margin: {l: 50, r: 10, t: 10, b: 40}, showlegend: false,
       xaxis: {title: {text: 'critical radius (distance to k-th nearest neighbour)'}},
       yaxis: {title: {text: 'rows'}},
       shapes: [{type: 'line', x0: r, x1: r, yref: 'paper', y0: 0, y1: 1,
                 line: {color: '#d62728', width: 2, dash: 'dash'}}],
       annotations: [{x: r, yref: 'paper', y: 1, text: 'coverage radius', showarrow: false,
                      xanchor: 'left', font: {color: '#d62728'}}]},
      config));
  }
  if (F.classes) {
    done.push(Plotly.newPlot('class-plot', [
      {type: 'bar', x: F.classes.names, y: F.classes.before, name: 'inputs', marker: {color: '#7f7f7f'}},
      {type: 'bar', x: F.classes.names, y: F.classes.after, name: 'kept', marker: {color: '#1f77b4'}}],
      {barmode: 'group', margin: {l: 50, r: 10, t: 10, b: 40}, xaxis: {type: 'category'}},
      config));
  }
  Promise.all(done).then(function () {
    window.__plotsMs = performance.now();
    document.body.setAttribute('data-rendered', '1');
  });
})();
"""


def render_html(report: dict, thumbnails: dict | None = None) -> str:
    """Render a run report as one self-contained HTML page.

    Parameters
    ----------
    report : dict
        The run report (the content of ``report.json``). Keys used when present:
        ``counts``, ``shares_percent``, ``counting_rule``, ``input``,
        ``default_data``, ``steps``, ``total_seconds``, ``parameters``, ``files``,
        ``versions``, ``created`` and ``figures`` (see :func:`build_figures`; with
        ``figures["data_parameters"]`` the page gains the section "Mislabelled samples
        (data parameters)").
    thumbnails : dict of str to str, optional
        Input position -> base64 PNG (see :func:`make_thumbnails`).

    Returns
    -------
    str
        The page; it references no external file and fetches nothing.
    """
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>sklearn-curate report</title>",
        f"<style>{_CSS}</style>",
    ]
    figures = report.get("figures")
    if figures:
        import plotly.offline

        parts.append(f'<script type="text/javascript">{plotly.offline.get_plotlyjs()}</script>')
    parts.append("</head><body>")
    parts.append("<h1>sklearn-curate report</h1>")
    if report.get("created"):
        parts.append(f'<p class="note">Run finished {html.escape(str(report["created"]))}.</p>')
    parts.extend(_summary(report))
    if figures:
        emb = figures["embedding"]
        parts.append(_section("Embedding", "embedding"))
        missing = emb.get("not_embedded", {})
        note = (
            f"Coordinates: {html.escape(emb['projection'])}. Colour = decision. Hover or "
            "click a point to see its image."
        )
        if any(missing.values()):
            note += (
                f" Not shown (no embedding): {missing.get('corrupt', 0)} corrupt and "
                f"{missing.get('exact_duplicate', 0)} exact duplicate inputs."
            )
        if not figures.get("images"):
            note += " No thumbnails: the inputs are feature vectors, not images."
        parts.append(f'<p class="note">{note}</p>')
        parts.append(
            '<div class="plots"><div id="scatter2d" class="plot"></div>'
            '<div id="scatter3d" class="plot"></div>'
            '<div id="hover-panel"><img id="hover-img" alt="">'
            '<div id="hover-id">hover a point</div></div></div>'
        )
        nn = figures.get("nn_distance") or {}
        parts.append(_section("Nearest-neighbour distances before and after", "nn"))
        if nn.get("bin_edges"):
            parts.append(
                f'<p class="note">Median distance to the nearest other row: '
                f"{_fmt(nn['median_before'])} over the {nn['n_before']} embedded rows, "
                f"{_fmt(nn['median_after'])} over the {nn['n_after']} kept rows.</p>"
            )
            parts.append('<div id="nn-plot" class="plot" style="width:60em"></div>')
        else:
            parts.append('<p class="note">Too few rows for a histogram.</p>')
        parts.extend(_pairs_section(figures, thumbnails))
        parts.extend(_dp_section(figures, thumbnails))
        parts.extend(_coverage_section(figures, thumbnails))
        parts.extend(_classes_section(figures))
    for title, key in (("Parameters", "parameters"), ("Files", "files"), ("Versions", "versions")):
        if report.get(key):
            parts.append(_section(title, key))
            parts.append(_table(report[key].items(), ("name", "value")))
    if figures:
        data = dict(report)
        dec = {}
        for d, t in figures["embedding"]["traces"].items():
            for p in t["positions"]:
                dec[p] = d
        data["decisions_by_position"] = {str(k): v for k, v in dec.items()}
        parts.append(_json_script("report-data", data))
        parts.append(_json_script("thumbs", thumbnails or {}))
        js = _JS
        if "data_parameters" in figures:  # pages without the section stay as they were
            js = js.replace("  Promise.all(done)", _DP_JS + "  Promise.all(done)", 1)
            js = js.replace(
                "similar: '#ff7f0e'};", "similar: '#ff7f0e', mislabelled: '#9467bd'};", 1
            )
        parts.append(f"<script>{js}</script>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def curation_report(
    X,
    *,
    outlier_filter=None,
    similarity_filter=None,
    images=None,
    labels=None,
    ids=None,
    device: str = "auto",
) -> tuple[dict, dict]:
    """Build a report from fitted curators, for :func:`write_report`.

    Parameters
    ----------
    X : array-like of shape (n_samples, k)
        The (reduced) rows the curators were fitted on.
    outlier_filter : OutlierFilter, optional
        Fitted on ``X``.
    similarity_filter : SimilarityFilter, optional
        Fitted on the rows of ``X`` that ``outlier_filter`` kept (on ``X`` when
        there is no outlier filter).
    images : ndarray of shape (n_samples, C, H, W), optional
        Images in [0, 1], for thumbnails.
    labels : array-like of shape (n_samples,), optional
        Classes, for the per-class counts.
    ids : list of str, optional
        Ids of the rows; their positions by default.
    device : str, default="auto"
        Device of the neighbour searches.

    Returns
    -------
    report : dict
        ``counts``, ``shares_percent`` and ``figures``.
    thumbnails : dict of str to str
        Position -> base64 PNG; empty without ``images``.
    """
    from ..cli._outputs import Decisions

    X = np.asarray(X, dtype=np.float32)
    n = len(X)
    valid = np.ones(n, dtype=bool)
    o_support = (
        np.ones(n, dtype=bool) if outlier_filter is None else np.asarray(outlier_filter.support_)
    )
    m = int(o_support.sum())
    if similarity_filter is None:
        s_support, dup = np.ones(m, dtype=bool), np.full(m, -1)
    else:
        s_support = np.asarray(similarity_filter.support_)
        dup = np.asarray(similarity_filter.duplicate_of_)
    dec = Decisions.from_filters(valid, np.zeros(n), o_support, np.zeros(m), s_support, dup)
    counts = {"inputs": n, **dec.counts()}
    figures = build_figures(
        X,
        dec.decision,
        ids=ids,
        duplicate_of=dec.duplicate_of,
        labels=None if labels is None else [str(v) for v in labels],
        has_images=images is not None,
        device=device,
    )
    report = {"counts": counts, "shares_percent": shares_percent(counts), "figures": figures}
    thumbs = make_thumbnails(images, range(n)) if images is not None else {}
    return report, thumbs


def shares_percent(counts: dict) -> dict:
    """Each decision's share of the inputs, in percent (one decimal).

    Parameters
    ----------
    counts : dict of str to int
        ``inputs`` and one count per decision.

    Returns
    -------
    dict of str to float
    """
    total = counts.get("inputs") or 0
    return {k: round(100.0 * v / total, 1) if total else 0.0 for k, v in counts.items()}


def write_report(report: dict, folder, *, thumbnails: dict | None = None) -> None:
    """Write ``report.json`` and ``report.html`` into ``folder``.

    Parameters
    ----------
    report : dict
        JSON-serialisable run report.
    folder : str or path-like
        An existing folder.
    thumbnails : dict of str to str, optional
        Input position -> base64 PNG, shown in the page only.
    """
    folder = Path(folder)
    (folder / "report.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    (folder / "report.html").write_text(render_html(report, thumbnails), encoding="utf-8")
