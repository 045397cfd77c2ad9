"""
Find mislabelled samples with Data Parameters
=============================================

:class:`~sklearn_curate.DataParameterScorer` trains a classifier in which every
training sample owns a learnable temperature (Saxena et al., 2019). Samples the
network cannot fit, mislabelled ones first, are given high temperatures, so the
temperature ranks the samples by how likely their label is wrong.

Here 10% of the digits' labels are moved to another class with
:func:`sklearn_curate.datasets.inject_label_noise`, and the scorer is asked to find
them. A short training (10 epochs instead of the default 40) keeps this example fast.
"""

# %%
# Plant label noise
# -----------------
import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import roc_auc_score

from sklearn_curate import DataParameterScorer
from sklearn_curate.datasets import inject_label_noise

X, y_clean = load_digits(return_X_y=True)
y_noisy, is_corrupted = inject_label_noise(y_clean, rate=0.1, random_state=0)
print(f"{is_corrupted.sum()} of {len(y_noisy)} labels moved to another class")

# %%
# Score every sample
# ------------------
# The default network is a small MLP on standardised features; any
# ``torch.nn.Module`` mapping a batch to logits can be passed as ``module``. With
# ``scoring="best_epoch"`` (the default) a first run on 90% of the rows picks the
# epoch at which held-out accuracy is best, and a second run on all rows ranks the
# samples by their temperature at that epoch.
scorer = DataParameterScorer(max_epochs=10, fraction=0.1, random_state=0, device="cpu")
scorer.fit(X, y_noisy)
print(f"best epoch {scorer.best_epoch_} of {scorer.max_epochs}")

# %%
# How well does the temperature find the flipped labels?
# -------------------------------------------------------
# ``scores_`` is minus the log temperature: lower = more likely mislabelled, dropped
# first. ``fit_resample`` drops the ``round(fraction * n)`` lowest.
auc = roc_auc_score(is_corrupted, -scorer.scores_)
dropped = ~scorer.support_
print(f"ROC AUC {auc:.3f}")
print(
    f"dropped {dropped.sum()} rows, {is_corrupted[dropped].sum()} of them flipped "
    f"(precision {is_corrupted[dropped].mean():.2f}, "
    f"recall {dropped[is_corrupted].mean():.2f})"
)

# %%
# Categories
# ----------
# Each sample is ``"easy"`` (its temperature fell, at the chosen epoch and on
# average), ``"hard"`` (it stayed raised: likely mislabelled or an outlier) or
# ``"need_review"`` (the two disagree).
for category in ["easy", "hard", "need_review"]:
    rows = scorer.categories_ == category
    print(f"{category:>11}: {rows.sum():4d} rows, {is_corrupted[rows].sum():3d} flipped")

# %%
# Look at the hardest ones
# ------------------------
# The given label, the true one, and the temperature at the chosen epoch.
hardest = np.argsort(scorer.scores_)[:8]
sigma = np.exp(-scorer.scores_)
for i in hardest:
    print(f"row {i:4d}: given {y_noisy[i]}, true {y_clean[i]}, sigma {sigma[i]:.2f}")

# %%
# The same step runs in the main job with ``sklearn-curate curate --mislabelled F``,
# whose report adds the temperature trajectories and a map of them
# (:func:`sklearn_curate.data_parameter_figures` gives those figures for any fitted
# scorer).
