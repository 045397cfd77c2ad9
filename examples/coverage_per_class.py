"""
Coverage per class: which digits have too few look-alikes
=========================================================

A sample is *covered* when at least ``n_neighbors`` other samples lie within the
coverage radius of it. :class:`~sklearn_curate.CoverageScorer` computes each
sample's critical radius (the distance to its k-th nearest other sample) and calls
the samples with the largest radii uncovered: regions of the data where a model has
few examples to learn from. This is DataEval's coverage, with the same radii and
indices.

With class labels it also runs per class, which answers "which *sevens* are
unusual for a seven?" rather than "which images are far from everything".
"""

# %%
# Scale into the unit cube
# ------------------------
# Like DataEval, the scorer refuses data outside [0, 1]: the naive coverage radius
# assumes the unit cube. Put a MinMaxScaler in front.
import numpy as np
from sklearn.datasets import load_digits
from sklearn.preprocessing import MinMaxScaler

from sklearn_curate import CoverageScorer

digits = load_digits()
X = MinMaxScaler().fit_transform(digits.data)
y = digits.target

coverage = CoverageScorer(n_neighbors=20, method="adaptive", fraction=0.01).fit(X, y)
print(f"coverage radius {coverage.coverage_radius_:.3f}")
print(f"uncovered samples: {coverage.uncovered_indices_.tolist()}")
print(f"their labels: {y[coverage.uncovered_indices_].tolist()}")

# %%
# Per class
# ---------
# ``uncovered_indices_by_class_`` holds, for each class, the samples uncovered
# among that class's rows alone (its own radii, its own coverage radius, its own
# 1% for the adaptive method), as indices into the whole training set.
for label, idx in coverage.uncovered_indices_by_class_.items():
    radius = coverage.coverage_radius_by_class_[label]
    print(f"class {label}: radius {radius:.3f}, uncovered rows {idx.tolist()}")

# %%
# What an uncovered digit looks like
# ----------------------------------
# The least covered seven next to the best covered one (pixel intensity as
# characters, darkest ``@``).


def show(*rows):
    shades = " .:-=+*#%@"
    pictures = [digits.images[i] for i in rows]
    for r in range(8):
        print(
            "   ".join(
                "".join(shades[int(p[r, c] * 9 / 16)] * 2 for c in range(8)) for p in pictures
            )
        )


sevens = np.flatnonzero(y == 7)
best = sevens[np.argmin(coverage.critical_radii_[sevens])]
worst = coverage.uncovered_indices_by_class_[7][0]
print(
    f"row {worst} (radius {coverage.critical_radii_[worst]:.2f})"
    f"   row {best} (radius {coverage.critical_radii_[best]:.2f})"
)
show(worst, best)

# %%
# As a curator
# ------------
# ``fit_resample`` drops the ``round(fraction * n_samples)`` least covered rows, so
# the scorer is a step of an imbalanced-learn Pipeline like the other curators.
# Dropping uncovered rows is rarely what you want, though: they are often the rare,
# valid cases a model most needs. Use the indices to decide where to collect more
# data, and look at them before removing anything.
X_kept, y_kept = CoverageScorer(n_neighbors=20, fraction=0.01).fit_resample(X, y)
print(X.shape, "->", X_kept.shape)

# %%
# The naive radius
# ----------------
# ``method="naive"`` compares the radii with the closed-form radius of points spread
# uniformly over the unit cube instead of taking a fixed share. Pixels are far from
# uniform, so the count it gives here is much larger than 1%: read it as a property
# of the data's spread, and prefer the adaptive method to rank samples.
naive = CoverageScorer(n_neighbors=20, method="naive").fit(X)
print(f"naive radius {naive.coverage_radius_:.3f}: {len(naive.uncovered_indices_)} uncovered")
