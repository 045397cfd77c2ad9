"""method="arnoldi" (Schioppa et al. 2022) against the exact solver on a small CNN."""

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr, spearmanr
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from torch import nn

from sklearn_curate.curation.influence import InfluenceScorer


@pytest.fixture(scope="module")
def cnn():
    """Conv2d(1, 2, 3), tanh, Linear(72, 10): 750 parameters, Adam-trained on 200 digits."""
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 1, 8, 8)
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Tanh(), nn.Flatten(), nn.Linear(72, 10))
    opt = torch.optim.Adam(net.parameters(), lr=0.02, weight_decay=1e-3)
    Xt, yt = torch.as_tensor(X[:200], dtype=torch.float32), torch.as_tensor(y[:200])
    for _ in range(300):
        opt.zero_grad()
        nn.functional.cross_entropy(net(Xt), yt).backward()
        opt.step()
    return net, X[:200], y[:200], X[1500:1505], y[1500:1505]


KW = dict(refit=False, damping=0.05, weight_decay=1e-3, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def exact(cnn):
    net, Xtr, ytr, Xte, yte = cnn
    s = InfluenceScorer(net, method="exact", **KW).fit(Xtr, ytr)
    return s, s.influence(Xte, yte)


def test_full_krylov_space_is_exact(cnn, exact):
    """750 steps on 750 parameters: the whole space, every eigenpair; equals exact."""
    net, Xtr, ytr, Xte, yte = cnn
    ex, want = exact
    s = InfluenceScorer(net, method="arnoldi", arnoldi_iter=750, arnoldi_rank=750, **KW)
    s.fit(Xtr, ytr)
    assert (s.method_, s.self_influence_method_) == ("arnoldi", "arnoldi")
    np.testing.assert_allclose(s.influence(Xte, yte), want, rtol=1e-6, atol=1e-9 * abs(want).max())
    np.testing.assert_allclose(s.self_influence_, ex.self_influence_, rtol=1e-6)
    # the Ritz values are the Hessian's eigenvalues
    H = ex._obj.hessian()
    lam = np.sort(torch.linalg.eigvalsh(H).numpy())
    np.testing.assert_allclose(np.sort(s.arnoldi_eigenvalues_), lam, rtol=1e-6, atol=1e-9)


def test_low_rank_tracks_exact(cnn, exact):
    """The default budget (200 steps, top 100 eigenpairs) on 750 parameters."""
    net, Xtr, ytr, Xte, yte = cnn
    ex, want = exact
    s = InfluenceScorer(net, method="arnoldi", **KW).fit(Xtr, ytr)
    assert len(s.arnoldi_eigenvalues_) <= 100
    got = s.influence(Xte, yte)
    sp = [spearmanr(got[j], want[j])[0] for j in range(5)]
    pe = [pearsonr(got[j], want[j])[0] for j in range(5)]
    # measured: Spearman 0.977-0.996, Pearson 0.998-0.999 over the 200-wide rows;
    # self-influence Spearman 0.9998
    assert min(sp) >= 0.95 and min(pe) >= 0.99
    assert spearmanr(s.self_influence_, ex.self_influence_)[0] >= 0.999
    # the largest Ritz values converge first: they match the Hessian's
    lam = torch.linalg.eigvalsh(ex._obj.hessian()).numpy()[::-1]
    np.testing.assert_allclose(np.sort(s.arnoldi_eigenvalues_)[::-1][:10], lam[:10], rtol=1e-6)


def test_logistic_and_errors():
    X, y = load_digits(return_X_y=True)
    X, y = X[:300] / 16.0, y[:300]
    est = LogisticRegression(C=1.0, max_iter=1000)
    ex = InfluenceScorer(est, method="exact", device="cpu").fit(X, y)
    ar = InfluenceScorer(est, method="arnoldi", arnoldi_iter=650, arnoldi_rank=650, device="cpu")
    ar.fit(X, y)
    # LogisticRegression's Hessian is singular along the softmax's redundant direction
    # (its port adds it back for "exact"); compare where the gradients live
    np.testing.assert_allclose(
        ar.influence(X[:3], y[:3]), ex.influence(X[:3], y[:3]), rtol=1e-5, atol=1e-8
    )
    with pytest.raises(ValueError, match="arnoldi_rank"):
        InfluenceScorer(est, method="arnoldi", arnoldi_rank=0).fit(X, y)
