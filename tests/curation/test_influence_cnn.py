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
