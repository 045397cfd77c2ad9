"""Load time of report.html for 20,000 images in headless Chromium, and its size.

Run: ``python benchmarks/bench_report.py [--n 20000] [--out DIR]``. Builds a .npy of the
digits repeated with light noise, runs ``sklearn-curate curate --array`` on it, then opens
``report.html`` in headless Chromium (selenium, /usr/bin/chromedriver) and prints the
milliseconds from navigation start to the load event and to the first plot drawn
(the 2D view), to all plots drawn, and the file size. Not part of the test suite.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-unsafe-swiftshader",
    "--window-size=1400,1000",
]


def make_images(n: int, seed: int = 0) -> np.ndarray:
    """The digits repeated to ``n`` images with light Gaussian noise."""
    from sklearn.datasets import load_digits

    rng = np.random.RandomState(seed)
    base = load_digits().images.astype(np.float32)
    idx = np.arange(n) % len(base)
    return np.clip(base[idx] + rng.normal(0, 0.8, (n, 8, 8)), 0, 16).astype(np.float32)


def measure(html: Path, repeats: int = 3) -> list[dict]:
    """Open ``html`` ``repeats`` times in a fresh headless Chromium and time it."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.support.ui import WebDriverWait

    results = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as profile:
            opts = webdriver.ChromeOptions()
            opts.binary_location = "/usr/bin/chromium"
            for flag in [*FLAGS, f"--user-data-dir={profile}"]:
                opts.add_argument(flag)
            driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
            try:
                driver.get(html.as_uri())
                WebDriverWait(driver, 120).until(
                    lambda d: (
                        d.execute_script("return document.body.getAttribute('data-rendered')")
                        == "1"
                    )
                )
                nav = driver.execute_script(
                    "const t = performance.getEntriesByType('navigation')[0];"
                    "return [t.loadEventEnd, window.__firstPlotMs, window.__plotsMs];"
                )
                results.append(
                    {
                        "load_ms": round(nav[0]),
                        "first_plot_ms": round(nav[1]),
                        "all_plots_ms": round(nav[2]),
                    }
                )
            finally:
                driver.quit()
    return results


def main() -> None:
    from sklearn_curate.cli._curate import main as curate

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=20_000)
    ap.add_argument("--out", default=None, help="work folder (default: a temporary one)")
    args = ap.parse_args()
    work = Path(args.out or tempfile.mkdtemp(prefix="bench_report-"))
    work.mkdir(parents=True, exist_ok=True)
    np.save(work / "images.npy", make_images(args.n))
    out = work / "out"
    t = time.perf_counter()
    code = curate(
        [
            "curate",
            "--array",
            str(work / "images.npy"),
            "--out",
            str(out),
            "--overwrite",
            "--epochs",
            "1",
            "--quiet",
        ]
    )
    assert code == 0
    run_s = time.perf_counter() - t
    html = out / "report.html"
    res = measure(html)
    summary = {
        "n": args.n,
        "curate_seconds": round(run_s, 1),
        "report_html_mb": round(html.stat().st_size / 2**20, 2),
        "report_json_mb": round((out / "report.json").stat().st_size / 2**20, 2),
        "runs": res,
        "max_first_plot_ms": max(r["first_plot_ms"] for r in res),
        "max_load_ms": max(r["load_ms"] for r in res),
        "max_all_plots_ms": max(r["all_plots_ms"] for r in res),
        "report": str(html),
    }
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
