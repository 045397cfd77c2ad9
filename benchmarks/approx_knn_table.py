"""Markdown tables of ``bench_approx_knn.py``'s JSON results (docs/benchmarks.md, issue 13).

Run::

    python benchmarks/approx_knn_table.py benchmarks/results/approx-knn-*.json
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict

BARS = {"recall": 0.99, "overlap": 0.98, "spearman": 0.99}


def recall_rows(records):
    print(
        "| n x d | data | exact (s) | approximate | approximate (s) | effort | recall@20 "
        "| approximate / exact time | auto |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for r in records:
        if "exact_s" not in r:
            if r.get("case") == "pynndescent_warm_up":
                print(
                    f"| | pynndescent numba compilation, once per process | | | "
                    f"{r['seconds']:.1f} | | | | |"
                )
            continue
        auto = r.get("auto")
        auto_s = f"{auto['backend']}, {auto['seconds']:.1f} s" if auto else ""
        found = [b for b in ("faiss", "pynndescent") if b in r]
        if not found:
            print(
                f"| {r['n']:,} x {r['d']} | {r['case']} | {r['exact_s']:.1f} | | | | | | {auto_s} |"
            )
        for b in found:
            a = r[b]
            name = "faiss HNSW" if b == "faiss" else "pynndescent"
            print(
                f"| {r['n']:,} x {r['d']} | {r['case']} | {r['exact_s']:.1f} | {name} "
                f"| {a['seconds']:.1f} | {a['effort']} | {a['recall']:.4f} "
                f"| {a['seconds'] / r['exact_s']:.2f} | {auto_s} |"
            )


def curator_rows(records):
    groups = defaultdict(list)
    for r in records:
        key = r["curator"] + (f" {r['method']}" if "method" in r else "")
        groups[key].append(r)
    print(
        "| curator | fits | overlap: min / mean | below 0.98 | Spearman: min / mean "
        "| below 0.99 | worst case |"
    )
    print("|---|---|---|---|---|---|---|")
    for key, rs in groups.items():
        ov = [r["overlap"] for r in rs]
        rho = [r["spearman"] for r in rs]
        worst = min(rs, key=lambda r: (r["overlap"], r["spearman"]))
        print(
            f"| {key} | {len(rs)} | {min(ov):.3f} / {sum(ov) / len(ov):.4f} "
            f"| {sum(o < BARS['overlap'] for o in ov)} | {min(rho):.4f} / "
            f"{sum(rho) / len(rho):.5f} | {sum(s < BARS['spearman'] for s in rho)} "
            f"| {worst['case']} |"
        )


def main(paths):
    for path in paths:
        data = json.load(open(path))
        print(f"\n{path}\n")
        recs = data["records"]
        if recs and "curator" in recs[0]:
            curator_rows(recs)
        else:
            recall_rows(recs)


if __name__ == "__main__":
    main(sys.argv[1:])
