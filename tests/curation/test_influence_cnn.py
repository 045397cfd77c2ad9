"""InfluenceScorer on convolutional networks: image-shaped input (n, C, H, W)."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from torch import nn

from sklearn_curate.curation.influence import InfluenceScorer


@pytest.fixture(scope="module")
def images():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 1, 8, 8)
    return X[:200], y[:200], X[1500:1505], y[1500:1505]


def tiny_cnn(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.Tanh(), nn.Flatten(), nn.Linear(2 * 6 * 6, 10))


def test_images_match_flattened_model(images):
    Xtr, ytr, Xte, yte = images
    cnn = tiny_cnn()
    # untrained: the damping makes the Hessian positive definite
    kw = dict(refit=False, polish=False, damping=1.0, method="exact", device="cpu")
    s4 = InfluenceScorer(cnn, fraction=0.1, **kw)
    Xr, yr = s4.fit_resample(Xtr, ytr)
    assert Xr.shape == (180, 1, 8, 8) and yr.shape == (180,)
    np.testing.assert_array_equal(Xr, Xtr[s4.sample_indices_])
    assert s4.sample_shape_ == (1, 8, 8) and not hasattr(s4, "n_features_in_")
    inf4 = s4.influence(Xte, yte)
    assert inf4.shape == (5, 200)

    wrapped = nn.Sequential(nn.Unflatten(1, (1, 8, 8)), cnn)
    s2 = InfluenceScorer(wrapped, fraction=0.1, **kw).fit(Xtr.reshape(200, -1), ytr)
    assert s2.n_features_in_ == 64 and s2.sample_shape_ == (64,)
    inf2 = s2.influence(Xte.reshape(5, -1), yte)
    np.testing.assert_allclose(inf4, inf2, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(s4.scores_, s2.scores_, rtol=1e-9, atol=1e-14)
    np.testing.assert_array_equal(s4.support_, s2.support_)
    # float32 input and a torch tensor give the same influences
    inf_t = s4.influence(torch.as_tensor(Xte, dtype=torch.float32), yte)
    np.testing.assert_allclose(inf_t, s4.influence(Xte.astype(np.float32), yte))


def test_images_refit_trains(images):
    Xtr, ytr, Xte, yte = images
    s = InfluenceScorer(
        tiny_cnn(), weight_decay=1e-2, max_iter=50, tol=1e-6, polish=False, device="cpu"
    ).fit(Xtr[:100], ytr[:100])
    first = s.estimator_[0].weight.detach()
    assert not torch.equal(first, tiny_cnn()[0].weight.double())  # trained, on a copy
    assert np.isfinite(s.influence(Xte[:2], yte[:2])).all()


def test_image_errors(images):
    Xtr, ytr, Xte, yte = images
    with pytest.raises(ValueError, match=r"LogisticRegression needs 2-D X"):
        InfluenceScorer(device="cpu").fit(Xtr, ytr)
    with pytest.raises(ValueError, match=r"LogisticRegression needs 2-D X"):
        InfluenceScorer(LogisticRegression(), device="cpu").fit(Xtr, ytr)
    s = InfluenceScorer(tiny_cnn(), refit=False, polish=False, damping=3.0, device="cpu")
    s.fit(Xtr[:50], ytr[:50])
    with pytest.raises(ValueError, match=r"samples of shape \(1, 7, 8\)"):
        s.influence(Xte[:, :, :7], yte)
    with pytest.raises(ValueError, match="one target per test sample"):
        s.influence(Xte, yte[:2])
    with pytest.raises(ValueError, match="feature names"):
        s.get_feature_names_out()
    bad = Xtr[:50].copy()
    bad[3, 0, 2, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        s.fit(bad, ytr[:50])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        s.fit(Xtr[:50], ytr[:40])


@pytest.fixture(scope="module")
def trained(images):
    """The tiny CNN trained by Adam (float32, full batch, weight decay)."""
    Xtr, ytr, _, _ = images
    net = tiny_cnn(1)
    opt = torch.optim.Adam(net.parameters(), lr=0.02, weight_decay=1e-3)
    X, y = torch.as_tensor(Xtr, dtype=torch.float32), torch.as_tensor(ytr)
    for _ in range(300):
        opt.zero_grad()
        nn.functional.cross_entropy(net(X), y).backward()
        opt.step()
    return net


def test_layers_last_equals_hessian_block(images, trained):
    Xtr, ytr, Xte, yte = images
    kw = dict(refit=False, polish=False, damping=0.05, weight_decay=1e-3, device="cpu")
    full = InfluenceScorer(trained, method="exact", **kw).fit(Xtr, ytr)
    last = InfluenceScorer(trained, method="exact", layers=["3"], **kw).fit(Xtr, ytr)
    assert (full.n_params_, last.n_params_) == (20 + 730, 730)
    np.testing.assert_array_equal(last.params_, full.params_[20:])
    # exact influence on the last layer's parameters alone: its Hessian block
    obj = full._obj
    B = slice(20, 750)
    H = obj.hessian()[B, B] + 0.05 * torch.eye(730, dtype=torch.float64)
    Gtr = obj.per_sample_grads(obj.X, obj.Y)[:, B]
    Xt = torch.as_tensor(Xte)
    Gte = obj.per_sample_grads(Xt, torch.as_tensor(yte))[:, B]
    want = (obj.c * Gte @ torch.linalg.solve(H, Gtr.T)).numpy()
    np.testing.assert_allclose(last.influence(Xte, yte), want, rtol=1e-8, atol=1e-14)
    self_inf = obj.c * (Gtr * torch.linalg.solve(H, Gtr.T).T).sum(1)
    np.testing.assert_allclose(last.self_influence_, self_inf.numpy(), rtol=1e-8)
    # the frozen layer is untouched; the full-network influences differ
    assert not np.allclose(full.influence(Xte, yte), want, rtol=1e-2)


def test_layers_refit_trains_only_those(images, trained):
    Xtr, ytr, Xte, yte = images
    s = InfluenceScorer(
        trained, layers=("3",), weight_decay=1e-2, tol=1e-9, method="exact", device="cpu"
    ).fit(Xtr, ytr)
    assert s.grad_norm_ < 1e-9  # convex in the last layer: L-BFGS reaches the optimum
    torch.testing.assert_close(s.estimator_[0].weight, trained[0].weight.double())
    assert not torch.allclose(s.estimator_[3].weight, trained[3].weight.double())
    assert np.all(s.self_influence_ > 0)


def test_layers_errors(images, trained):
    Xtr, ytr, _, _ = images
    with pytest.raises(ValueError, match=r"no sub-module named 'fc'.*\['0', '3'\]"):
        InfluenceScorer(trained, layers=["fc"], refit=False, device="cpu").fit(Xtr, ytr)
    with pytest.raises(ValueError, match="select no trainable parameters"):
        InfluenceScorer(trained, layers=["1"], refit=False, device="cpu").fit(Xtr, ytr)
    with pytest.raises(ValueError, match="torch modules only"):
        InfluenceScorer(LogisticRegression(), layers=["0"]).fit(Xtr.reshape(200, -1), ytr)
    with pytest.raises(ValueError, match="layers"):
        InfluenceScorer(trained, layers="3").fit(Xtr, ytr)


def wide_cnn(seed=0):
    """6,668 parameters: above the 5,000 that refit="auto" trains."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(1, 8, 3),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(8 * 6 * 6, 22),
        nn.Tanh(),
        nn.Linear(22, 10),
    )


def test_auto_refit_and_polish(images, trained):
    Xtr, ytr, Xte, yte = images
    net = wide_cnn()
    s = InfluenceScorer(net, damping=1.0, method="cg", device="cpu").fit(Xtr[:40], ytr[:40])
    assert s.n_params_ == 6668 and (s.refit_, s.polish_) == (False, False)
    want = torch.cat([p.detach().reshape(-1) for p in net.parameters()]).double().numpy()
    np.testing.assert_array_equal(s.params_, want)  # taken as trained, not moved
    # small: trained and polished here, as before
    s = InfluenceScorer(tiny_cnn(), weight_decay=1e-2, max_iter=30, tol=1e-6, device="cpu")
    s.fit(Xtr[:60], ytr[:60])
    assert (s.refit_, s.polish_) == (True, True)
    s = InfluenceScorer(trained, refit=False, damping=0.05, device="cpu").fit(Xtr, ytr)
    assert (s.refit_, s.polish_) == (False, False)
    assert s.self_influence_method_ == "exact"
    # test points in batches give the same influences
    s.set_params(batch_size=2)
    np.testing.assert_allclose(
        s.influence(Xte, yte), s.set_params(batch_size=512).influence(Xte, yte)
    )


@pytest.fixture(scope="module")
def cnn2():
    """Two conv layers and a linear one (1,626 parameters), Adam-trained on 1,500 digits."""
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 1, 8, 8)
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.Tanh(),
        nn.Conv2d(4, 8, 3),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(128, 10),
    )
    opt = torch.optim.Adam(net.parameters(), lr=0.01, weight_decay=1e-3)
    Xt, yt = torch.as_tensor(X[:1500], dtype=torch.float32), torch.as_tensor(y[:1500])
    for _ in range(400):
        opt.zero_grad()
        nn.functional.cross_entropy(net(Xt), yt).backward()
        opt.step()
    return net, X[:1500], y[:1500], X[1500:1505], y[1500:1505]


def test_ekfac_eigenvalues_are_projected_gradients(images):
    """With the empirical Fisher, the corrected eigenvalues are the mean squares of the
    autograd per-sample gradients in the Kronecker eigenbasis (checks the layer inputs,
    unfolded patches with stride / padding, output gradients and the block layout)."""
    Xtr, ytr, _, _ = images
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.Tanh(),
        nn.Conv2d(4, 8, 3, padding=1, stride=2),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(8 * 3 * 3, 10),
    )
    s = InfluenceScorer(
        net, method="ekfac", fisher="empirical", refit=False, damping=0.1, device="cpu"
    ).fit(Xtr, ytr)
    sol = s._solvers["ekfac"]
    G = s._obj.per_sample_grads(s._obj.X, s._obj.Y)
    for layer, P in sol._project(G):
        lam = sol.lambdas[layer.name]
        torch.testing.assert_close((P * P).mean(0), lam, rtol=1e-9, atol=1e-14 * float(lam.max()))
    np.testing.assert_allclose(sol.quad(G[:7]), (sol.solve(G[:7]) * G[:7]).sum(1), rtol=1e-10)
    M = sol.solve(G[:20]) @ G[:20].T
    torch.testing.assert_close(M, M.T, rtol=1e-10, atol=1e-14 * float(M.abs().max()))


def test_ekfac_tracks_dense_gauss_newton(cnn2):
    from scipy.stats import pearsonr, spearmanr
    from torch.func import jacrev, vmap

    net, Xtr, ytr, Xte, yte = cnn2
    kw = dict(refit=False, weight_decay=1e-3, device="cpu", random_state=0)
    ek = InfluenceScorer(net, method="ekfac", damping=0.1, **kw).fit(Xtr, ytr)
    assert (ek.method_, ek.self_influence_method_, ek.fisher_) == ("ekfac", "ekfac", "sampled")
    inf = ek.influence(Xte, yte)
    # dense Gauss-Newton of the mean cross-entropy + weight decay + the same damping
    obj = ek._obj
    J = vmap(jacrev(lambda t, x: obj.forward(t, x[None])[0]), in_dims=(None, 0))(obj.theta, obj.X)
    with torch.no_grad():
        P = torch.softmax(obj.forward(obj.theta, obj.X), 1)
    Hout = torch.diag_embed(P) - P[:, :, None] * P[:, None, :]
    ggn = torch.einsum("nkp,nkl,nlq->pq", J, Hout, J) / 1500
    ggn += (1e-3 + 0.1) * torch.eye(1626, dtype=torch.float64)
    Gtr = obj.per_sample_grads(obj.X, obj.Y)
    Gte = obj.per_sample_grads(torch.as_tensor(Xte), torch.as_tensor(yte))
    S = torch.linalg.solve(ggn, Gtr.T)
    want = (obj.c * Gte @ S).numpy()
    want_self = (obj.c * (Gtr * S.T).sum(1)).numpy()
    # measured (5 test points, 1,500-wide rows): Spearman >= 0.58, Pearson >= 0.88;
    # self-influence Spearman 0.9996
    for j in range(5):
        assert spearmanr(inf[j], want[j])[0] >= 0.5
        assert pearsonr(inf[j], want[j])[0] >= 0.8
    assert spearmanr(ek.self_influence_, want_self)[0] >= 0.99
    # damping="auto": 0.1 times each layer's mean corrected eigenvalue
    auto = InfluenceScorer(net, method="ekfac", **kw).fit(Xtr, ytr)
    lam = auto._solvers["ekfac"].lambdas
    assert auto.ekfac_damping_ == pytest.approx({k: 0.1 * float(v.mean()) for k, v in lam.items()})


def test_ekfac_auto_and_errors(images):
    Xtr, ytr, Xte, yte = images
    # above 5,000 parameters, all in Linear / Conv2d: auto picks EK-FAC, taken as trained
    s = InfluenceScorer(wide_cnn(), device="cpu", random_state=0).fit(Xtr, ytr)
    assert (s.method_, s.self_influence_method_, s.refit_) == ("ekfac", "ekfac", False)
    assert set(s.ekfac_damping_) == {"0", "3", "5"}
    assert s.influence(Xte, yte).shape == (5, 200) and np.all(s.self_influence_ > 0)
    with pytest.raises(ValueError, match="torch modules"):
        InfluenceScorer(method="ekfac", device="cpu").fit(Xtr.reshape(200, -1), ytr)
    torch.manual_seed(0)
    normed = nn.Sequential(nn.Flatten(), nn.Linear(64, 80), nn.LayerNorm(80), nn.Linear(80, 10))
    with pytest.raises(ValueError, match=r"other modules: \['2.weight', '2.bias'\]"):
        InfluenceScorer(normed, method="ekfac", refit=False, device="cpu").fit(Xtr, ytr)
    # layers= leaves the LayerNorm out; auto falls back to CG when it cannot
    s = InfluenceScorer(normed, method="ekfac", layers=["1", "3"], refit=False, device="cpu")
    assert np.isfinite(s.fit(Xtr, ytr).scores_).all()
    wide = nn.Sequential(nn.Flatten(), nn.Linear(64, 80), nn.LayerNorm(80), nn.Linear(80, 70))
    s = InfluenceScorer(wide, refit=False, damping=10.0, device="cpu").fit(Xtr[:30], ytr[:30])
    assert s.n_params_ > 5000 and s.method_ == "cg"


def test_ekfac_self_influence_from_layer_passes(images):
    """scores_ with EK-FAC come from per-layer hooks, not whole-vector gradients: the
    same quadratic forms as quad() of autograd per-sample gradients (strided, padded
    conv, biases, a layer without bias)."""
    Xtr, ytr, _, _ = images
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.Tanh(),
        nn.Conv2d(4, 8, 3, padding=1, stride=2, bias=False),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(8 * 3 * 3, 10),
    )
    s = InfluenceScorer(
        net,
        method="ekfac",
        refit=False,
        weight_decay=1e-3,
        batch_size=64,
        random_state=0,
        device="cpu",
    ).fit(Xtr, ytr)
    obj = s._obj
    want = obj.c * s._solvers["ekfac"].quad(obj.per_sample_grads(obj.X, obj.Y))
    np.testing.assert_allclose(s.self_influence_, want.numpy(), rtol=1e-9)
    cached = InfluenceScorer(
        net,
        method="ekfac",
        refit=False,
        weight_decay=1e-3,
        cache_gradients=True,
        random_state=0,
        device="cpu",
    ).fit(Xtr, ytr)
    np.testing.assert_allclose(cached.self_influence_, s.self_influence_, rtol=1e-9)
