import pickle

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.decomposition import PCA
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier

from sklearn_curate.datasets import make_faulty_digits
from sklearn_curate.reduction import _reducer as reduction
from sklearn_curate.reduction._reducer import GPUReducer, _torch_pca_fit
from sklearn_curate.utils._device import DeviceChoice

# few epochs keep UMAP at about a second on 2 cores; the layout is still good
FAST_UMAP = {"n_epochs": 100}


@pytest.fixture(scope="module")
def digits():
    d = make_faulty_digits("none")
    return d.data / 16.0, d.target


def _knn_accuracy(Z, y):
    return cross_val_score(KNeighborsClassifier(5), Z, y, cv=3).mean()


# -- quality on real data --------------------------------------------------------------------------
def test_umap_keeps_digit_classes_separable(digits):
    X, y = digits
    red = GPUReducer("umap", n_components=2, random_state=0, device="cpu", method_kwargs=FAST_UMAP)
    Z = red.fit_transform(X)
    assert Z.shape == (len(X), 2) and isinstance(Z, np.ndarray)
    assert (red.device_, red.backend_, red.n_neighbors_) == ("cpu", "umap-learn", 15)
    np.testing.assert_array_equal(Z, red.embedding_)
    # 64 raw pixels score 0.96, 2 UMAP dimensions 0.98, 2 PCA ones 0.6
    assert _knn_accuracy(Z, y) > 0.93

    # new data land next to their class: fit on 1200 digits, classify 597 projected ones
    red_train = GPUReducer("umap", random_state=0, device="cpu", method_kwargs=FAST_UMAP)
    Z_train = red_train.fit_transform(X[:1200])
    Z_new = red_train.transform(X[1200:])
    assert Z_new.shape == (597, 2)
    acc = KNeighborsClassifier(5).fit(Z_train, y[:1200]).score(Z_new, y[1200:])
    assert acc > 0.85, acc


def test_pca_keeps_digit_classes_separable(digits):
    X, y = digits
    Z = GPUReducer("pca", n_components=10, device="cpu").fit_transform(X)
    assert _knn_accuracy(Z, y) > 0.91  # 0.936; 5 components give 0.88


def test_pca_transform_of_new_data_equals_sklearn(digits):
    X, _ = digits
    red = GPUReducer("pca", n_components=5, device="cpu").fit(X[:1000])
    ref = PCA(n_components=5).fit(X[:1000])
    assert (red.device_, red.backend_) == ("cpu", "sklearn")
    np.testing.assert_allclose(red.transform(X[1000:]), ref.transform(X[1000:]), atol=1e-8)
    np.testing.assert_allclose(red.components_, ref.components_, atol=1e-8)
    np.testing.assert_allclose(red.explained_variance_ratio_, ref.explained_variance_ratio_)


def test_torch_pca_equals_sklearn(digits, monkeypatch):
    # the CUDA code path, run on the CPU
    X, _ = digits
    monkeypatch.setattr(reduction, "resolve_device", lambda *a: DeviceChoice("cpu", "torch"))
    red = GPUReducer("pca", n_components=5).fit(X[:1000])
    ref = PCA(n_components=5, svd_solver="full").fit(X[:1000])
    assert red.backend_ == "torch" and red.estimator_ is None
    np.testing.assert_allclose(red.components_, ref.components_, atol=1e-8)
    np.testing.assert_allclose(red.explained_variance_ratio_, ref.explained_variance_ratio_)
    out = red.transform(X[1000:])
    assert isinstance(out, np.ndarray) and out.dtype == np.float64
    np.testing.assert_allclose(out, ref.transform(X[1000:]), atol=1e-8)
    np.testing.assert_allclose(red.fit_transform(X[:1000]), ref.transform(X[:1000]), atol=1e-8)
    X32 = X.astype(np.float32)
    assert red.fit(X32).transform(X32).dtype == np.float32


@pytest.mark.parametrize("backend", ["sklearn", "torch"])
def test_whitened_pca_has_unit_variance_on_both_backends(digits, monkeypatch, backend):
    X, _ = digits
    monkeypatch.setattr(reduction, "resolve_device", lambda *a: DeviceChoice("cpu", backend))
    red = GPUReducer("pca", n_components=8, whiten=True).fit(X[:1000])
    Z = red.transform(X[:1000])
    np.testing.assert_allclose(Z.std(axis=0, ddof=1), 1.0, rtol=1e-6)
    ref = PCA(n_components=8, whiten=True, svd_solver="full").fit(X[:1000])
    np.testing.assert_allclose(
        np.abs(red.transform(X[1000:])), np.abs(ref.transform(X[1000:])), atol=1e-6
    )


def test_whiten_refused_for_umap(digits):
    with pytest.raises(ValueError, match="whiten=True applies to method='pca' only"):
        GPUReducer("umap", whiten=True).fit(digits[0][:50])


def test_torch_pca_handles_constant_data():
    mean, comps, var, ratio = _torch_pca_fit(torch.ones(5, 3), 2)
    assert comps.shape == (2, 3) and float(var.sum()) == 0.0 and float(ratio.sum()) == 0.0


# -- n_components and small data ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "n_components, shape, expected",
    [(2, (50, 10), 2), (20, (50, 10), 10), (20, (8, 10), 8), (None, (50, 10), 10), (0, (8, 10), 8)],
)
def test_n_components_rule(n_components, shape, expected):
    X = np.random.RandomState(0).normal(size=shape)
    red = GPUReducer("pca", n_components=n_components, device="cpu")
    Z = red.fit_transform(X)
    assert red.n_components_ == expected and Z.shape == (shape[0], expected)
    assert list(red.get_feature_names_out()) == [f"pca{i}" for i in range(expected)]


def test_umap_on_small_data_clamps_or_raises():
    rng = np.random.RandomState(0)
    with pytest.warns(UserWarning, match="using n_neighbors=9"):
        red = GPUReducer("umap", n_components=3, random_state=0, device="cpu").fit(
            rng.normal(size=(10, 4))
        )
    assert red.n_neighbors_ == 9 and red.embedding_.shape == (10, 3)
    assert red.transform(rng.normal(size=(2, 4))).shape == (2, 3)
    # too few samples for a spectral layout: random initialisation, no crash
    tiny = GPUReducer("umap", n_components=2, n_neighbors=2, random_state=0, device="cpu")
    assert tiny.fit_transform(rng.normal(size=(4, 3))).shape == (4, 2)
    with pytest.raises(ValueError, match="at least 3 samples"):
        GPUReducer("umap", device="cpu").fit(rng.normal(size=(2, 4)))


def test_umap_random_state_is_reproducible():
    X = np.random.RandomState(0).normal(size=(60, 5))
    a = GPUReducer("umap", random_state=1, device="cpu", method_kwargs=FAST_UMAP).fit_transform(X)
    b = GPUReducer("umap", random_state=1, device="cpu", method_kwargs=FAST_UMAP).fit_transform(X)
    np.testing.assert_array_equal(a, b)


# -- errors -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["umap", "pca"])
@pytest.mark.parametrize(
    "X, match",
    [
        (np.array([[0.0, np.nan], [1.0, 2.0], [3.0, 4.0]]), "NaN"),
        (np.zeros(5), "Expected 2D array"),
        (np.zeros((3, 2, 2)), "dim 3"),
        (np.zeros((0, 4)), "0 sample"),
    ],
)
def test_bad_inputs_raise_clear_errors(method, X, match):
    with pytest.raises(ValueError, match=match):
        GPUReducer(method, device="cpu").fit(X)


def test_transform_needs_the_features_seen_in_fit(digits):
    X, _ = digits
    red = GPUReducer("pca", device="cpu").fit(X)
    with pytest.raises(ValueError, match="X has 63 features"):
        red.transform(X[:, :63])


def test_cuda_without_a_gpu_is_a_clear_error(digits):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="no CUDA device"):
        GPUReducer("pca", device="cuda").fit(digits[0])


# -- the estimator contract --------------------------------------------------------------------------
def test_clone_pickle_params_and_pandas(digits):
    X, _ = digits
    red = GPUReducer("pca", n_components=3, device="cpu")
    assert clone(red).get_params() == red.get_params()
    Z = red.fit_transform(X)
    np.testing.assert_allclose(pickle.loads(pickle.dumps(red)).transform(X), Z)
    df = clone(red).set_output(transform="pandas").fit_transform(X)
    assert list(df.columns) == ["pca0", "pca1", "pca2"]
    np.testing.assert_allclose(df.to_numpy(), Z)


# -- GPU --------------------------------------------------------------------------------------------------
@pytest.mark.gpu
def test_cuml_umap_quality_and_gpu_arrays(digits):
    X, y = digits
    red = GPUReducer("umap", random_state=0, device="cuda")
    Z = red.fit_transform(X)
    assert (red.device_, red.backend_) == ("cuda", "cuml")
    assert isinstance(Z, np.ndarray) and Z.shape == (len(X), 2)
    assert _knn_accuracy(Z, y) > 0.9
    assert isinstance(red.transform(X[:10]), np.ndarray)


@pytest.mark.gpu
def test_torch_pca_on_cuda_keeps_tensors_on_the_device(digits):
    X, _ = digits
    red = GPUReducer("pca", n_components=5, device="cuda")
    ref = PCA(n_components=5, svd_solver="full").fit(X)
    np.testing.assert_allclose(red.fit_transform(X), ref.transform(X), atol=1e-6)
    t = torch.from_numpy(X).cuda()
    out = red.transform(t)
    assert isinstance(out, torch.Tensor) and out.is_cuda
    np.testing.assert_allclose(out.cpu().numpy(), ref.transform(X), atol=1e-6)
