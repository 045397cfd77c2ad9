"""Agreement of every influence method with the dense exact one on a two-conv-layer CNN.

Issue 16, section 2 (``benchmarks/bench_influence_lds.py`` measures the same on a larger
net with the linear datamodeling score). Every method at the same damping, so that each
approximates the same ``(H + damping I)^-1``; the Hessian is that of the Adam-trained
network, taken as trained (``refit=False``). Arnoldi against exact is in
``test_influence_arnoldi.py``, EK-FAC against the dense Gauss-Newton matrix in
``test_influence_cnn.py``.
"""

import numpy as np
import pytest
import torch
from scipy.stats import pearsonr, spearmanr
from sklearn.datasets import load_digits
from torch import nn

from sklearn_curate.curation.influence import InfluenceScorer

N = 150  # training digits
KW = dict(refit=False, damping=0.1, weight_decay=1e-3, device="cpu", random_state=0)


@pytest.fixture(scope="module")
def cnn():
    """Conv2d(1, 2, 3), tanh, Conv2d(2, 4, 3), tanh, Linear(64, 10): 746 parameters,
    Adam-trained on 150 digits; 5 test digits."""
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 1, 8, 8)
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 2, 3),
        nn.Tanh(),
        nn.Conv2d(2, 4, 3),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(64, 10),
    )
    opt = torch.optim.Adam(net.parameters(), lr=0.02, weight_decay=1e-3)
    Xt, yt = torch.as_tensor(X[:N], dtype=torch.float32), torch.as_tensor(y[:N])
    for _ in range(200):
        opt.zero_grad()
        nn.functional.cross_entropy(net(Xt), yt).backward()
        opt.step()
    return net, X[:N], y[:N], X[1500:1505], y[1500:1505]


@pytest.fixture(scope="module")
def exact(cnn):
    net, Xtr, ytr, Xte, yte = cnn
    s = InfluenceScorer(net, method="exact", **KW).fit(Xtr, ytr)
    return s, s.influence(Xte, yte)


def _rows(got, want, corr):
    return np.array([corr(got[j], want[j])[0] for j in range(want.shape[0])])


def test_iterative_solvers_match_exact(cnn, exact):
    """CG and full-batch LiSSA solve the same damped system: they agree with the
    Cholesky solve to their tolerances (not merely in rank); LiSSA on two test points (about 110 full-batch steps)."""
    net, Xtr, ytr, Xte, yte = cnn
    ex, want = exact
    scale = abs(want).max()
    np.testing.assert_allclose(ex.influence(Xte, yte, method="cg"), want, atol=1e-8 * scale)
    lissa = ex.influence(Xte[:2], yte[:2], method="lissa")
    want = want[:2]
    # measured: 114 iterations to the relative change 1e-6; largest error 1.1e-6 of the
    # largest influence
    assert ex._solvers["lissa"].n_iter_ < ex.lissa_depth
    np.testing.assert_allclose(lissa, want, atol=1e-5 * scale)
    assert _rows(lissa, want, spearmanr).min() >= 0.999


def test_ekfac_tracks_exact_hessian(cnn, exact):
    """EK-FAC (a Kronecker-factored Gauss-Newton, no curvature between layers) against
    the dense Hessian with the same constant damping."""
    net, Xtr, ytr, Xte, yte = cnn
    ex, want = exact
    got = ex.influence(Xte, yte, method="ekfac")
    sp, pe = _rows(got, want, spearmanr), _rows(got, want, pearsonr)
    # measured over the 150-wide rows: Spearman 0.86-0.92 (median 0.89), Pearson
    # 0.92-0.98
    assert sp.min() >= 0.8 and np.median(sp) >= 0.85
    assert pe.min() >= 0.88


def test_last_layer_is_a_different_answer(cnn, exact):
    """The last layer alone (its exact Hessian block) agrees with the whole network's
    exact influence far less than EK-FAC does, and less than the plain gradient dot
    product: the convolutions' parameters carry much of the influence."""
    net, Xtr, ytr, Xte, yte = cnn
    ex, want = exact
    last = InfluenceScorer(net, method="exact", layers=["5"], **KW).fit(Xtr, ytr)
    assert last.n_params_ == 650
    got = last.influence(Xte, yte)
    sp = _rows(got, want, spearmanr)
    obj = ex._obj
    G = obj.per_sample_grads(obj.X, obj.Y)
    Gt = obj.per_sample_grads(torch.as_tensor(Xte), torch.as_tensor(yte))
    dot = _rows((Gt @ G.T).numpy(), want, spearmanr)
    ek = _rows(ex.influence(Xte, yte, method="ekfac"), want, spearmanr)
    # measured: last layer Spearman 0.33-0.55 (median 0.42); gradient dot product
    # median 0.79; EK-FAC median 0.89
    assert 0.3 <= np.median(sp) <= 0.6
    assert np.median(sp) < np.median(dot) - 0.2
    assert np.median(dot) < np.median(ek)
