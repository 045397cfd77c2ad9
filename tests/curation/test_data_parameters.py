"""DataParameterScorer: mislabelled-sample ranking on digits against cleanlab and the
small-loss baseline, the sparse data-parameter optimiser, the curator contract."""

import pickle

import numpy as np
import pytest
import torch
from imblearn.pipeline import make_pipeline as make_imb_pipeline
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, cross_val_predict, train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from torch import nn

from sklearn_curate.curation.data_parameters import (
    _LOG_SIGMA_MAX,
    _LOG_SIGMA_MIN,
    DataParameterScorer,
    _SparseSGD,
    _tempered_cross_entropy,
)
from sklearn_curate.datasets import inject_label_noise


@pytest.fixture(autouse=True)
def _one_thread():
    """Small networks train faster on one thread, and the CI box's 2 cores are shared."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# -- data ------------------------------------------------------------------------------
def corrupt(y, rate, seed=0):
    """Symmetric label noise in the training labels (see inject_label_noise)."""
    return inject_label_noise(y, rate, seed)


@pytest.fixture(scope="module")
def digits_split():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)


_FITS = {}


def fitted(digits_split, rate):
    """Default DataParameterScorer and the plain-training baseline at a noise rate (cached)."""
    if rate not in _FITS:
        Xtr, _, ytr, _ = digits_split
        yn, flag = corrupt(ytr, rate)
        dp = DataParameterScorer(fraction=rate, device="cpu", random_state=0).fit(Xtr, yn)
        plain = DataParameterScorer(
            learn_inst=False, learn_class=False, scoring="mean", device="cpu", random_state=0
        ).fit(Xtr, yn)
        _FITS[rate] = dp, plain, yn, flag
    return _FITS[rate]


def cleanlab_auroc(X, y, flag):
    """cleanlab's ranking: self-confidence of 5-fold out-of-sample LogisticRegression
    probabilities (the order of find_label_issues(..., return_indices_ranked_by=
    "self_confidence")), scored over all samples."""
    rank = pytest.importorskip("cleanlab.rank")
    lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    proba = cross_val_predict(lr, X, y, cv=5, method="predict_proba")
    quality = rank.get_label_quality_scores(y, proba, method="self_confidence")
    return roc_auc_score(flag, -quality)


# -- quality -----------------------------------------------------------------------------
@pytest.mark.parametrize("rate, bar", [(0.2, 0.98), (0.4, 0.97)])
def test_auroc_bars_and_plain_loss_baseline(digits_split, rate, bar):
    dp, plain, _, flag = fitted(digits_split, rate)
    ours = roc_auc_score(flag, -dp.scores_)
    # the small-loss baseline: per-sample training loss of the same MLP trained without
    # data parameters, averaged over the epochs
    base = roc_auc_score(flag, plain.loss_trajectories_.mean(1))
    assert np.allclose(plain.scores_, -plain.loss_trajectories_.mean(1))
    print(f"noise {rate}: data parameters {ours:.4f}, plain loss {base:.4f}")
    assert ours >= bar
    assert ours >= base - 0.005
    if rate == 0.4:
        assert ours > base


@pytest.mark.parametrize("rate", [0.2, 0.4])
def test_against_cleanlab(digits_split, rate):
    Xtr, _, _, _ = digits_split
    dp, _, yn, flag = fitted(digits_split, rate)
    cl = cleanlab_auroc(Xtr, yn, flag)
    ours = roc_auc_score(flag, -dp.scores_)
    print(f"noise {rate}: data parameters {ours:.4f}, cleanlab {cl:.4f}")
    assert ours >= cl - 0.005
    if rate == 0.4:
        assert ours > cl


@pytest.mark.parametrize("rate, bar", [(0.2, 0.94), (0.4, 0.90)])
def test_retrain_on_kept_rows(digits_split, rate, bar):
    Xtr, Xte, _, yte = digits_split
    dp, _, yn, _ = fitted(digits_split, rate)
    assert dp.n_removed_ == round(rate * len(yn))
    lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
    acc = lr.fit(Xtr[dp.support_], yn[dp.support_]).score(Xte, yte)
    print(f"noise {rate}: retrained LogisticRegression accuracy {acc:.4f}")
    assert acc >= bar


def test_best_epoch_beats_last_epoch(digits_split):
    dp, _, _, flag = fitted(digits_split, 0.4)
    last = roc_auc_score(flag, np.log(dp.trajectories_[:, -1]))
    assert roc_auc_score(flag, -dp.scores_) > last
    assert 1 <= dp.best_epoch_ <= dp.max_epochs
    assert dp.best_epoch_ == int(np.argmax(dp.validation_scores_)) + 1
    assert np.allclose(dp.scores_, -np.log(dp.trajectories_[:, dp.best_epoch_ - 1]), atol=1e-6)


def test_fitted_attributes(digits_split):
    dp, _, yn, _ = fitted(digits_split, 0.2)
    n = len(yn)
    assert dp.sigma_inst_.shape == (n,)
    assert dp.sigma_class_.shape == (10,)
    assert dp.trajectories_.shape == (n, dp.max_epochs)
    assert dp.loss_trajectories_.shape == (n, dp.max_epochs)
    assert dp.class_trajectories_.shape == (10, dp.max_epochs)
    lo, hi = np.exp(_LOG_SIGMA_MIN), np.exp(_LOG_SIGMA_MAX)
    assert dp.trajectories_.min() >= lo * (1 - 1e-5) and dp.trajectories_.max() <= hi * (1 + 1e-5)
    assert np.allclose(dp.sigma_inst_, dp.trajectories_[:, -1])
    # the temperatures moved both ways from their initial value 1
    assert (dp.sigma_inst_ > 1.05).any() and (dp.sigma_inst_ < 0.95).any()


def test_categories_rule(digits_split):
    dp, _, _, flag = fitted(digits_split, 0.2)
    log_traj = np.log(dp.trajectories_)
    chosen, mean = -dp.scores_, log_traj.mean(1)
    expected = np.where(
        (chosen <= 0) & (mean <= 0),
        "easy",
        np.where((chosen > 0) & (mean > 0), "hard", "need_review"),
    )
    assert (dp.categories_ == expected).all()
    assert set(dp.categories_) == {"easy", "hard", "need_review"}
    # the mislabelled samples are mostly "hard", the clean ones mostly "easy"
    assert np.mean(dp.categories_[flag] == "hard") > 0.8
    assert np.mean(dp.categories_[~flag] == "easy") > 0.95


def test_predict_of_trained_network(digits_split):
    Xtr, Xte, _, yte = digits_split
    dp, _, _, _ = fitted(digits_split, 0.2)
    proba = dp.predict_proba(Xte)
    assert proba.shape == (len(Xte), 10)
    assert np.allclose(proba.sum(1), 1)
    assert (dp.predict(Xte) == dp.classes_[proba.argmax(1)]).all()
    assert np.mean(dp.predict(Xte) == yte) > 0.9


# -- the data-parameter optimiser -------------------------------------------------------
def test_tempered_cross_entropy_matches_autograd():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(16, 5, generator=g, requires_grad=True)
    y = torch.randint(0, 5, (16,), generator=g)
    temp = (torch.rand(16, generator=g) + 0.5).requires_grad_(True)
    nll = nn.functional.cross_entropy(logits / temp[:, None], y, reduction="none")
    nll.sum().backward()  # d nll_i / d temp_i: each temp enters one loss only
    logits_grad_of_mean = torch.autograd.grad(
        nn.functional.cross_entropy(logits / temp[:, None], y), logits
    )[0]
    onehot = nn.functional.one_hot(y, 5).float()
    loss, g_logits, g_temp = _tempered_cross_entropy(logits.detach(), y, onehot, temp.detach())
    assert torch.allclose(loss, nll.detach(), atol=1e-6)
    assert torch.allclose(g_temp, temp.grad, atol=1e-5)
    assert torch.allclose(g_logits, logits_grad_of_mean, atol=1e-6)
    assert g_temp.abs().min() > 1e-4  # not trivially zero


def test_sparse_sgd_touches_only_the_batch():
    table = torch.zeros(10)
    opt = _SparseSGD(table, lr=0.5, weight_decay=0.1)
    opt.step(torch.tensor([1, 3]), torch.tensor([1.0, -1.0]))
    opt.step(torch.tensor([3, 4]), torch.tensor([2.0, 1.0]))
    before_buf, before = opt.buf.clone(), table.clone()
    # rows 1, 3 and 4 moved; the others kept value 0 and momentum 0 (no decay on them)
    assert set(torch.nonzero(table).flatten().tolist()) == {1, 3, 4}
    opt.step(torch.tensor([4]), torch.tensor([0.0]))
    untouched = torch.tensor([0, 1, 2, 3, 5, 6, 7, 8, 9])
    assert torch.equal(table[untouched], before[untouched])
    assert torch.equal(opt.buf[untouched], before_buf[untouched])
    # row 4: momentum 0.9 carried over, plus weight decay 0.1 * its value
    assert torch.isclose(opt.buf[4], 0.9 * before_buf[4] + 0.1 * before[4])
    # clamped to [1/20, 20] in log space
    opt.step(torch.tensor([0]), torch.tensor([1e6]))
    assert table[0] == pytest.approx(_LOG_SIGMA_MIN)


def test_masked_step_leaves_absent_classes():
    table = torch.zeros(4)
    opt = _SparseSGD(table, lr=1.0, weight_decay=0.0)
    opt.masked_step(torch.tensor([1, 1, 0, 0]), torch.tensor([1.0, -1.0, 0.0, 0.0]))
    opt.masked_step(torch.tensor([0, 1, 1, 0]), torch.tensor([0.0, 1.0, 1.0, 0.0]))
    assert table[0] == pytest.approx(-1.0)  # not moved by its momentum while absent
    assert opt.buf[0] == pytest.approx(1.0)
    assert table[1] == pytest.approx(1.0 - (0.9 * -1.0 + 1.0))
    assert table[3] == 0 and opt.buf[3] == 0


# -- contract, modules, errors -----------------------------------------------------------
@pytest.fixture(scope="module")
def small():
    X, y = load_digits(return_X_y=True)
    return X[:300], y[:300]


def quick(**kw):
    kw.setdefault("max_epochs", 3)
    kw.setdefault("device", "cpu")
    kw.setdefault("random_state", 0)
    return DataParameterScorer(**kw)


def test_fit_resample_contract(small):
    X, y = small
    w = np.arange(len(y), dtype=float)
    dp = quick(fraction=0.1)
    Xr, yr = dp.fit_resample(X, y, sample_weight=w)
    cut = dp.resample_params(sample_weight=w)
    assert Xr.shape == (270, 64) and yr.shape == (270,)
    assert (cut["sample_weight"] == w[dp.sample_indices_]).all()
    assert (dp.sample_indices_ == np.flatnonzero(dp.support_)).all()
    dropped = ~dp.support_
    assert dp.scores_[dropped].max() <= dp.scores_[dp.support_].min()
    assert (dp.get_support(indices=True) == dp.sample_indices_).all()
    assert (dp.device_, dp.backend_) == ("cpu", "torch")


def test_string_labels_and_predict(small):
    X, y = small
    names = np.array(list("abcdefghij"))[y]
    dp = quick(max_epochs=5).fit(X, names)
    assert list(dp.classes_) == list("abcdefghij")
    assert set(dp.predict(X)) <= set(dp.classes_)


def test_reproducible_with_random_state(small):
    X, y = small
    a = quick(random_state=3).fit(X, y)
    b = quick(random_state=3).fit(X, y)
    c = quick(random_state=4).fit(X, y)
    assert np.array_equal(a.scores_, b.scores_)
    assert np.array_equal(a.predict_proba(X), b.predict_proba(X))
    assert not np.array_equal(a.scores_, c.scores_)


def test_clone_pickle_get_params(small):
    X, y = small
    dp = quick(lr_inst=0.3, fraction=0.2)
    assert clone(dp).get_params() == dp.get_params()
    dp.fit(X, y)
    assert not hasattr(clone(dp), "scores_")
    back = pickle.loads(pickle.dumps(dp))
    assert np.array_equal(back.scores_, dp.scores_)
    assert np.array_equal(back.predict_proba(X), dp.predict_proba(X))


def test_custom_module_and_callable(small):
    X, y = small
    X = X / 16.0
    net = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    before = [p.detach().clone() for p in net.parameters()]
    dp = quick(module=net, max_epochs=4).fit(X, y)
    assert all(torch.equal(a, b) for a, b in zip(before, net.parameters(), strict=True))
    assert dp.module_ is not net
    assert dp.predict_proba(X).shape == (300, 10)

    def factory(n_features, n_classes):
        return nn.Sequential(nn.Linear(n_features, 16), nn.Tanh(), nn.Linear(16, n_classes))

    assert quick(module=factory, scoring="last").fit(X, y).trajectories_.shape == (300, 3)


def test_plain_training_is_the_small_loss_baseline(small):
    X, y = small
    dp = quick(learn_inst=False, learn_class=False).fit(X, y)
    assert np.allclose(dp.sigma_inst_, 1) and np.allclose(dp.sigma_class_, 1)
    assert np.allclose(dp.scores_, -dp.loss_trajectories_.mean(1))
    assert (dp.categories_ == "need_review").all()


@pytest.mark.parametrize(
    "params, match",
    [
        ({"fraction": 1.5}, "fraction"),
        ({"max_epochs": 0}, "max_epochs"),
        ({"lr": 0.0}, "lr"),
        ({"lr_inst": -1.0}, "lr_inst"),
        ({"scoring": "median"}, "scoring"),
        ({"validation_fraction": 0.9}, "validation_fraction"),
        ({"device": "tpu"}, "device"),
        ({"module": 3}, "module"),
    ],
)
def test_bad_params(small, params, match):
    X, y = small
    with pytest.raises(ValueError, match=match):
        quick(**params).fit(X, y)


def test_bad_inputs(small):
    X, y = small
    with pytest.raises(ValueError, match="requires y to be passed"):
        quick().fit(X)
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        quick().fit(X_nan, y)
    with pytest.raises(ValueError, match="class labels"):
        quick().fit(X, y + 0.5)
    with pytest.raises(ValueError, match="at least 2 classes"):
        quick().fit(X, np.zeros(len(y)))
    with pytest.raises(TypeError, match="not a torch.nn.Module"):
        quick(module=lambda d, c: None).fit(X, y)
    dp = quick().fit(X, y)
    with pytest.raises(ValueError, match="features"):
        dp.predict(X[:, :10])


def test_gridsearch_in_imblearn_pipeline(small):
    X, y = small
    pipe = make_imb_pipeline(
        quick(max_epochs=2, scoring="mean"),
        make_pipeline(StandardScaler(), LogisticRegression(max_iter=300)),
    )
    grid = GridSearchCV(
        pipe,
        {
            "dataparameterscorer__fraction": [0.0, 0.1],
            "dataparameterscorer__lr_inst": [0.05, 0.2],
            "dataparameterscorer__lr_class": [0.01, 0.1],
        },
        cv=2,
    ).fit(X, y)
    assert len(grid.cv_results_["mean_test_score"]) == 8
    assert grid.best_score_ > 0.8


def test_epoch_deferred_steps_equal_sparse_steps():
    """Recording each batch's gradient and stepping at the end of the epoch is ``step``
    after every batch: within an epoch every row is in exactly one batch."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.zeros(10), torch.zeros(10)
    opt_a = _SparseSGD(a, lr=0.3, weight_decay=0.05)
    opt_b = _SparseSGD(b, lr=0.3, weight_decay=0.05)
    for _ in range(3):
        perm = torch.randperm(10, generator=g)
        sigma = opt_b.begin_epoch(perm)
        assert torch.allclose(sigma, a[perm].exp())
        for start in range(0, 10, 4):
            rows = perm[start : start + 4]
            grad_sigma = torch.randn(len(rows), generator=g)
            # the gradient with respect to log sigma is sigma * d/dsigma
            opt_a.step(rows, grad_sigma * a[rows].exp())
            opt_b.record(start, start + 4, grad_sigma)
        opt_b.end_epoch()
    assert torch.allclose(a, b) and torch.allclose(opt_a.buf, opt_b.buf)
    assert not torch.equal(a, torch.zeros(10))
