"""Render ``bench_knn_grid.py``'s JSON as the Markdown tables of docs/benchmarks.md.

Usage: ``python benchmarks/knn_grid_table.py benchmarks/results/knn-grid-<...>.json
[more.json ...]`` (the grid can be run in parts, e.g. ``-k "test_grid and 50000"``;
each time is read as a share of the sgemm throughput measured in its own run).
"""

import json
import sys
from collections import defaultdict


def _fmt(x, digits=2):
    return "" if x is None else f"{x:.{digits}f}"


def _span(values, digits=2, min_only=False):
    """``values`` as one number, or as ``low-high`` when they differ (``""`` if none)."""
    if not values:
        return ""
    low, high = min(values), max(values)
    if min_only or f"{low:.{digits}f}" == f"{high:.{digits}f}":
        return f"{low:.{digits}f}"
    return f"{low:.{digits}f}-{high:.{digits}f}"


def main(*paths):
    """Print the grid, the 1,000,000 x 64 search and the memory rows as Markdown."""
    runs = []
    for path in paths:
        with open(path) as f:
            runs.append(json.load(f))
    cpu = runs[0]["machine_info"].get("cpu", {})
    dates = sorted({run["datetime"][:16].replace("T", " ") for run in runs})
    print(
        f"Machine: {cpu.get('brand_raw', '?')}, {cpu.get('count', '?')} logical cores; "
        f"runs saved (UTC): {', '.join(dates)}\n"
    )
    grid = defaultdict(lambda: defaultdict(dict))  # cell -> run -> method -> (s, info)
    million = {}
    memory = {}
    sgemms = []
    for run_id, run in enumerate(runs):
        for b in run["benchmarks"]:
            info = b["extra_info"]
            if "sgemm_gflops" in info:
                sgemms.append(info["sgemm_gflops"])
            if b["name"].startswith("test_grid"):
                key = (info["n_samples"], info["n_features"], info["distribution"])
                grid[key][run_id][info["method"]] = (b["stats"]["mean"], info)
            elif b["name"].startswith("test_million"):
                million[info["method"]] = (b["stats"]["mean"], info)
            elif b["name"].startswith("test_extra_peak"):
                memory[info["method"]] = info["extra_peak_mib"]
    if sgemms:
        print(
            "float32 matrix product (4,096-square sgemm, all cores, measured in each "
            f"run): {min(sgemms):.0f}-{max(sgemms):.0f} GFLOP/s\n"
        )
    print(
        "Where a cell was measured in several runs it shows the range over the runs; "
        "each ratio and share is taken within one run (peers and ours under the same "
        "conditions), then given as a range.\n"
    )
    print(
        "| n x d | data | scikit-learn brute (s) | faiss IndexFlatL2 (s) | ours (s) | ours: backend "
        "| faster peer / ours | ours GFLOP/s (share of sgemm) | recall |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    order = {"uniform": 0, "clustered": 1, "duplicates": 2}
    for (n, d, dist), by_run in sorted(grid.items(), key=lambda kv: (*kv[0][:2], order[kv[0][2]])):
        times = defaultdict(list)
        speedups, gflops, shares, recalls, backends = [], [], [], [], set()
        for row in by_run.values():
            for method, (t, _) in row.items():
                times[method].append(t)
            if "ours" not in row:
                continue
            ours, info = row["ours"]
            backends.add(info.get("backend", ""))
            peers = [row[m][0] for m in ("sklearn", "faiss") if m in row]
            if peers:
                speedups.append(min(peers) / ours)
            if "gflops" in info:
                gflops.append(info["gflops"])
                shares.append(info["gflops"] / info["sgemm_gflops"])
            if info.get("recall") is not None:
                recalls.append(info["recall"])
        print(
            f"| {n:,} x {d} | {dist} | {_span(times['sklearn'])} | {_span(times['faiss'])} | "
            f"{_span(times['ours'])} | {', '.join(sorted(backends))} | {_span(speedups)}x | "
            f"{_span(gflops, 0)} ({_span(shares)}) | {_span(recalls, 3, min_only=True)} |"
        )
    if million:
        print("\n| 1,000,000 x 64, 20,000 queries | time (s) | GFLOP/s | share of sgemm | recall |")
        print("|---|---|---|---|---|")
        for method in ("sklearn", "faiss", "ours"):
            if method in million:
                t, info = million[method]
                print(
                    f"| {method} | {t:.2f} | {info['gflops']:.0f} | "
                    f"{info['share_of_sgemm']:.2f} | {_fmt(info.get('recall'), 3)} |"
                )
    if memory:
        print("\n| extra peak memory, 50,000 x 512 self-search | MiB |")
        print("|---|---|")
        for method, mib in memory.items():
            print(f"| {method} | {mib:.0f} |")


if __name__ == "__main__":
    main(*sys.argv[1:])
