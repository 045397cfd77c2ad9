"""The plots of ``report.html`` as plotly figures, built from the numbers of ``report.json``.

Each function takes one part of ``report["figures"]`` (see
:func:`sklearn_curate.report._figures.build_figures` and
:func:`sklearn_curate.report._dp_figures.data_parameter_figures`) and returns a
:class:`plotly.graph_objects.Figure`; :func:`page_plots` gathers those the page shows.

The point clouds (the embedding in 2D and 3D, the map of the Data Parameters
trajectories) are returned without their points: tens of thousands of coordinates are
in the page's copy of ``report.json`` already, so the page's script
(``templates/report.js``) attaches them to the traces, each trace naming in ``meta`` the
report trace it draws (``x``, ``y``, ``z`` and, as ``customdata``, the input positions
or scorer rows). Every other figure carries its (small) data.

Toolbar: plotly draws its toolbar (the modebar) over the top right corner of a plot,
on hover. Every layout here keeps a band of :data:`TOOLBAR_BAND` pixels above the plot
area (:data:`TWO_ROW_BAND` with both a title and a legend there) and puts titles and
legends at its left, so the toolbar covers neither them nor the data.
"""

from __future__ import annotations

import plotly.graph_objects as go

#: Colour of each decision in the embedding views.
DECISION_COLORS = {
    "kept": "#1f77b4",
    "outlier": "#d62728",
    "similar": "#ff7f0e",
    "mislabelled": "#9467bd",
    "kept_not_selected": "#1f77b4",  # with --select: the kept rows not picked, as kept
    "selected": "#2ca02c",
}
#: Decisions drawn with a marker of their own in the embedding views (the selected rows
#: of ``--select``: larger diamonds with a dark edge, over the kept rows around them).
MARKED = {"selected": {"symbol": "diamond", "line": {"color": "#111111", "width": 1}}}
#: Colour of each Data Parameters category (lines and points), and of its 10-90% band.
CATEGORY_COLORS = {"easy": "#2ca02c", "hard": "#d62728", "need_review": "#ff7f0e"}
CATEGORY_FILLS = {
    "easy": "rgba(44,160,44,0.2)",
    "hard": "rgba(214,39,40,0.2)",
    "need_review": "rgba(255,127,14,0.2)",
}
GREY = "#7f7f7f"
#: Height in pixels of the band above the plot area that holds the toolbar (buttons of
#: about 22 px, 2 px from the top) and, at its left, the title or the legend.
TOOLBAR_BAND = 40
#: The band of a figure with both a title and a legend: the toolbar row, the title under
#: it, then the legend.
TWO_ROW_BAND = 90


def _layout(*, title=None, legend_on_top=False, **kw) -> go.Layout:
    """Build a layout with plotly.js's plain look and the toolbar band above the plot area.

    Parameters
    ----------
    title : str, optional
        Written at the left of the band: in the toolbar row, or under it when
        ``legend_on_top`` too.
    legend_on_top : bool, default=False
        Put the legend in one row at the left of the band, just above the plot area;
        otherwise plotly places it.
    **kw
        Further layout properties; ``margin`` is completed with the band's height as
        ``t``.

    Returns
    -------
    plotly.graph_objects.Layout
    """
    two_rows = title is not None and legend_on_top
    kw["margin"] = {**kw.get("margin", {}), "t": TWO_ROW_BAND if two_rows else TOOLBAR_BAND}
    if title is not None:
        kw["title"] = {
            "text": title,
            "x": 0,
            "xref": "paper",
            "xanchor": "left",
            "y": 1,
            "yref": "container",
            "yanchor": "top",
            "pad": {"t": 36 if two_rows else 8, "l": 8},
        }
    if legend_on_top:
        kw["legend"] = {"orientation": "h", "x": 0, "xanchor": "left", "y": 1, "yanchor": "bottom"}
    # "none": plotly.js's own defaults, the look of the page before its figures came from Python
    return go.Layout(template="none", **kw)


def embedding_figure(embedding: dict, *, three_d: bool) -> go.Figure:
    """Plot the embedding, one trace per decision, without its points.

    Parameters
    ----------
    embedding : dict
        ``report["figures"]["embedding"]``: ``traces`` maps a decision to its
        ``positions``, ``x``, ``y`` and ``z`` (lists of equal length).
    three_d : bool
        A 3D view (``scatter3d``) of ``x``, ``y``, ``z``; otherwise a 2D view
        (``scattergl``, WebGL) of ``x``, ``y``.

    Returns
    -------
    plotly.graph_objects.Figure
        One trace per decision with at least one point, in the order of
        ``embedding["traces"]``, named ``"<decision> (<count>)"``; ``meta`` is the
        decision, and the page attaches ``x``, ``y`` (``z``) and, as ``customdata``,
        the input positions. Decisions in :data:`MARKED` (``selected``) get larger
        points of their own shape.

    Raises
    ------
    KeyError
        If a trace's decision has no colour in :data:`DECISION_COLORS`.
    """
    traces = []
    for decision, t in embedding["traces"].items():
        if not t["positions"]:
            continue
        style = {
            "mode": "markers",
            "name": f"{decision} ({len(t['positions'])})",
            "meta": decision,
            "hoverinfo": "name",
            "marker": {
                "size": 2 if three_d else 4,
                "color": DECISION_COLORS[decision],
                "opacity": 0.8,
            },
        }
        if decision in MARKED:
            style["marker"].update(MARKED[decision], size=4 if three_d else 8, opacity=1.0)
        traces.append(go.Scatter3d(**style) if three_d else go.Scattergl(**style))
    if three_d:
        layout = _layout(
            title="three components",
            margin={"l": 0, "r": 0, "b": 0},
            legend={"orientation": "h"},
            scene={"aspectmode": "cube"},
        )
    else:
        layout = _layout(
            title="two components",
            margin={"l": 40, "r": 10, "b": 40},
            legend={"orientation": "h"},
            hovermode="closest",
        )
    return go.Figure(traces, layout)


def _mids(edges: list) -> list:
    return [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)]


def nn_distance_figure(nn: dict) -> go.Figure:
    """Histograms of the nearest-neighbour distance before and after curation, overlaid.

    Parameters
    ----------
    nn : dict
        ``report["figures"]["nn_distance"]``: ``bin_edges`` (``n_bins + 1`` floats,
        equal widths), ``before`` and ``after`` (``n_bins`` counts each).

    Returns
    -------
    plotly.graph_objects.Figure
        Two bar traces at the bin centres, legend above the plot.
    """
    edges = nn["bin_edges"]
    mid, width = _mids(edges), edges[1] - edges[0]
    bars = [
        go.Bar(
            x=mid,
            y=nn["before"],
            width=width,
            name="before (all embedded)",
            opacity=0.6,
            marker={"color": GREY},
        ),
        go.Bar(
            x=mid,
            y=nn["after"],
            width=width,
            name="after (kept)",
            opacity=0.6,
            marker={"color": DECISION_COLORS["kept"]},
        ),
    ]
    layout = _layout(
        legend_on_top=True,
        barmode="overlay",
        margin={"l": 50, "r": 10, "b": 40},
        xaxis={"title": {"text": "distance to nearest neighbour"}},
        yaxis={"title": {"text": "rows"}},
    )
    return go.Figure(bars, layout)


def coverage_figure(cov: dict) -> go.Figure:
    """Histogram of the critical radii with the coverage radius as a dashed line.

    Parameters
    ----------
    cov : dict
        ``report["figures"]["coverage"]`` (not None): ``bin_edges`` (``n_bins + 1``
        floats, equal widths), ``counts`` (``n_bins`` ints) and ``coverage_radius``.

    Returns
    -------
    plotly.graph_objects.Figure
        One bar trace; the line and its label "coverage radius" as a shape and an
        annotation inside the plot area.
    """
    edges, r = cov["bin_edges"], cov["coverage_radius"]
    bar = go.Bar(
        x=_mids(edges),
        y=cov["counts"],
        width=edges[1] - edges[0],
        name="rows",
        marker={"color": GREY},
    )
    red = "#d62728"
    layout = _layout(
        showlegend=False,
        margin={"l": 50, "r": 10, "b": 40},
        xaxis={"title": {"text": "critical radius (distance to k-th nearest neighbour)"}},
        yaxis={"title": {"text": "rows"}},
        shapes=[
            {
                "type": "line",
                "x0": r,
                "x1": r,
                "yref": "paper",
                "y0": 0,
                "y1": 1,
                "line": {"color": red, "width": 2, "dash": "dash"},
            }
        ],
        annotations=[
            {
                "x": r,
                "yref": "paper",
                "y": 1,
                "yanchor": "top",
                "text": "coverage radius",
                "showarrow": False,
                "xanchor": "left",
                "font": {"color": red},
            }
        ],
    )
    return go.Figure([bar], layout)


def classes_figure(classes: dict) -> go.Figure:
    """Plot the inputs and kept inputs per class, as grouped bars.

    Parameters
    ----------
    classes : dict
        ``report["figures"]["classes"]`` (not None): ``names`` (list of str),
        ``before`` and ``after`` (one count per name).

    Returns
    -------
    plotly.graph_objects.Figure
        Two bar traces on a categorical x axis, legend above the plot.
    """
    bars = [
        go.Bar(x=classes["names"], y=classes["before"], name="inputs", marker={"color": GREY}),
        go.Bar(
            x=classes["names"],
            y=classes["after"],
            name="kept",
            marker={"color": DECISION_COLORS["kept"]},
        ),
    ]
    layout = _layout(
        legend_on_top=True,
        barmode="group",
        margin={"l": 50, "r": 10, "b": 40},
        xaxis={"type": "category"},
    )
    return go.Figure(bars, layout)


def _category_name(category: str, count: int) -> str:
    return f"{category.replace('_', ' ')} ({count})"


def dp_trajectories_figure(dp: dict) -> go.Figure:
    """Sigma per epoch for each Data Parameters category.

    Parameters
    ----------
    dp : dict
        ``report["figures"]["data_parameters"]``: ``categories``, ``counts``,
        ``epochs``, ``best_epoch`` and ``trajectories`` (per category ``median``,
        ``q10``, ``q90`` and ``curves``, each of length ``n_epochs``; empty for an
        empty category).

    Returns
    -------
    plotly.graph_objects.Figure
        Per non-empty category: its sample curves (thin), the 10-90% band and the
        median (thick, the one legend entry, named ``"<category> (<count>)"``), all
        in one legend group; a log y axis and a dashed line at ``best_epoch``.
    """
    epochs = dp["epochs"]
    lines = []
    for c in dp["categories"]:
        t = dp["trajectories"][c]
        if not t["median"]:
            continue
        hidden = {"showlegend": False, "hoverinfo": "skip", "legendgroup": c}
        for curve in t["curves"]:
            lines.append(
                go.Scatter(
                    mode="lines",
                    x=epochs,
                    y=curve,
                    opacity=0.35,
                    line={"color": CATEGORY_COLORS[c], "width": 0.7},
                    **hidden,
                )
            )
        lines.append(go.Scatter(mode="lines", x=epochs, y=t["q10"], line={"width": 0}, **hidden))
        lines.append(
            go.Scatter(
                mode="lines",
                x=epochs,
                y=t["q90"],
                line={"width": 0},
                fill="tonexty",
                fillcolor=CATEGORY_FILLS[c],
                **hidden,
            )
        )
        lines.append(
            go.Scatter(
                mode="lines",
                x=epochs,
                y=t["median"],
                legendgroup=c,
                name=_category_name(c, dp["counts"][c]),
                line={"color": CATEGORY_COLORS[c], "width": 3},
            )
        )
    b = dp["best_epoch"]
    layout = _layout(
        title="sigma per epoch",
        legend_on_top=True,
        margin={"l": 50, "r": 10, "b": 40},
        xaxis={"title": {"text": "epoch"}},
        yaxis={"title": {"text": "sigma (instance temperature)"}, "type": "log"},
        shapes=[
            {
                "type": "line",
                "x0": b,
                "x1": b,
                "yref": "paper",
                "y0": 0,
                "y1": 1,
                "line": {"color": "#555", "width": 1, "dash": "dash"},
            }
        ],
    )
    return go.Figure(lines, layout)


def dp_embedding_figure(dp: dict) -> go.Figure:
    """Plot the map of the Data Parameters trajectories, one trace per category, no points.

    Parameters
    ----------
    dp : dict
        ``report["figures"]["data_parameters"]``: ``categories`` and
        ``embedding["traces"]`` (per category ``rows``, ``x`` and ``y``).

    Returns
    -------
    plotly.graph_objects.Figure
        One ``scattergl`` trace per category with at least one point, named
        ``"<category> (<points>)"``; ``meta`` is the category, and the page attaches
        ``x``, ``y`` and, as ``customdata``, the scorer rows.
    """
    traces = []
    for c in dp["categories"]:
        rows = dp["embedding"]["traces"][c]["rows"]
        if not rows:
            continue
        traces.append(
            go.Scattergl(
                mode="markers",
                name=_category_name(c, len(rows)),
                meta=c,
                hoverinfo="name",
                marker={"size": 4, "color": CATEGORY_COLORS[c], "opacity": 0.8},
            )
        )
    layout = _layout(
        title="map of the trajectories",
        legend_on_top=True,
        margin={"l": 40, "r": 10, "b": 40},
        hovermode="closest",
    )
    return go.Figure(traces, layout)


def page_plots(figures: dict) -> dict:
    """Build the figures that ``report.html`` draws, as plotly JSON.

    Parameters
    ----------
    figures : dict
        ``report["figures"]`` (see :func:`~sklearn_curate.report._figures.build_figures`).

    Returns
    -------
    dict of str to dict
        Name -> ``Figure.to_plotly_json()`` (``data`` and ``layout``), JSON-serialisable.
        ``scatter2d`` and ``scatter3d`` always; ``nn`` when the histogram has bins;
        ``coverage`` when coverage was computed; ``classes`` with labels;
        ``dp_trajectories`` and ``dp_embedding`` with ``figures["data_parameters"]``.
        The page has one element per figure, and draws exactly these.
    """
    out = {
        "scatter2d": embedding_figure(figures["embedding"], three_d=False),
        "scatter3d": embedding_figure(figures["embedding"], three_d=True),
    }
    if (figures.get("nn_distance") or {}).get("bin_edges"):
        out["nn"] = nn_distance_figure(figures["nn_distance"])
    dp = figures.get("data_parameters")
    if dp is not None:
        out["dp_trajectories"] = dp_trajectories_figure(dp)
        out["dp_embedding"] = dp_embedding_figure(dp)
    if figures.get("coverage"):
        out["coverage"] = coverage_figure(figures["coverage"])
    if figures.get("classes"):
        out["classes"] = classes_figure(figures["classes"])
    return {name: fig.to_plotly_json() for name, fig in out.items()}
