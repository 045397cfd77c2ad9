"""Render ``docs/quality.md`` from the quality suites' JSON results.

Reads ``benchmarks/results/quality-outliers.json`` (``outliers.py``) and, when it exists,
``benchmarks/results/quality-near-duplicates.json`` (records with dataset, fault, seed,
method and metric columns such as recall, precision, f1; every numeric column other than
the seed is rendered).

Run:  python benchmarks/quality/render.py
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))

import analysis  # noqa: E402

OUTLIERS = ROOT / "benchmarks" / "results" / "quality-outliers.json"
NEAR_DUPLICATES = ROOT / "benchmarks" / "results" / "quality-near-duplicates.json"
OUT = ROOT / "docs" / "quality.md"
N_TOP = 3  # candidates shown case by case
N_RANKED = 15  # candidates in the ranking

_NON_METRIC = {"seed", "n", "d", "rate", "n_outliers", "seconds"}


def _fmt(cell, digits=3):
    if cell is None:
        return "–"
    mean, worst = cell
    if np.isnan(mean):
        return "–"
    if worst is None or abs(mean - worst) < 5 * 10 ** -(digits + 1):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ({worst:.{digits}f})"


def _table(header, rows):
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def _case_shape(records):
    shape = {}
    for r in records:
        shape.setdefault(r["case"], f"{r['n']:,} x {r['d']}")
    return shape


def outlier_section(meta, records):
    agg = analysis.aggregate(records)
    agg_ap = analysis.aggregate(records, "average_precision")
    ours = [
        m for m in meta.get("ours", {"OutlierFilter": {}}) if any(r["method"] == m for r in records)
    ]
    peers = [
        p
        for p in meta.get("peers", analysis.DEFAULT_PEERS)
        if any(r["method"] == p for r in records)
    ]
    cases = analysis.cases_in_order(records)
    report_only = analysis.report_only_cases(records)
    shape = _case_shape(records)
    seeds = sorted({r["seed"] for r in records})
    lines = ["## Outlier detection", ""]
    lines += [
        "Every method scores the same rows; the score is compared with the injected faults "
        f"by ROC AUC. Cells: mean over {len(seeds)} seed(s), worst seed in parentheses "
        "when it differs. OutlierFilter gets the case's rate as `contamination`; "
        + ", ".join(
            f"`{m}` = `OutlierFilter({_params(p)})`" for m, p in meta.get("ours", {}).items()
        )
        + ". Peers: IsolationForest (scikit-learn, 100 trees), LOF (scikit-learn, 20 "
        "neighbours), kNN k=5 (distance to the 5th neighbour), ECOD (pyod), cleanlab "
        "(Datalab outlier score from the features, no labels), hdbscan GLOSH "
        "(`hdbscan.HDBSCAN()` defaults). Cases are built by `benchmarks/quality/cases.py`; "
        "report-only cases (a genuine rare class) are marked † and do not count in the bar.",
        "",
        f"**The bar (issue 11):** ROC AUC at least the best peer's minus {analysis.MARGIN} "
        "on every case (mean over seeds), and the highest mean.",
        "",
        "### ROC AUC: OutlierFilter against each peer",
        "",
    ]
    header = ["case", "n x d"] + ours + peers + ["best peer − " + ours[0]]
    rows = []
    for c in cases:
        cells = [_fmt(_cell(agg, c, m)) for m in ours + peers]
        peer, pm = analysis.best_peer(agg, c, peers)
        gap = pm - agg[c, ours[0]]["mean"] if (c, ours[0]) in agg else np.nan
        flag = " ✗" if gap > analysis.MARGIN and c not in report_only else ""
        rows.append(
            [c + (" †" if c in report_only else ""), shape[c]]
            + cells
            + [f"{gap:+.3f} ({peer}){flag}"]
        )
    lines += _table(header, rows)
    lines += ["", "### Average precision", ""]
    rows = [
        [c + (" †" if c in report_only else ""), shape[c]]
        + [_fmt(_cell(agg_ap, c, m)) for m in ours + peers]
        for c in cases
    ]
    lines += _table(["case", "n x d"] + ours + peers, rows)

    ev = analysis.evaluate(records, peers=peers)
    cands = [r for r in ev if r["method"].startswith(analysis.CANDIDATE_PREFIX)]
    if cands:
        lines += [
            "",
            "### Candidates for the default",
            "",
            "Built from one exact neighbour search (`sklearn_curate.utils.neighbors."
            "kneighbors`) and GLOSH (`OutlierFilter`, the exact tree): `kNNk` is the distance to the "
            "k-th neighbour, `kNNmeank` the mean distance to the k nearest, `LOFk` the local "
            "outlier factor at k, `cosKNNmean10` the mean cosine distance to the 10 nearest "
            "(the quantity cleanlab ranks by), `IF` IsolationForest; `mean(...)` / `max(...)` "
            "the mean / maximum of their percentile ranks. Ranked: those that meet the bar "
            "by mean, then the others by their worst gap to the best peer (total "
            "shortfall: the sum, over the cases missed, of how far each falls below the "
            "best peer minus the margin). Seconds: mean "
            "per case, one thread, including the GLOSH / forest a combination uses.",
            "",
        ]
        head = [
            "method",
            "mean ROC AUC",
            "worst seed",
            "worst gap",
            "cases missed",
            "total shortfall",
            "worst case",
            "s / case",
        ]
        shown = [r for r in ev if r["method"] in ours] + cands[:N_RANKED]
        shown.sort(key=ev.index)
        rows = [
            [
                f"`{r['method'].removeprefix(analysis.CANDIDATE_PREFIX)}`"
                if r["method"].startswith(analysis.CANDIDATE_PREFIX)
                else f"**{r['method']}**",
                f"{r['mean']:.3f}",
                f"{r['worst_seed']:.3f}",
                f"{r['worst_gap']:+.3f}",
                r["n_fail"],
                f"{r['shortfall']:.3f}",
                r["worst_case"],
                f"{r['seconds']:.2f}",
            ]
            for r in shown
        ]
        lines += _table(head, rows)
        best = cands[0]
        if best["n_fail"] == 0:
            verdict = (
                f"`{best['method'].removeprefix(analysis.CANDIDATE_PREFIX)}` meets the bar "
                f"on every case (mean ROC AUC {best['mean']:.3f})."
            )
        else:
            verdict = (
                f"No candidate meets the bar. The closest, "
                f"`{best['method'].removeprefix(analysis.CANDIDATE_PREFIX)}`, misses it on "
                f"{best['n_fail']} case(s): "
                + "; ".join(f"{c} by {-g - analysis.MARGIN:.3f}" for c, g in best["fails"])
                + " (shortfall below best peer − margin)."
            )
        lines += ["", verdict, ""]
        top = [r["method"] for r in cands[:N_TOP]]
        lines += [f"### The top {len(top)} candidates, case by case (ROC AUC)", ""]
        head = (
            ["case"]
            + ours
            + ["best peer"]
            + [f"`{m.removeprefix(analysis.CANDIDATE_PREFIX)}`" for m in top]
        )
        rows = []
        for c in cases:
            peer, pm = analysis.best_peer(agg, c, peers)
            rows.append(
                [c + (" †" if c in report_only else "")]
                + [_fmt(_cell(agg, c, m)) for m in ours]
                + [f"{pm:.3f} ({peer})"]
                + [_fmt(_cell(agg, c, m)) for m in top]
            )
        lines += _table(head, rows)
    return lines


def _params(p):
    return ", ".join(f"{k}={v!r}" for k, v in p.items())


def _cell(agg, case, method):
    a = agg.get((case, method))
    return None if a is None else (a["mean"], a["worst"])


def near_duplicate_section(records):
    """Mean (worst seed) of every metric column per case and method.

    The case is every text column (dataset, fault, representation, ...) but the method;
    numeric columns other than the seed are metrics; integer columns (counts) are shown
    as their mean without a worst seed.
    """
    lines = ["## Near-duplicates", ""]
    if not records:
        return lines + ["No records.", ""]
    keys, metrics, counts = [], [], set()
    for r in records:
        for k, v in r.items():
            if isinstance(v, str) and k != "method" and k not in keys:
                keys.append(k)
            elif (
                k not in _NON_METRIC
                and isinstance(v, (int, float))
                and not isinstance(v, bool)
                and k not in metrics
            ):
                metrics.append(k)
    for m in metrics:
        if all(isinstance(r.get(m), int) for r in records if m in r):
            counts.add(m)
    groups = defaultdict(lambda: defaultdict(list))
    for r in records:
        key = tuple(r.get(k, "") for k in keys) + (r.get("method", ""),)
        for m in metrics:
            if isinstance(r.get(m), (int, float)):
                groups[key][m].append(float(r[m]))
    seeds = sorted({r.get("seed") for r in records if r.get("seed") is not None})
    lines += [
        f"From `benchmarks/results/{NEAR_DUPLICATES.name}`. Cells: mean over "
        f"{len(seeds) or 1} seed(s), worst seed in parentheses when it differs "
        "(counts: mean only).",
        "",
    ]

    def cell(vals, m):
        if not vals:
            return "–"
        if m in counts:
            mean = float(np.mean(vals))
            return f"{mean:.0f}" if mean == round(mean) else f"{mean:.1f}"
        return _fmt((np.mean(vals), np.min(vals)))

    rows = [list(key) + [cell(v.get(m), m) for m in metrics] for key, v in groups.items()]
    return lines + _table(keys + ["method"] + metrics, rows) + [""]


def render(outliers_path=OUTLIERS, near_duplicates_path=NEAR_DUPLICATES):
    lines = [
        "# Quality suites",
        "",
        "<!-- Generated by benchmarks/quality/render.py from benchmarks/results/; "
        "do not edit by hand. -->",
        "",
    ]
    if Path(outliers_path).exists():
        meta, records = analysis.load(outliers_path)
        lines += [
            f"- Command: `{meta.get('command', 'python benchmarks/quality/outliers.py')}` "
            f"({meta.get('n_cases', '?')} cases, {meta.get('seconds', '?')} s), then "
            "`python benchmarks/quality/render.py`",
            f"- Machine: {meta.get('machine', 'unknown')}; date {meta.get('date', 'unknown')}",
            "",
        ]
        lines += outlier_section(meta, records)
        lines.append("")
    else:
        lines += ["No outlier results yet: run `python benchmarks/quality/outliers.py`.", ""]
    if Path(near_duplicates_path).exists():
        data = json.loads(Path(near_duplicates_path).read_text())
        nd_meta, nd = (
            (data.get("meta", {}), data.get("records", []))
            if isinstance(data, dict)
            else ({}, data)
        )
        lines += near_duplicate_section(nd)
        if nd_meta.get("command"):
            lines += [f"Command: `{nd_meta['command']}`", ""]
    return "\n".join(lines).rstrip() + "\n"


def main(argv=None):
    p = argparse.ArgumentParser(description="Render docs/quality.md.")
    p.add_argument("--outliers", type=Path, default=OUTLIERS)
    p.add_argument("--near-duplicates", type=Path, default=NEAR_DUPLICATES)
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args(argv)
    text = render(args.outliers, args.near_duplicates)
    args.out.write_text(text)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
