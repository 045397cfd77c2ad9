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
        f"runs started (UTC): {', '.join(dates)}\n"
    )
    grid = defaultdict(dict)
    million = {}
    memory = {}
    sgemms = []
    for b in (b for run in runs for b in run["benchmarks"]):
        info = b["extra_info"]
        if "sgemm_gflops" in info:
            sgemms.append(info["sgemm_gflops"])
        if b["name"].startswith("test_grid"):
            key = (info["n_samples"], info["n_features"], info["distribution"])
            grid[key][info["method"]] = (b["stats"]["mean"], info)
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
        "| n x d | data | scikit-learn brute (s) | faiss IndexFlatL2 (s) | ours (s) | ours: backend "
        "| faster peer / ours | ours GFLOP/s (share of sgemm) | recall |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    order = {"uniform": 0, "clustered": 1, "duplicates": 2}
    for (n, d, dist), row in sorted(grid.items(), key=lambda kv: (*kv[0][:2], order[kv[0][2]])):
        sk = row.get("sklearn", (None, {}))[0]
        fa = row.get("faiss", (None, {}))[0]
        ours, info = row.get("ours", (None, {}))
        peers = [t for t in (sk, fa) if t is not None]
        speedup = min(peers) / ours if peers and ours else None
        share = info["gflops"] / info["sgemm_gflops"] if "sgemm_gflops" in info else None
        print(
            f"| {n:,} x {d} | {dist} | {_fmt(sk)} | {_fmt(fa)} | {_fmt(ours)} | "
            f"{info.get('backend', '')} | {_fmt(speedup)}x | "
            f"{_fmt(info.get('gflops'), 0)} ({_fmt(share)}) | {_fmt(info.get('recall'), 3)} |"
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
