"""
The main job from Python
========================

``sklearn-curate curate`` trains a small autoencoder on the images, embeds them,
reduces the embedding, drops outliers, then drops near-duplicates, and writes its
decisions into an output folder. :func:`sklearn_curate.cli.main` runs the same
command from Python: it takes the command line as a list of strings and returns
the exit status.

With no input option it runs on built-in data: scikit-learn's 1,797 digits plus
18 crops of the sample photographs (foreign images, ids 1797-1814) and 37 noisy
copies of digits (near-duplicates, ids 1815-1851). Nothing is downloaded. Two
training epochs keep this example short; the command's default is 10.
"""

# %%
# Run the command into a temporary folder
# ---------------------------------------
# The output folder appears only when the run is complete (it is written under a
# temporary name and renamed).
import csv
import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path

from sklearn_curate.cli import main, unquote_id

tmp = Path(tempfile.mkdtemp())
out = tmp / "curate_out"
status = main(["curate", "--out", str(out), "--epochs", "2", "--seed", "0", "--quiet"])
print("exit status:", status)
print(sorted(p.name for p in out.iterdir()))

# %%
# Which rows were kept
# --------------------
# Every input id is in exactly one list. Ids are row indices for the built-in data
# and paths for ``--images DIR``; an id holding a tab, a line break or another
# unusual character is written in double quotes with backslash escapes, which
# :func:`~sklearn_curate.cli.unquote_id` turns back into the name.
kept = [unquote_id(line) for line in (out / "kept.txt").read_text("utf-8").splitlines()]
outliers = (out / "removed_outliers.txt").read_text("utf-8").split()
similar = (out / "removed_similar.txt").read_text("utf-8").split()
print(f"{len(kept)} kept, {len(outliers)} outliers, {len(similar)} near-duplicates")

foreign = {str(i) for i in range(1797, 1815)}
print(f"foreign images among the outliers: {len(foreign & set(outliers))} of {len(foreign)}")

# %%
# One row per input in scores.csv
# -------------------------------
# ``outlier_score`` and ``similarity_score`` are the curators' ``scores_`` (lower =
# dropped first); ``duplicate_of`` names the kept neighbour of a dropped
# near-duplicate.
with open(out / "scores.csv", newline="", encoding="utf-8") as f:
    rows = list(csv.DictReader(f))
print(list(rows[0]))
print(Counter(row["decision"] for row in rows))
for row in [r for r in rows if r["decision"] == "similar"][:5]:
    print(f"row {row['id']:>4} (label {row['label']}) duplicates row {row['duplicate_of']}")

# %%
# The run's record
# ----------------
# ``report.json`` holds the parameters, counts, each step's seconds, device and
# backend, and, for the built-in data, how many planted faults were found.
# ``report.html`` is the same record as a page that opens offline.
report = json.loads((out / "report.json").read_text("utf-8"))
for step in report["steps"]:
    print(f"{step['name']:>8}: {step['seconds']:6.2f} s  {step['device'] or ''}")
print(report["default_data"])

shutil.rmtree(tmp)
