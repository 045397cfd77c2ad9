"""Peak memory and wall time of ``sklearn-curate curate`` on a folder of N small images.

Issue 13, part 2: the main job streams its images, so its peak memory at 100,000
images should be within 1.5x of that at 20,000. Run::

    python benchmarks/bench_main_job_memory.py make N DIR     # N gray 32x32 PNG digits
    python benchmarks/bench_main_job_memory.py run RESULTS.jsonl -- sklearn-curate curate \\
        --images DIR --out OUT --epochs 1 --quiet

``make`` writes N PNG files ``DIR/<digit>/NNNNNN.png``: scikit-learn's digits scaled to
36x36 (bilinear), a random 32x32 crop (shift 0-4 pixels) and Gaussian noise (sigma 8
grey levels), seeded. ``run`` starts the command and samples every 0.1 s the resident
memory (RSS) of the command's process, its anonymous part (``RssAnon`` of
``/proc/PID/status``: memory that is not a mapped file) and the RSS summed over the
process and all its descendants (the DataLoader workers); it prints and appends to
RESULTS.jsonl one JSON line with the peaks in MiB and the wall time. Polling can miss a
peak shorter than 0.1 s; ``/usr/bin/time -v`` gives the kernel's exact maximum RSS of
the process for comparison.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path


def make(n: int, out: Path) -> None:
    """Write ``n`` gray 32x32 PNG digits under ``out/<digit>/``."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(0)
    for c in range(10):
        (out / str(c)).mkdir(parents=True, exist_ok=True)
    for i in range(n):
        j = rng.integers(len(d.images))
        img = Image.fromarray((d.images[j] * 255 / 16).astype(np.uint8))
        img = img.resize((36, 36), Image.BILINEAR)
        dx, dy = rng.integers(0, 5, 2)
        a = np.asarray(img.crop((dx, dy, dx + 32, dy + 32)), dtype=np.float32)
        a = np.clip(a + rng.normal(0, 8, a.shape), 0, 255).astype(np.uint8)
        Image.fromarray(a).save(out / str(d.target[j]) / f"{i:06d}.png")


def run(results: Path, cmd: list) -> dict:
    """Run ``cmd``, polling its memory; return and append the peaks (MiB) and wall time."""
    import psutil

    t0 = time.perf_counter()
    p = subprocess.Popen(cmd)
    proc = psutil.Process(p.pid)
    peak_tree = peak_main = peak_anon = 0
    while p.poll() is None:
        try:
            tree = 0
            for q in [proc, *proc.children(recursive=True)]:
                try:
                    tree += q.memory_info().rss
                except psutil.Error:
                    pass
            peak_tree = max(peak_tree, tree)
            peak_main = max(peak_main, proc.memory_info().rss)
            with open(f"/proc/{p.pid}/status") as fh:
                for line in fh:
                    if line.startswith("RssAnon"):
                        peak_anon = max(peak_anon, int(line.split()[1]) * 1024)
        except psutil.Error:
            pass
        time.sleep(0.1)
    res = {
        "cmd": " ".join(cmd),
        "rc": p.returncode,
        "wall_s": round(time.perf_counter() - t0, 1),
        "peak_rss_main_mb": round(peak_main / 2**20),
        "peak_rss_anon_main_mb": round(peak_anon / 2**20),
        "peak_rss_tree_mb": round(peak_tree / 2**20),
    }
    print(json.dumps(res))
    with open(results, "a") as fh:
        fh.write(json.dumps(res) + "\n")
    return res


if __name__ == "__main__":
    if len(sys.argv) >= 4 and sys.argv[1] == "make":
        make(int(sys.argv[2]), Path(sys.argv[3]))
    elif len(sys.argv) >= 5 and sys.argv[1] == "run" and sys.argv[3] == "--":
        sys.exit(run(Path(sys.argv[2]), sys.argv[4:])["rc"])
    else:
        sys.exit(__doc__)
