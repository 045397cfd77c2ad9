"""The report: report.json holds every number that report.html shows; no browser needed."""

import html.parser
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from sklearn_curate import OutlierFilter, SimilarityFilter
from sklearn_curate.cli._curate import main
from sklearn_curate.report._html import curation_report, write_report

NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:e[-+]?\d+)?(?![\w])")


def json_numbers(obj) -> list[float]:
    """Every number in a JSON value, also those written inside its strings."""
    out = []
    if isinstance(obj, bool) or obj is None:
        return out
    if isinstance(obj, (int, float)):
        return [float(obj)]
    if isinstance(obj, str):
        return [float(m) for m in re.findall(r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?", obj)]
    items = obj.values() if isinstance(obj, dict) else obj
    if isinstance(obj, dict):
        out.extend(json_numbers(list(obj.keys())))
    for v in items:
        out.extend(json_numbers(v))
    return out


def visible_numbers_ok(text: str, numbers: list[float]) -> None:
    """Each number in ``text`` equals a number of the report (as the page rounds it)."""
    pool = np.unique(np.asarray(numbers, dtype=np.float64))
    missing = []
    for m in NUMBER.findall(text):
        x = float(m)
        j = np.searchsorted(pool, x)
        near = pool[max(j - 1, 0) : j + 1]
        if not any(math.isclose(x, y, rel_tol=1e-5, abs_tol=1e-9) for y in near):
            missing.append(m)
    assert not missing, f"numbers shown but not in report.json: {missing[:20]}"


class _Visible(html.parser.HTMLParser):
    """The text of a page outside <script> and <style>."""

    def __init__(self):
        super().__init__()
        self.skip = 0
        self.chunks = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.skip += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip:
            self.chunks.append(data)


def visible_text(page: str) -> str:
    parser = _Visible()
    parser.feed(page)
    return "\n".join(parser.chunks)


def embedded_report(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', page, re.S)
    return json.loads(m.group(1))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "out"
    assert main(["curate", "--out", str(out), "--epochs", "1", "--quiet"]) == 0
    return out


def test_every_visible_number_is_in_report_json(run):
    page = (run / "report.html").read_text()
    report = json.loads((run / "report.json").read_text())
    text = visible_text(page)
    assert len(NUMBER.findall(text)) > 50
    visible_numbers_ok(text, json_numbers(report))
    # the plots are drawn from the embedded copy of report.json
    embedded = embedded_report(page)
    embedded.pop("decisions_by_position")
    assert embedded == report


def test_page_is_self_contained(run):
    page = (run / "report.html").read_text()
    assert "Plotly" in page and "<script src" not in page
    markup = re.sub(r"<script.*?</script>", "", page, flags=re.S)  # plotly.js names URLs
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", markup)
    assert 'src="data:image/png;base64,' in page


def test_figures_in_report_json(run):
    report = json.loads((run / "report.json").read_text())
    fig = report["figures"]
    counts = report["counts"]
    traces = fig["embedding"]["traces"]
    for d in ("kept", "outlier", "similar"):
        assert len(traces[d]["positions"]) == counts[d] == len(traces[d]["z"])
    nn = fig["nn_distance"]
    assert sum(nn["before"]) == counts["inputs"] - counts["corrupt"]
    assert sum(nn["after"]) == counts["kept"]
    assert len(nn["bin_edges"]) == len(nn["before"]) + 1
    # thinning near-duplicates raises the typical distance to the nearest neighbour
    assert nn["median_after"] >= nn["median_before"]
    assert len(fig["pairs"]["outlier"]) == counts["outlier"]
    assert len(fig["pairs"]["similar"]) == counts["similar"]
    kept = set(traces["kept"]["positions"])
    for reason in ("outlier", "similar"):
        for p in fig["pairs"][reason]:
            assert p["nearest"] in kept and p["distance"] >= 0
    R = np.load(run / "embeddings_reduced.npy")
    emb_pos = sorted(q for d in traces.values() for q in d["positions"])
    row = {q: i for i, q in enumerate(emb_pos)}
    for p in fig["pairs"]["outlier"][:10]:
        d_all = np.linalg.norm(R[[row[q] for q in kept]] - R[row[p["position"]]], axis=1)
        assert p["distance"] == pytest.approx(d_all.min(), abs=1e-3)
    classes = fig["classes"]
    assert sum(classes["before"]) == counts["inputs"]
    assert sum(classes["after"]) == counts["kept"]
    assert "foreign" in classes["names"]


def test_coverage_in_report_json_and_page(run):
    from sklearn.preprocessing import MinMaxScaler

    from sklearn_curate.curation.coverage import CoverageScorer

    report = json.loads((run / "report.json").read_text())
    fig = report["figures"]
    cov = fig["coverage"]
    counts = report["counts"]
    n_embedded = counts["inputs"] - counts["corrupt"] - counts["exact_duplicate"]
    assert cov["n_samples"] == n_embedded == sum(cov["counts"])
    assert len(cov["bin_edges"]) == len(cov["counts"]) + 1
    assert cov["method"] == "adaptive" and cov["n_neighbors"] == 20
    assert cov["n_uncovered"] == int(max(n_embedded * 0.01, 1))
    assert cov["bin_edges"][0] <= cov["coverage_radius"] <= cov["bin_edges"][-1]
    shown = cov["least_covered_positions"]
    assert len(shown) == len(cov["least_covered_rows"]) == len(cov["least_covered_radii"])
    assert len(shown) == min(cov["n_uncovered"], cov["max_images"])
    radii = np.asarray(cov["least_covered_radii"])
    assert np.all(np.diff(radii) <= 0) and np.all(radii > cov["coverage_radius"])
    # the rows are those of embeddings_reduced.npy (input order of the embedded inputs)
    emb_pos = sorted(q for t in fig["embedding"]["traces"].values() for q in t["positions"])
    assert shown == [emb_pos[r] for r in cov["least_covered_rows"]]
    # recomputed from embeddings_reduced.npy: same cut-off and rows
    R = np.load(run / "embeddings_reduced.npy")
    X = MinMaxScaler(clip=True).fit_transform(R.astype(np.float64))
    c = CoverageScorer(n_neighbors=20, fraction=0.01, device="cpu").fit(X)
    assert cov["coverage_radius"] == pytest.approx(c.coverage_radius_, rel=1e-6)
    assert cov["least_covered_rows"] == c.uncovered_indices_[: cov["max_images"]].tolist()
    # it removes nothing: the counts are those of the filters
    assert counts["kept"] + counts["outlier"] + counts["similar"] == n_embedded
    page = (run / "report.html").read_text()
    assert '<h2 id="coverage">Coverage</h2>' in page and 'id="coverage-plot"' in page
    text = visible_text(page)
    assert "removes nothing" in text and "k-th nearest" in text
    section = text.split("Coverage", 1)[1]
    for p, r in zip(shown, radii, strict=True):
        assert fig["ids"][p] in section and f"radius {r:.6g}" in section


def test_coverage_skipped_with_too_few_rows(tmp_path):
    X = np.random.RandomState(0).rand(6, 3).astype(np.float32)
    report, _ = curation_report(X)
    assert report["figures"]["coverage"] is None
    write_report(report, tmp_path)
    page = (tmp_path / "report.html").read_text()
    assert "Too few embedded rows to compute coverage" in page
    assert 'id="coverage-plot"' not in page


def test_run_log_has_the_progress_lines(run):
    lines = (run / "run.log").read_text().splitlines()
    report = json.loads((run / "report.json").read_text())
    for step in report["steps"]:
        assert any(f"] {step['name']}: " in line for line in lines), step["name"]
    assert "wrote" in lines[-1]


def test_python_api_on_curators(tmp_path):
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = digits.data[:400].astype(np.float32)
    of = OutlierFilter(contamination=0.05).fit(X)
    sf = SimilarityFilter(fraction=0.05).fit(X[of.support_])
    images = (digits.images[:400, None] / 16.0).astype(np.float32)
    report, thumbs = curation_report(
        X, outlier_filter=of, similarity_filter=sf, images=images, labels=digits.target[:400]
    )
    assert report["counts"]["outlier"] == 20 and report["counts"]["similar"] == 19
    assert len(thumbs) == 400
    write_report(report, tmp_path, thumbnails=thumbs)
    page = (tmp_path / "report.html").read_text()
    visible_numbers_ok(visible_text(page), json_numbers(report))
    assert json.loads((tmp_path / "report.json").read_text()) == report
    cov = report["figures"]["coverage"]
    assert cov["n_samples"] == 400  # every embedded row, removed by a filter or not
    assert cov["n_neighbors"] == 20 and 'id="coverage-plot"' in page


def test_feature_vectors_have_no_thumbnails(tmp_path):
    rng = np.random.RandomState(0)
    np.save(tmp_path / "f.npy", rng.randn(150, 6).astype(np.float32))
    out = tmp_path / "out"
    assert main(["curate", "--array", str(tmp_path / "f.npy"), "--out", str(out), "--quiet"]) == 0
    page = (out / "report.html").read_text()
    assert "No thumbnails: the inputs are feature vectors" in page
    markup = re.sub(r"<script.*?</script>", "", page, flags=re.S)
    assert "data:image/png" not in markup
    assert json.loads((out / "report.json").read_text())["figures"]["images"] is False


def test_report_for_an_old_report_without_figures_still_renders(tmp_path):
    write_report({"counts": {"inputs": 3, "kept": 3}}, tmp_path)
    assert "Plotly" not in (tmp_path / "report.html").read_text()
    assert Path(tmp_path / "report.json").exists()


# ----------------------------------------------------------------------------------
# the Data Parameters section (--mislabelled)
# ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def dp_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("report_dp") / "out"
    args = ["curate", "--out", str(out), "--epochs", "1", "--quiet"]
    assert main([*args, "--mislabelled", "0.05", "--dp-epochs", "15"]) == 0
    return out


def test_data_parameters_figures_in_report_json(dp_run):
    report = json.loads((dp_run / "report.json").read_text())
    counts, fig = report["counts"], report["figures"]
    dp = fig["data_parameters"]
    traces = fig["embedding"]["traces"]
    assert len(traces["mislabelled"]["positions"]) == counts["mislabelled"] == dp["n_removed"]
    # the step saw the rows the two filters kept, in input order
    seen = sorted(traces["kept"]["positions"] + traces["mislabelled"]["positions"])
    assert dp["positions"] == seen and dp["n_samples"] == len(seen)
    assert sum(dp["counts"].values()) == dp["n_samples"] == dp["embedding"]["n_points"]
    assert dp["n_epochs"] == 15 == len(dp["epochs"]) == len(dp["trajectories"]["easy"]["median"])
    assert sum(fig["classes"]["after"]) == counts["kept"]
    # the removed rows are the largest chosen sigma
    sigma = np.asarray(dp["sigma_chosen"])
    removed = set(traces["mislabelled"]["positions"])
    is_removed = np.array([p in removed for p in dp["positions"]])
    assert sigma[is_removed].min() >= sigma[~is_removed].max() - 1e-4
    rows = {r["id"]: r for r in _scores(dp_run)}
    for row, pos in enumerate(dp["positions"][:50]):
        assert float(rows[fig["ids"][pos]]["mislabelled_score"]) == pytest.approx(
            -math.log(sigma[row]), abs=2e-3
        )


def _scores(out):
    import csv

    with open(out / "scores.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_data_parameters_section_in_the_page(dp_run):
    report = json.loads((dp_run / "report.json").read_text())
    page = (dp_run / "report.html").read_text()
    text = visible_text(page)
    visible_numbers_ok(text, json_numbers(report))
    embedded = embedded_report(page)
    embedded.pop("decisions_by_position")
    assert embedded == report
    assert '<h2 id="data-parameters">Mislabelled samples (data parameters)</h2>' in page
    for div in ("dp-trajectories", "dp-embedding", "dp-hover-img"):
        assert f'id="{div}"' in page
    assert "Plotly.newPlot('dp-trajectories'" in page and "'scattergl'" in page
    dp = report["figures"]["data_parameters"]
    ids = report["figures"]["ids"]
    for cat, colour in (("easy", "green"), ("hard", "red"), ("need_review", "orange")):
        assert f".dp-{cat} {{ border-color: {colour}" in page
        shown = [r for s in dp["classes"]["strips"].values() for r in s[cat]]
        imgs = re.findall(rf'<img class="dp-{cat}" alt="([^"]*)"', page)
        # one bordered thumbnail per listed row, in the listed order
        assert imgs == [ids[dp["positions"][r]] for r in shown]
    section = text.split("Mislabelled samples (data parameters)", 1)[1].split("Coverage", 1)[0]
    for name in dp["classes"]["names"]:
        c = dp["classes"]["strips"][name]["counts"]
        assert f"class {name}: {c['easy']} easy, {c['hard']} hard" in section


def test_pages_without_the_section_are_unchanged(run, dp_run):
    from sklearn_curate.report import _html as report_module

    page = (run / "report.html").read_text()
    assert f"<script>{report_module._JS}</script>" in page  # the script as before
    assert "data-parameters" not in page and "dp-strip" not in page
    # the same report with the section: only then the extra script and styles
    report = json.loads((dp_run / "report.json").read_text())
    with_dp = report_module.render_html(report)
    del report["figures"]["data_parameters"]
    without = report_module.render_html(report)
    assert "dp-strip" in with_dp and "dp-strip" not in without
    assert f"<script>{report_module._JS}</script>" in without


# ----------------------------------------------------------------------------------
# the page's plots: plotly figures built in Python, drawn by templates/report.js
# ----------------------------------------------------------------------------------
#: Figure name in the page's #plots JSON -> id of the element it is drawn into.
PLOT_ELEMENTS = {
    "scatter2d": "scatter2d",
    "scatter3d": "scatter3d",
    "nn": "nn-plot",
    "coverage": "coverage-plot",
    "classes": "class-plot",
    "dp_trajectories": "dp-trajectories",
    "dp_embedding": "dp-embedding",
}


def embedded_json(page: str, element_id: str):
    m = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', page, re.S)
    return json.loads(m.group(1))


def check_plots(page: str, report: dict) -> dict:
    """The figures of the page: valid plotly, one per plot element, clear of the toolbar."""
    import plotly.graph_objects as go

    from sklearn_curate.report._plots import TOOLBAR_BAND

    plots = embedded_json(page, "plots")
    elements = set(re.findall(r'<div id="([\w-]+)" class="plot"', page))
    assert {PLOT_ELEMENTS[name] for name in plots} == elements
    for name, fig in plots.items():
        go.Figure(fig)  # plotly validates every property
        layout = fig["layout"]
        assert layout["template"] == {"data": {"scatter": [{"type": "scatter"}]}}  # "none"
        # the toolbar sits at the top right, over a band above the plot area; titles and
        # legends placed in that band sit at its left
        assert layout["margin"]["t"] >= TOOLBAR_BAND, name
        if "title" in layout:
            assert (layout["title"]["x"], layout["title"]["xanchor"]) == (0, "left"), name
        legend = layout.get("legend", {})
        if legend.get("yanchor") == "bottom":
            assert (legend["x"], legend["xanchor"], legend["y"]) == (0, "left", 1), name
    # the point clouds carry their style only: the page attaches the coordinates of the
    # report trace named in meta, so they are embedded once
    traces = report["figures"]["embedding"]["traces"]
    shown = [d for d, t in traces.items() if t["positions"]]
    for name, kind in (("scatter2d", "scattergl"), ("scatter3d", "scatter3d")):
        data = plots[name]["data"]
        assert [t["meta"] for t in data] == shown
        assert [t["name"] for t in data] == [f"{d} ({len(traces[d]['positions'])})" for d in shown]
        assert all(t["type"] == kind and "x" not in t and "customdata" not in t for t in data)
    return plots


def test_plots_are_plotly_figures_of_the_report(run):
    page = (run / "report.html").read_text()
    report = json.loads((run / "report.json").read_text())
    plots = check_plots(page, report)
    assert set(plots) == {"scatter2d", "scatter3d", "nn", "coverage", "classes"}
    fig = report["figures"]
    nn, cov, classes = fig["nn_distance"], fig["coverage"], fig["classes"]
    edges = np.asarray(nn["bin_edges"])
    before, after = plots["nn"]["data"]
    assert before["y"] == nn["before"] and after["y"] == nn["after"]
    assert np.allclose(before["x"], (edges[:-1] + edges[1:]) / 2)
    assert before["width"] == pytest.approx(edges[1] - edges[0])
    bars = plots["coverage"]["data"][0]
    assert bars["y"] == cov["counts"]
    r = cov["coverage_radius"]
    line = plots["coverage"]["layout"]["shapes"][0]
    assert line["x0"] == line["x1"] == r
    # the label of the line hangs inside the plot area, under the toolbar band
    label = plots["coverage"]["layout"]["annotations"][0]
    assert label["text"] == "coverage radius" and label["yanchor"] == "top"
    inputs, kept = plots["classes"]["data"]
    assert inputs["x"] == kept["x"] == classes["names"]
    assert inputs["y"] == classes["before"] and kept["y"] == classes["after"]


def test_data_parameters_plots_are_plotly_figures_of_the_report(dp_run):
    page = (dp_run / "report.html").read_text()
    report = json.loads((dp_run / "report.json").read_text())
    plots = check_plots(page, report)
    assert {"dp_trajectories", "dp_embedding"} <= set(plots)
    dp = report["figures"]["data_parameters"]
    medians = [t for t in plots["dp_trajectories"]["data"] if t.get("showlegend") is not False]
    nonempty = [c for c in dp["categories"] if dp["trajectories"][c]["median"]]
    assert [t["legendgroup"] for t in medians] == nonempty
    for t in medians:
        assert t["y"] == dp["trajectories"][t["legendgroup"]]["median"]
        assert t["x"] == dp["epochs"]
    assert plots["dp_trajectories"]["layout"]["shapes"][0]["x0"] == dp["best_epoch"]
    points = plots["dp_embedding"]["data"]
    traces = dp["embedding"]["traces"]
    assert [t["meta"] for t in points] == [c for c in dp["categories"] if traces[c]["rows"]]
    assert all(t["type"] == "scattergl" and "x" not in t for t in points)
