"""
Which training images made this prediction?
===========================================

Influence functions (Koh & Liang, 2017) predict, for every training sample, how a
test sample's loss would change if that training sample were removed and the model
retrained, without retraining. :class:`~sklearn_curate.InfluenceScorer` computes
them exactly for scikit-learn's LogisticRegression (and for torch modules).

Positive influence: removing the training image would raise the test loss, so it
*helps* that prediction. Negative: it *harms* it. Here a few training labels are
flipped, and the flipped images show up as the most harmful for test images of
their true digit, and at the top of the self-influence ranking.
"""

# %%
# Data: digits with five flipped training labels
# -----------------------------------------------
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from sklearn_curate import InfluenceScorer

digits = load_digits()
X = digits.data / 16.0
idx_train, idx_test = train_test_split(np.arange(len(X)), train_size=1500, random_state=0)
X_train, X_test = X[idx_train], X[idx_test]
y_train, y_test = digits.target[idx_train].copy(), digits.target[idx_test]

rng = np.random.default_rng(0)
flipped = rng.choice(len(y_train), size=5, replace=False)
true_label = y_train[flipped].copy()
y_train[flipped] = (true_label + rng.integers(1, 10, size=5)) % 10
for i, label in zip(flipped, true_label, strict=True):
    print(f"training row {i}: a {label} labelled {y_train[i]}")

# %%
# Fit
# ---
# The scorer fits a clone of the estimator and refines its parameters to a tight
# optimum (the formula assumes one). With 650 parameters, ``method="auto"`` picks the
# exact solver: one Cholesky factorisation of the Hessian serves every test image.
scorer = InfluenceScorer(LogisticRegression(C=1.0), fraction=0.01).fit(X_train, y_train)
print(
    f"{scorer.n_params_} parameters, solver {scorer.method_}, gradient norm {scorer.grad_norm_:.1e}"
)

# %%
# Influence on one test image
# ---------------------------
# For the first test image of each flipped row's true digit, ``top_k`` gives the
# most helpful and the most harmful training images.


def show(*rows, data):
    shades = " .:-=+*#%@"
    pictures = [data[i].reshape(8, 8) for i in rows]
    for r in range(8):
        print("   ".join("".join(shades[int(p[r, c] * 9)] * 2 for c in range(8)) for p in pictures))


j = int(np.flatnonzero(y_test == true_label[0])[0])
top = scorer.top_k(X_test[j : j + 1], y_test[j : j + 1], k=4)
print(f"test image {j}, a {y_test[j]}")
print("most helpful:", [(int(i), int(y_train[i])) for i in top["helpful"][0]], "(row, label)")
print("most harmful:", [(int(i), int(y_train[i])) for i in top["harmful"][0]], "(row, label)")
print("\ntest image, then the two most harmful training images")
show(j, data=X_test)
print()
show(*top["harmful"][0][:2], data=X_train)

# %%
# The full matrix
# ---------------
# ``influence(X_test, y_test)`` returns every pair: shape ``(n_test, n_train)``.
# For each flipped row, where does it rank among the harmful training images of the
# test images of its true digit?
influence = scorer.influence(X_test, y_test)
print(influence.shape)
for i, label in zip(flipped, true_label, strict=True):
    same_digit = np.flatnonzero(y_test == label)
    # 1 = the most harmful training image for that test image
    ranks = 1 + (influence[same_digit] < influence[same_digit, i][:, None]).sum(axis=1)
    print(
        f"row {i} (a {label} labelled {y_train[i]}): median rank {np.median(ranks):.0f} "
        f"of {len(y_train)}, over the {len(same_digit)} test {label}s"
    )

# %%
# Self-influence as a curator
# ---------------------------
# ``scores_`` is minus each training image's influence on its own loss; high
# self-influence marks atypical, hard or mislabelled images, and ``fit_resample``
# drops the ``round(fraction * n)`` highest.
order = np.argsort(scorer.scores_)
ranks = {int(i): int(np.flatnonzero(order == i)[0]) + 1 for i in flipped}
print("rank of each flipped row by self-influence (1 = highest):", ranks)
print(
    f"dropped with fraction=0.01: {scorer.n_removed_} rows, "
    f"{np.isin(flipped, np.flatnonzero(~scorer.support_)).sum()} of the 5 flipped"
)
