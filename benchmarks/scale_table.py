"""Markdown tables from ``bench_scale.py`` results (issue 13, part 2).

Usage::

    python benchmarks/scale_table.py benchmarks/results/scale-*.json

Prints one row per case (time, extra peak memory, recall of the search) and, per
curator and neighbour search at ``d = 64``, the exponent ``b`` of ``time ~ n^b``
fitted by least squares on log time against log n over the sizes measured (a case
stopped at its time limit is left out of the fit and shown as "> limit").
"""

import json
import sys
from collections import defaultdict

import numpy as np

TARGET_S, TARGET_MIB = 600.0, 4096.0


def load(paths):
    rows = {}
    for path in paths:
        with open(path) as f:
            for b in json.load(f)["benchmarks"]:
                e = b["extra_info"]
                rows[(e["name"], e["neighbors"], e["n_samples"], e["d"])] = e  # later files win
    return rows


def main(paths):
    rows = load(paths)
    print("| curator | neighbours | n x d | time (s) | extra peak (MiB) | recall@20 | removed |")
    print("|---|---|---|---|---|---|---|")
    for (name, nb, n, d), e in sorted(
        rows.items(), key=lambda kv: (kv[0][0], kv[0][1], kv[0][3], kv[0][2])
    ):
        t = (
            f"{e['seconds']:.1f}"
            if e.get("seconds") is not None
            else f"> {e['timed_out_after_s']:.0f}"
        )
        mem = f"{e['extra_peak_mib']:.0f}" if "extra_peak_mib" in e else ""
        rec = f"{e['recall']:.4f}" if "recall" in e else ""
        rem = f"{e['n_removed']:,}" if e.get("n_removed") is not None else ""
        print(f"| {name} | {nb} | {n:,} x {d} | {t} | {mem} | {rec} | {rem} |")
    print()
    fits = defaultdict(list)
    for (name, nb, n, d), e in rows.items():
        if d == 64 and e.get("seconds"):
            fits[(name, nb)].append((n, e["seconds"]))
    print("| curator | neighbours | sizes | exponent b of time ~ n^b |")
    print("|---|---|---|---|")
    for (name, nb), pts in sorted(fits.items()):
        if len(pts) < 2:
            continue
        pts.sort()
        n, t = np.log([p[0] for p in pts]), np.log([p[1] for p in pts])
        b = np.polyfit(n, t, 1)[0]
        sizes = ", ".join(f"{p[0]:,}" for p in pts)
        print(f"| {name} | {nb} | {sizes} | {b:.2f} |")


if __name__ == "__main__":
    main(sys.argv[1:])
