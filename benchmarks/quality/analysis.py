"""Aggregate the quality records: per case (all seeds), best peer, and the issue's bar.

The bar (issue 11): a default whose ROC AUC is at least the best peer's minus ``MARGIN``
on every case (report-only cases excluded), averaged over seeds, and the highest mean
ROC AUC over those cases.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

MARGIN = 0.01
DEFAULT_PEERS = ("IsolationForest", "LOF", "kNN k=5", "ECOD", "cleanlab", "hdbscan GLOSH")
CANDIDATE_PREFIX = "cand "


def load(path):
    """``(meta, records)`` from a results file (an object with ``records``, or a list)."""
    import json

    data = json.loads(open(path).read())
    if isinstance(data, dict):
        return data.get("meta", {}), data.get("records", [])
    return {}, data


def cases_in_order(records):
    """Case names in first-seen order, report-only cases last."""
    seen = {}
    for r in records:
        seen.setdefault(r["case"], r.get("report_only", False))
    return [c for c, ro in seen.items() if not ro] + [c for c, ro in seen.items() if ro]


def methods_in_order(records):
    return list(dict.fromkeys(r["method"] for r in records))


def aggregate(records, metric="roc_auc"):
    """``{(case, method): {"mean", "worst", "n", "seconds"}}`` over seeds."""
    vals, secs = defaultdict(list), defaultdict(list)
    for r in records:
        if r.get(metric) is None:
            continue
        vals[r["case"], r["method"]].append(r[metric])
        secs[r["case"], r["method"]].append(r.get("seconds", np.nan))
    return {
        key: {
            "mean": float(np.mean(v)),
            "worst": float(np.min(v)),
            "n": len(v),
            "seconds": float(np.nanmean(secs[key])),
        }
        for key, v in vals.items()
    }


def report_only_cases(records):
    return {r["case"] for r in records if r.get("report_only")}


def best_peer(agg, case, peers=DEFAULT_PEERS):
    """``(peer, mean)`` of the peer with the highest mean on ``case``."""
    got = [(agg[case, p]["mean"], p) for p in peers if (case, p) in agg]
    if not got:
        return None, float("nan")
    m, p = max(got)
    return p, m


def evaluate(records, methods=None, peers=DEFAULT_PEERS, margin=MARGIN, metric="roc_auc"):
    """Each method against the bar: a list of dicts, best first.

    ``n_fail``: cases where its mean is below the best peer's minus ``margin``;
    ``worst_gap``: the lowest (method - best peer) over the cases; ``mean``: its mean
    over the cases; ``fails``: ``[(case, gap)]``. Sorted: methods that pass by mean,
    then the others by worst gap.
    """
    agg = aggregate(records, metric)
    skip = report_only_cases(records)
    cases = [c for c in cases_in_order(records) if c not in skip]
    bars = {c: best_peer(agg, c, peers)[1] for c in cases}
    methods = methods or methods_in_order(records)
    rows = []
    for m in methods:
        gaps = {c: agg[c, m]["mean"] - bars[c] for c in cases if (c, m) in agg}
        if len(gaps) < len(cases):
            continue
        fails = sorted(((c, g) for c, g in gaps.items() if g < -margin), key=lambda t: t[1])
        shortfall = sum(-g - margin for _, g in fails)
        rows.append(
            {
                "method": m,
                "mean": float(np.mean([agg[c, m]["mean"] for c in cases])),
                "worst_seed": float(min(agg[c, m]["worst"] for c in cases)),
                "worst_gap": float(min(gaps.values())),
                "worst_case": min(gaps, key=gaps.get),
                "n_fail": len(fails),
                "shortfall": float(shortfall),
                "fails": fails,
                "seconds": float(np.nanmean([agg[c, m]["seconds"] for c in cases])),
            }
        )
    rows.sort(key=lambda r: (r["n_fail"] > 0, -r["mean"] if r["n_fail"] == 0 else -r["worst_gap"]))
    return rows


def top_candidates(records, n=3, **kw):
    methods = [m for m in methods_in_order(records) if m.startswith(CANDIDATE_PREFIX)]
    return evaluate(records, methods, **kw)[:n]


def text_summary(records, ours=("OutlierFilter", "OutlierFilter cosine"), n_top=10):
    """A plain-text digest for the console."""
    lines = []
    ev = evaluate(records)
    lines.append(f"bar: ROC AUC >= best peer - {MARGIN} on every case (mean over seeds)")
    lines.append(f"{'method':<44} {'mean':>6} {'worst gap':>9} {'fails':>5}  worst case")
    shown = [r for r in ev if r["method"] in ours or r["method"] in DEFAULT_PEERS]
    shown += [r for r in ev if r["method"].startswith(CANDIDATE_PREFIX)][:n_top]
    for r in sorted(shown, key=ev.index):
        lines.append(
            f"{r['method']:<44} {r['mean']:6.3f} {r['worst_gap']:+9.3f} {r['n_fail']:5d}  "
            f"{r['worst_case']}"
        )
    agg = aggregate(records)
    top = [r["method"] for r in top_candidates(records, 3)]
    lines.append("")
    cols = list(ours) + ["best peer"] + top
    lines.append(f"{'case':<38} " + " ".join(f"{c[:14]:>14}" for c in cols))
    for c in cases_in_order(records):
        peer, pm = best_peer(agg, c)
        vals = [agg.get((c, m), {}).get("mean", np.nan) for m in ours]
        vals += [pm] + [agg.get((c, m), {}).get("mean", np.nan) for m in top]
        lines.append(f"{c[:38]:<38} " + " ".join(f"{v:14.3f}" for v in vals) + f"  ({peer})")
    return "\n".join(lines)
