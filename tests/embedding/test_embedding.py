import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.base import clone
from sklearn.model_selection import cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from torch import nn
from torch.utils.data import Dataset, IterableDataset

from sklearn_curate.datasets import make_faulty_digits
from sklearn_curate.embedding._embedder import TorchLayerEmbedder, load_images


class SmallCNN(nn.Module):
    """A tiny CNN for 8x8 digits; counts its forward calls across copies."""

    calls = 0

    def __init__(self, in_channels=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16, 10)

    def forward(self, x):
        type(self).calls += 1
        x = torch.relu(self.conv1(x))
        x = torch.relu(self.conv2(x))
        return self.fc(x.mean(dim=(2, 3)))


class PairDataset(Dataset):
    def __init__(self, images, labels):
        self.images, self.labels = images, labels

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return self.images[i], self.labels[i]


class Stream(IterableDataset):
    def __iter__(self):
        yield torch.zeros(1, 8, 8)


@pytest.fixture(scope="module")
def digits():
    d = make_faulty_digits("none")
    # 0-16 pixels as 0-255 uint8: what a PNG file of the digit holds
    u8 = np.round(d.images[:60] * 255 / 16).astype(np.uint8)
    return u8, d.target[:60]


def _emb(model=None, **kw):
    kw.setdefault("device", "cpu")
    return TorchLayerEmbedder(model if model is not None else SmallCNN(), **kw)


def _write_pngs(images, folder, mode="L"):
    paths = []
    for i, img in enumerate(images):
        pil = Image.fromarray(img, mode="L")
        if mode != "L":
            pil = pil.convert(mode)
        path = folder / f"img{i:03d}_{mode}.png"
        pil.save(path)
        paths.append(str(path))
    return paths


# -- the features -----------------------------------------------------------------------------
@pytest.mark.parametrize("pooling", ["avg", "max", "flatten"])
def test_hook_features_equal_manual_layer_output(digits, pooling):
    u8, _ = digits
    model = SmallCNN()
    emb = _emb(model, layer="conv2", pooling=pooling, batch_size=16)
    feats = emb.fit_transform(u8)

    x = torch.from_numpy(u8).float()[:, None] / 255.0
    with torch.no_grad():
        maps = model.conv2(torch.relu(model.conv1(x)))
    expected = {
        "avg": maps.mean(dim=(2, 3)),
        "max": maps.amax(dim=(2, 3)),
        "flatten": maps.flatten(1),
    }[pooling].numpy()
    assert feats.dtype == np.float32
    assert feats.shape == expected.shape == (60, emb.n_features_out_)
    np.testing.assert_allclose(feats, expected, rtol=1e-5, atol=1e-6)


def test_layer_none_is_model_output(digits):
    u8, _ = digits
    model = SmallCNN()
    feats = _emb(model).fit(u8).transform(u8)
    with torch.no_grad():
        expected = model(torch.from_numpy(u8).float()[:, None] / 255.0).numpy()
    np.testing.assert_allclose(feats, expected, rtol=1e-5, atol=1e-6)
    assert list(_emb(model).fit(u8).get_feature_names_out()[:2]) == ["output_0", "output_1"]


def test_forward_stops_at_the_layer(digits):
    u8, _ = digits

    class Boom(nn.Module):
        def forward(self, x):
            raise AssertionError("ran past the hooked layer")

    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), Boom())
    assert _emb(model, layer="1").fit_transform(u8).shape == (60, 4)


def test_unknown_layer_lists_the_layers(digits):
    u8, _ = digits
    with pytest.raises(ValueError, match=r"layer 'fc9' not found; layers are: conv1, conv2, fc\."):
        _emb(layer="fc9").fit(u8)


def test_unused_layer_is_reported(digits):
    u8, _ = digits
    model = SmallCNN()
    model.spare = nn.Linear(2, 2)
    with pytest.raises(RuntimeError, match="did not run"):
        _emb(model, layer="spare").fit(u8)


def test_random_cnn_features_keep_digit_classes_apart():
    # a regression that scrambles rows or pools the wrong axis drops kNN accuracy to ~0.1
    # (raw pixels score 0.96 here, shuffled rows 0.1)
    d = make_faulty_digits("none")
    X = d.images.astype(np.float32) / 16.0
    feats = _emb(layer="conv1", pooling="flatten").fit_transform(X)
    acc = cross_val_score(KNeighborsClassifier(5), feats, d.target, cv=3).mean()
    assert acc > 0.93, acc


# -- every input kind gives the same features ----------------------------------------------------
def test_all_input_types_give_identical_features(digits, tmp_path):
    u8, y = digits
    emb = _emb(layer="conv2", batch_size=16).fit(u8)
    ref = emb.transform(u8)
    float_chw = u8[:, None].astype(np.float32) / 255.0
    variants = {
        "uint8 (n, H, W)": u8,
        "float (n, 1, H, W)": float_chw,
        "tensor": torch.from_numpy(float_chw),
        "list of arrays": list(u8),
        "png files": _write_pngs(u8, tmp_path),
        "Path objects": [Path(p) for p in _write_pngs(u8, tmp_path)],
        "dataset of (tensor, label)": PairDataset(torch.from_numpy(float_chw), y),
        "dataset of tensors": [torch.from_numpy(a) for a in float_chw],
    }
    for name, X in variants.items():
        if name == "dataset of tensors":
            X = PairDataset(X, y)
        np.testing.assert_allclose(emb.transform(X), ref, atol=1e-6, err_msg=name)
    flat = _emb(emb.model, layer="conv2", input_shape=(1, 8, 8)).fit(u8.reshape(60, -1))
    np.testing.assert_allclose(flat.transform(u8.reshape(60, -1)), ref, atol=1e-6)
    workers = _emb(emb.model, layer="conv2", batch_size=16, num_workers=1, progress=True)
    np.testing.assert_allclose(workers.fit_transform(variants["png files"]), ref, atol=1e-6)


def test_grayscale_rgb_rgba_files_convert_to_the_models_channels(digits, tmp_path):
    u8, _ = digits
    u8 = u8[:10]
    rgb_model = SmallCNN(in_channels=3)
    gray_model = SmallCNN(in_channels=1)
    out = {}
    for mode in ("L", "RGB", "RGBA"):
        paths = _write_pngs(u8, tmp_path, mode)
        out["rgb", mode] = _emb(rgb_model, layer="conv2").fit_transform(paths)
        out["gray", mode] = _emb(gray_model, layer="conv2").fit_transform(paths)
    for kind in ("rgb", "gray"):
        for mode in ("RGB", "RGBA"):
            np.testing.assert_allclose(out[kind, mode], out[kind, "L"], atol=1e-6)
    # a grayscale array is repeated to 3 channels, like an "L" file converted to RGB
    np.testing.assert_allclose(
        _emb(rgb_model, layer="conv2").fit_transform(u8), out["rgb", "L"], atol=1e-6
    )


def test_image_size_resizes_and_mixed_sizes_need_it(digits, tmp_path):
    u8, _ = digits
    paths = _write_pngs(u8[:4], tmp_path)
    big = tmp_path / "big.png"
    Image.fromarray(np.kron(u8[4], np.ones((2, 2), dtype=np.uint8))).save(big)
    mixed = [*paths, str(big)]
    with pytest.raises(ValueError, match="differ in size.*image_size"):
        _emb(layer="conv2", pooling="flatten").fit_transform(mixed)
    feats = _emb(layer="conv2", pooling="flatten", image_size=8).fit_transform(mixed)
    assert feats.shape == (5, 16 * 8 * 8)
    feats16 = _emb(layer="conv2", pooling="flatten", image_size=(16, 12)).fit_transform(paths)
    assert feats16.shape == (4, 16 * 16 * 12)


def test_preprocess_is_applied_to_each_image(digits, tmp_path):
    u8, _ = digits
    flipped = u8[:, :, ::-1].copy()
    paths = _write_pngs(u8, tmp_path)
    model = SmallCNN()
    ref = _emb(model, layer="conv2").fit_transform(flipped)

    def mirror(img):
        return img.transpose(Image.Transpose.FLIP_LEFT_RIGHT)

    np.testing.assert_allclose(
        _emb(model, layer="conv2", preprocess=mirror).fit_transform(paths), ref, atol=1e-6
    )
    np.testing.assert_allclose(
        _emb(model, layer="conv2", preprocess=lambda t: t.flip(-1)).fit_transform(u8),
        ref,
        atol=1e-6,
    )


# -- the cache --------------------------------------------------------------------------------------
def test_cache_hit_skips_the_model_and_weights_invalidate_it(digits, tmp_path):
    u8, _ = digits
    model = SmallCNN()
    SmallCNN.calls = 0
    first = _emb(model, layer="conv2", cache_dir=tmp_path, batch_size=16).fit_transform(u8)
    assert SmallCNN.calls == 4
    assert len(list(tmp_path.glob("*.npy"))) == 1

    SmallCNN.calls = 0
    emb = _emb(model, layer="conv2", cache_dir=tmp_path)
    hit = emb.fit_transform(u8)
    assert SmallCNN.calls == 0
    assert isinstance(hit, np.memmap) and not hit.flags.writeable
    np.testing.assert_array_equal(hit, first)
    assert emb.n_features_out_ == 16

    # other layer, pooling or input content: other entries
    _emb(model, layer="conv1", cache_dir=tmp_path).fit_transform(u8)
    _emb(model, layer="conv2", pooling="max", cache_dir=tmp_path).fit_transform(u8)
    _emb(model, layer="conv2", cache_dir=tmp_path).fit_transform(u8[:-1])
    assert len(list(tmp_path.glob("*.npy"))) == 4

    with torch.no_grad():
        model.conv1.weight[0, 0, 0, 0] += 1.0
    SmallCNN.calls = 0
    changed = _emb(model, layer="conv2", cache_dir=tmp_path).fit_transform(u8)
    assert SmallCNN.calls > 0
    assert not np.allclose(changed, first)
    assert not list(tmp_path.glob(".*tmp*"))


def test_cache_of_files_follows_their_content(digits, tmp_path):
    u8, _ = digits
    (tmp_path / "img").mkdir()
    paths = _write_pngs(u8[:8], tmp_path / "img")
    cache = tmp_path / "cache"
    model = SmallCNN()
    a = _emb(model, layer="conv2", cache_dir=cache).fit_transform(paths)
    SmallCNN.calls = 0
    np.testing.assert_array_equal(
        _emb(model, layer="conv2", cache_dir=cache).fit_transform(paths), a
    )
    assert SmallCNN.calls == 0
    Image.fromarray(255 - u8[0]).save(paths[0])
    os.utime(paths[0], ns=(1, 1))  # a new mtime even on coarse file-system clocks
    b = _emb(model, layer="conv2", cache_dir=cache).fit_transform(paths)
    assert SmallCNN.calls > 0
    assert not np.allclose(a[0], b[0])
    np.testing.assert_allclose(a[1:], b[1:], atol=1e-6)


def test_interrupted_run_leaves_no_cache_entry(digits, tmp_path):
    u8, _ = digits

    class Flaky(SmallCNN):
        def forward(self, x):
            if x.shape[0] > 1 and Flaky.calls >= 1:
                raise KeyboardInterrupt
            return super().forward(x)

    Flaky.calls = 0
    with pytest.raises(KeyboardInterrupt):
        _emb(Flaky(), cache_dir=tmp_path, batch_size=16).fit_transform(u8)
    assert list(tmp_path.iterdir()) == []


def test_dataset_input_is_not_cached(digits, tmp_path):
    u8, y = digits
    ds = PairDataset(torch.from_numpy(u8[:, None] / 255.0).float(), y)
    with pytest.warns(UserWarning, match="cache_dir is ignored"):
        _emb(cache_dir=tmp_path).fit_transform(ds)


# -- unreadable files ------------------------------------------------------------------------------
def test_unreadable_files_are_named_and_load_images_skips_them(digits, tmp_path):
    u8, _ = digits
    good = _write_pngs(u8[:3], tmp_path)
    truncated = tmp_path / "truncated.png"
    truncated.write_bytes(open(good[0], "rb").read()[:60])
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    missing = tmp_path / "missing.png"
    for bad in (truncated, text, missing):
        with pytest.raises(ValueError, match=bad.name):
            _emb().fit_transform([*good, str(bad)])

    paths = [good[0], str(truncated), good[1], str(text), str(missing), good[2]]
    images, ok, reasons = load_images(paths, n_channels=1)
    np.testing.assert_array_equal(ok, [True, False, True, False, False, True])
    assert images.shape == (3, 1, 8, 8) and images.dtype == np.float32
    assert [r is None for r in reasons] == list(ok)
    assert all(isinstance(r, str) and r for r in np.asarray(reasons, dtype=object)[~ok])
    # the loaded array gives the features of the files themselves
    emb = _emb(layer="conv2").fit(images)
    np.testing.assert_allclose(emb.transform(images), emb.transform(good), atol=1e-6)
    with pytest.raises(ValueError, match="truncated.png"):
        load_images(paths, n_channels=1, on_error="raise")


# -- input errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "X, match",
    [
        (np.zeros(5), "Reshape your data"),
        (np.zeros((2, 1, 1, 8, 8)), "got shape"),
        (np.full((3, 8, 8), np.nan), "NaN"),
        (torch.full((3, 1, 8, 8), float("nan")), "NaN"),
        (np.zeros((0, 8, 8)), "0 sample|empty"),
        (np.zeros((0, 64)), "0 sample"),
        (torch.zeros(0, 1, 8, 8), "empty"),
        (PairDataset([], []), "empty"),
        (Stream(), "IterableDataset"),
    ],
)
def test_bad_inputs_raise_clear_errors(X, match):
    with pytest.raises(ValueError, match=match):
        _emb().fit(X)


def test_input_shape_must_match_the_features(digits):
    u8, _ = digits
    with pytest.raises(ValueError, match=r"input_shape=\(1, 7, 7\) holds 49 values"):
        _emb(input_shape=(1, 7, 7)).fit(u8.reshape(60, -1))


def test_transform_needs_the_features_seen_in_fit(digits):
    u8, _ = digits
    emb = _emb(input_shape=(1, 8, 8)).fit(u8.reshape(60, -1))
    with pytest.raises(ValueError, match="X has 63 features"):
        emb.transform(u8.reshape(60, -1)[:, :63])


def test_cuda_without_a_gpu_is_a_clear_error(digits):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(RuntimeError, match="no CUDA device"):
        _emb(device="cuda").fit(digits[0])


# -- the estimator contract --------------------------------------------------------------------------
def test_fit_runs_one_sample_and_leaves_the_model_alone(digits):
    u8, _ = digits
    model = SmallCNN().train()
    SmallCNN.calls = 0
    emb = _emb(model, layer="conv2").fit(u8)
    assert SmallCNN.calls == 1
    assert (emb.n_features_out_, emb.device_, emb.backend_) == (16, "cpu", "torch")
    assert model.training and not emb.model_.training
    assert emb.model_ is not model


def test_clone_pickle_and_params(digits):
    u8, _ = digits
    emb = _emb(layer="conv2", pooling="max")
    params = emb.get_params()
    assert params["layer"] == "conv2" and isinstance(params["model"], SmallCNN)
    ref = emb.fit_transform(u8)

    cloned = clone(emb)
    assert cloned.model is not emb.model
    assert not hasattr(cloned, "model_")
    np.testing.assert_allclose(cloned.fit_transform(u8), ref, atol=1e-6)

    restored = pickle.loads(pickle.dumps(emb))
    np.testing.assert_allclose(restored.transform(u8), ref, atol=1e-6)

    emb.set_params(layer="conv1")
    assert emb.fit_transform(u8).shape == (60, 8)


def test_set_output_pandas(digits):
    u8, _ = digits
    emb = _emb(layer="conv2").set_output(transform="pandas")
    df = emb.fit_transform(u8)
    assert list(df.columns) == [f"conv2_{i}" for i in range(16)]
    assert df.shape == (60, 16)
    assert list(emb.transform(u8[:5]).columns) == list(df.columns)


def test_parameters_are_validated(digits):
    with pytest.raises(ValueError, match="pooling"):
        _emb(pooling="mean").fit(digits[0])
    with pytest.raises((TypeError, ValueError), match="model"):
        TorchLayerEmbedder("resnet18").fit(digits[0])


# -- GPU ------------------------------------------------------------------------------------------------
@pytest.mark.gpu
def test_cuda_matches_cpu_and_amp_is_close(digits, tmp_path):
    u8, _ = digits
    model = SmallCNN()
    cpu = _emb(model, layer="conv2").fit_transform(u8)
    gpu = _emb(model, layer="conv2", device="cuda")
    np.testing.assert_allclose(gpu.fit_transform(u8), cpu, rtol=1e-4, atol=1e-4)
    assert (gpu.device_, gpu.backend_) == ("cuda", "torch")
    amp = _emb(model, layer="conv2", device="cuda", amp=True).fit_transform(u8)
    assert amp.dtype == np.float32
    np.testing.assert_allclose(amp, cpu, rtol=2e-2, atol=2e-2)
    paths = _write_pngs(u8, tmp_path)
    on_gpu = _emb(model, layer="conv2", device="cuda", num_workers=1).fit_transform(paths)
    np.testing.assert_allclose(on_gpu, cpu, rtol=1e-4, atol=1e-4)
    tensor = torch.from_numpy(u8).cuda()
    np.testing.assert_allclose(gpu.transform(tensor), cpu, rtol=1e-4, atol=1e-4)
    restored = pickle.loads(pickle.dumps(gpu))
    assert next(restored.model_.parameters()).is_cuda
