"""Print a Markdown table from a pytest-benchmark JSON file.

Usage: python benchmarks/summarize.py benchmarks/results/FILE.json
"""

import json
import sys


def main(path):
    data = json.load(open(path))
    info = data.get("machine_info", {})
    print(
        f"Machine: {info.get('cpu', {}).get('brand_raw', '?')}, "
        f"{info.get('cpu', {}).get('count', '?')} logical cores; "
        f"date: {data.get('datetime', '?')}\n"
    )
    print("| group | benchmark | mean (s) | samples/s | extra |")
    print("|---|---|---|---|---|")
    for b in data["benchmarks"]:
        extra = dict(b.get("extra_info", {}))
        sps = extra.pop("samples_per_s", None)
        extra.pop("n_samples", None)
        extras = ", ".join(
            f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in extra.items()
        )
        sps_s = f"{sps:,.0f}" if sps else ""
        print(f"| {b['group']} | {b['name']} | {b['stats']['mean']:.3f} | {sps_s} | {extras} |")


if __name__ == "__main__":
    main(sys.argv[1])
