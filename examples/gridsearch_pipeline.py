"""
Grid-search the fractions to drop against a held-out score
==========================================================

How many outliers and near-duplicates should go? Make the fractions parameters of
a Pipeline and let GridSearchCV pick them by a downstream model's cross-validated
accuracy.

Digits with 5% foreign images (crops of photographs, given random digit labels) and
5% near-duplicates are split into train and test; an imbalanced-learn Pipeline
drops outliers, drops near-duplicates, scales and fits a LogisticRegression;
GridSearchCV (cv=3) picks the fractions. Curators act only while fitting, so every
test row is scored.

Run:  python examples/gridsearch_pipeline.py
"""

# %%
# The data: digits with planted faults
# ------------------------------------
import warnings

import numpy as np
from imblearn.pipeline import Pipeline
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_curate import OutlierFilter, SimilarityFilter, TiedScoresWarning
from sklearn_curate.datasets import make_faulty_digits, sample_image_crops


def make_data(random_state=0):
    """Digits + 5% near-duplicates + 5% foreign images with random labels."""
    rng = np.random.default_rng(random_state)
    dup = make_faulty_digits("noisy_duplicates", rate=0.05, random_state=random_state)
    n_foreign = int(round(0.05 * len(dup.data)))
    foreign = sample_image_crops(n_foreign, random_state=random_state).reshape(n_foreign, -1)
    X = np.concatenate([dup.data, foreign])
    y = np.concatenate([dup.target, rng.integers(0, 10, n_foreign)])
    is_foreign = np.r_[np.zeros(len(dup.data), bool), np.ones(n_foreign, bool)]
    return X, y, is_foreign


X, y, is_foreign = make_data()
X_train, X_test, y_train, y_test, _, foreign_test = train_test_split(
    X, y, is_foreign, test_size=0.3, random_state=0, stratify=y
)
print(f"{len(X_train)} training rows, {len(X_test)} test rows, {is_foreign.sum()} foreign")

# %%
# The pipeline and the search
# ---------------------------
# The curators are steps of :class:`imblearn.pipeline.Pipeline`, which calls their
# ``fit_resample`` while fitting only. The share to drop is an ordinary parameter
# (``contamination`` for :class:`~sklearn_curate.OutlierFilter`, ``fraction`` for
# :class:`~sklearn_curate.SimilarityFilter`), searched like any other.
#
# The curators come before the scaler. ``StandardScaler`` raises pixels that are
# almost always 0 to unit variance, noise and all, so that noise decides which rows are
# "near": on digits with noisy copies the share of copies found falls from 0.99 on
# the raw pixels to 0.01 on scaled ones (SimilarityFilter warns with
# ``NearConstantFeaturesWarning`` when it sees such features). Cosine distance also
# catches copies of another brightness. The scaler stays for the classifier.
pipe = Pipeline(
    [
        ("outliers", OutlierFilter(contamination=0.05)),
        ("similar", SimilarityFilter(fraction=0.05, metric="cosine")),
        ("scale", StandardScaler()),
        ("clf", LogisticRegression(max_iter=2000)),
    ]
)
grid = GridSearchCV(
    pipe,
    {"outliers__contamination": [0.0, 0.05, 0.1], "similar__fraction": [0.0, 0.05]},
    cv=3,
)
# Digits pixels have many rows that leave a cluster at the same density, so the
# outlier cut-off often falls inside a group of tied GLOSH scores and each fit would
# warn about it (TiedScoresWarning). Expected here: silence it for this search.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", TiedScoresWarning)
    grid.fit(X_train, y_train)
for params, score in zip(
    grid.cv_results_["params"], grid.cv_results_["mean_test_score"], strict=True
):
    print(f"  {params}  cv accuracy {score:.3f}")

# %%
# The result
# ----------
# The foreign test rows carry random labels, so the test score is taken on the real
# digits. ``predict`` and ``score`` see every row they are given: nothing is dropped
# at prediction time.
clean = ~foreign_test
print("best parameters:", grid.best_params_)
print(f"best cross-validated accuracy: {grid.best_score_:.3f}")
print(f"test accuracy on real digits: {grid.score(X_test[clean], y_test[clean]):.3f}")

# %%
# Reading the search
# ------------------
# The validation folds hold faulty rows too (foreign images with random labels, and
# near-duplicates whose twin may sit in the training fold), and every fold is scored
# on all its rows. So the search rewards a drop only when it makes the model better
# on data that look like the training data, faults included. When dropping nothing
# scores best, the faults were not hurting this model; a model that is more
# sensitive to them, or a validation set that is known to be clean, can tip the
# balance. The curators' own quality (how many of the dropped rows were planted
# faults) is measured in the user guide's pages on outliers and near-duplicates.
