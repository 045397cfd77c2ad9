"""Tune the share of outliers and near-duplicates to drop against a downstream model.

Digits with 5% foreign images (crops of photographs, given random digit labels) and
5% near-duplicates are split into train and test; an imbalanced-learn Pipeline
scales, drops outliers, drops near-duplicates and fits a LogisticRegression;
GridSearchCV (cv=3) picks the fractions by held-out accuracy. Curators act only
while fitting, so every test row is scored.

Run:  python examples/gridsearch_pipeline.py
"""

import numpy as np
from imblearn.pipeline import Pipeline
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.preprocessing import StandardScaler

from sklearn_curate import OutlierFilter, SimilarityFilter
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


def main():
    X, y, is_foreign = make_data()
    X_train, X_test, y_train, y_test, _, foreign_test = train_test_split(
        X, y, is_foreign, test_size=0.3, random_state=0, stratify=y
    )
    pipe = Pipeline(
        [
            ("scale", StandardScaler()),
            ("outliers", OutlierFilter(contamination=0.05)),
            ("similar", SimilarityFilter(fraction=0.05)),
            ("clf", LogisticRegression(max_iter=2000)),
        ]
    )
    grid = GridSearchCV(
        pipe,
        {"outliers__contamination": [0.0, 0.05, 0.1], "similar__fraction": [0.0, 0.05]},
        cv=3,
    )
    grid.fit(X_train, y_train)
    clean = ~foreign_test  # the foreign test rows have random labels: score the real digits
    print("best parameters:", grid.best_params_)
    print(f"best cross-validated accuracy: {grid.best_score_:.3f}")
    print(f"test accuracy on real digits: {grid.score(X_test[clean], y_test[clean]):.3f}")
    for params, score in zip(
        grid.cv_results_["params"], grid.cv_results_["mean_test_score"], strict=True
    ):
        print(f"  {params}  cv accuracy {score:.3f}")
    return grid


if __name__ == "__main__":
    main()
