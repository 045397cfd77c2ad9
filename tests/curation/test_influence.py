"""InfluenceScorer on the real digits: agreement with the exact solution and with
leave-one-out retraining, the binary case, errors and the estimator contract."""

import pickle

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr, spearmanr
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from sklearn_curate import save_influence
from sklearn_curate.curation.influence import InfluenceScorer


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    return train_test_split(X, y, train_size=1500, random_state=0)


@pytest.fixture(scope="module")
def fitted(digits):
    Xtr, Xte, ytr, yte = digits
    s = InfluenceScorer(LogisticRegression(C=1.0, max_iter=1000), method="exact", device="cpu")
    return s.fit(Xtr, ytr)


@pytest.fixture(scope="module")
def exact(fitted, digits):
    _, Xte, _, yte = digits
    return fitted.influence(Xte[:5], yte[:5])


def test_shape_sign_and_polish(fitted, exact, digits):
    assert exact.shape == (5, 1500)
    assert fitted.grad_norm_ < 1e-10
    assert fitted.n_params_ == 10 * 65
    # self-influence is >= 0 and scores_ is its negative
    assert np.all(fitted.self_influence_ > -1e-12)
    np.testing.assert_allclose(fitted.scores_, -fitted.self_influence_)
    assert fitted.n_removed_ == 15 and (~fitted.support_).sum() == 15
    assert np.all(fitted.scores_[~fitted.support_].max() <= fitted.scores_[fitted.support_].min())


def test_cg_matches_exact(fitted, exact, digits):
    _, Xte, _, yte = digits
    cg = fitted.influence(Xte[:5], yte[:5], method="cg")
    for j in range(5):
        assert spearmanr(cg[j], exact[j])[0] >= 0.9995
    np.testing.assert_allclose(cg, exact, atol=1e-6 * np.abs(exact).max())


def test_lissa_defaults_converge(fitted, exact, digits):
    _, Xte, _, yte = digits
    li = fitted.influence(Xte[:2], yte[:2], method="lissa")
    for j in range(2):
        assert spearmanr(li[j], exact[j])[0] >= 0.95  # bar 0.9


def test_exact_matches_leave_one_out(fitted, exact, digits):
    _, Xte, _, yte = digits
    pred, true = [], []
    for j in range(2):
        idx = np.argsort(-np.abs(exact[j]))[:10]
        true.append(fitted.loss_change_on_removal(Xte[j : j + 1], yte[j : j + 1], idx)[0])
        pred.append(exact[j, idx])
    assert max(fitted.loo_grad_norms_) < 1e-10
    assert pearsonr(np.concatenate(pred), np.concatenate(true))[0] >= 0.985  # bar 0.99 pooled


def test_top_k_and_save(fitted, exact, digits, tmp_path):
    _, Xte, _, yte = digits
    top = fitted.top_k(Xte[:5], yte[:5], k=5, method="exact")
    np.testing.assert_array_equal(top["helpful"][:, 0], exact.argmax(1))
    np.testing.assert_array_equal(top["harmful"][:, 0], exact.argmin(1))
    assert np.all(top["helpful_influence"][:, 0] > 0) and np.all(top["harmful_influence"][:, 0] < 0)
    paths = save_influence(fitted, Xte[:2], yte[:2], tmp_path, image_shape=(8, 8), method="exact")
    np.testing.assert_allclose(np.load(tmp_path / "influence_00001.npy"), exact[1])
    from PIL import Image

    assert Image.open(tmp_path / "top_00000.png").size[0] > 6 * 64
    assert len(paths) == 2 + 1 + 2


def test_binary_logistic_vs_retraining():
    X, y = load_digits(n_class=2, return_X_y=True)
    X = X / 16.0
    s = InfluenceScorer(LogisticRegression(C=0.3), method="cg", device="cpu").fit(X[:300], y[:300])
    assert s.n_params_ == 65
    inf = s.influence(X[300:302], y[300:302])
    ex = s.influence(X[300:302], y[300:302], method="exact")
    np.testing.assert_allclose(inf, ex, rtol=1e-6, atol=1e-12)
    idx = np.argsort(-np.abs(ex[0]))[:10]
    true = s.loss_change_on_removal(X[300:301], y[300:301], idx)[0]
    assert pearsonr(ex[0, idx], true)[0] > 0.98


def test_torch_mlp_runs_and_tracks_retraining():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0)[:300]
    y = y[:300]
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 8), torch.nn.Tanh(), torch.nn.Linear(8, 10))
    s = InfluenceScorer(
        net, weight_decay=1e-2, method="exact", device="cpu", tol=1e-9, max_iter=300
    )
    s.fit(X, y)
    assert s.grad_norm_ < 1e-7
    inf = s.influence(X[:1], y[:1])
    idx = np.argsort(-np.abs(inf[0]))[:8]
    true = s.loss_change_on_removal(X[:1], y[:1], idx, tol=1e-9)[0]
    assert max(s.loo_grad_norms_) < 1e-9  # every retraining converged (Newton-chord)
    assert pearsonr(inf[0, idx], true)[0] > 0.8  # measured 0.99


def test_errors(fitted, digits):
    Xtr, Xte, ytr, yte = digits
    with pytest.raises(Exception, match="not fitted"):
        InfluenceScorer().influence(Xte, yte)
    with pytest.raises(ValueError, match="method"):
        InfluenceScorer(method="newton").fit(Xtr[:100], ytr[:100])
    with pytest.raises(ValueError, match="method"):
        fitted.influence(Xte[:2], yte[:2], method="bogus")
    with pytest.raises(ValueError):
        fitted.influence(Xte[:3], yte[:2])
    with pytest.raises(ValueError, match="features"):
        fitted.influence(Xte[:2, :10], yte[:2])
    s = InfluenceScorer(
        LogisticRegression(),
        method="lissa",
        lissa_scale=1.0,
        device="cpu",
        self_influence_method="exact",
    )
    s.fit(Xtr[:200], ytr[:200])
    with pytest.raises(ValueError, match="lissa_scale=1.0 is not above"):
        s.influence(Xte[:1], yte[:1])
    with pytest.raises(ValueError, match="L2 penalty"):
        InfluenceScorer(LogisticRegression(l1_ratio=1.0, solver="saga")).fit(Xtr[:50], ytr[:50])
    with pytest.raises(ValueError, match="requires y"):
        InfluenceScorer().fit(Xtr[:50])


def test_clone_pickle_params(fitted, exact, digits):
    _, Xte, _, yte = digits
    c = clone(fitted)
    assert c.get_params()["method"] == "exact" and not hasattr(c, "scores_")
    c.set_params(damping=0.5, fraction=0.1)
    assert c.damping == 0.5
    p = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_allclose(p.influence(Xte[:5], yte[:5]), exact)
    net = torch.nn.Linear(64, 10)
    cn = clone(InfluenceScorer(net, weight_decay=0.1))
    assert isinstance(cn.estimator, torch.nn.Linear) and cn.estimator is not net


def test_fit_resample_drops_fraction(digits):
    Xtr, _, ytr, _ = digits
    s = InfluenceScorer(LogisticRegression(), fraction=0.1, device="cpu")
    Xr, yr = s.fit_resample(Xtr[:200], ytr[:200])
    assert Xr.shape == (180, 64) and yr.shape == (180,)
    assert (s.device_, s.backend_) == ("cpu", "torch")
