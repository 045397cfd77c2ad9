"""embed_on_dask: TorchLayerEmbedder's features, computed on a 2-worker LocalCluster."""

import re

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits
from torch import nn

from sklearn_curate import TorchLayerEmbedder
from sklearn_curate.embedding import embed_on_dask

pytest.importorskip("distributed")


def _model():
    torch.manual_seed(0)
    # torch's own classes only: the workers unpickle it without this test module
    return nn.Sequential(
        nn.Conv2d(3, 6, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(6, 12, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(48, 5),
    )


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """250 digit PNGs of 8x8 and 12x12 pixels (gray) and a few RGB ones, in input order."""
    root = tmp_path_factory.mktemp("dask_images")
    digits = load_digits().images
    rng = np.random.RandomState(0)
    paths = []
    for i in range(250):
        img = (digits[i] * (255 / 16)).astype(np.uint8)
        if i % 3 == 1:
            img = np.asarray(Image.fromarray(img).resize((12, 12)))
        if i % 25 == 0:
            img = (rng.rand(10, 10, 3) * 255).astype(np.uint8)
        p = root / f"img{i:03d}.png"
        Image.fromarray(img).save(p)
        paths.append(str(p))
    return paths


def _embedder(**kw):
    return TorchLayerEmbedder(_model(), layer="3", image_size=8, batch_size=32, device="cpu", **kw)


@pytest.mark.parametrize("npartitions", [None, 3])
def test_files_equal_the_local_embedding(dask_client, files, npartitions):
    local = _embedder().fit_transform(files)
    emb = _embedder()
    remote = embed_on_dask(emb, files, client=dask_client, npartitions=npartitions)
    assert remote.dtype == np.float32 and remote.shape == local.shape == (250, 12)
    np.testing.assert_allclose(remote, local, rtol=0, atol=1e-6)
    assert not hasattr(emb, "model_")  # the embedder passed in is left untouched


def test_layer_output_and_flat_rows(dask_client):
    X = load_digits().data.astype(np.float32)[:300] / 16.0
    emb = TorchLayerEmbedder(_model(), layer="5", input_shape=(1, 8, 8), batch_size=50)
    emb.set_params(device="cpu")
    local = emb.fit_transform(X)
    remote = embed_on_dask(emb, X, client=dask_client, npartitions=4)
    np.testing.assert_allclose(remote, local, rtol=0, atol=1e-6)


def test_as_dask_array(dask_client, files):
    local = _embedder().fit_transform(files[:100])
    arr = embed_on_dask(_embedder(), files[:100], client=dask_client, as_dask_array=True)
    assert arr.shape == (100, 12) and arr.dtype == np.float32
    np.testing.assert_allclose(arr.compute(), local, rtol=0, atol=1e-6)


def test_corrupt_file_is_named_as_locally(dask_client, files, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    paths = [*files[:70], str(bad), *files[70:100]]
    message = re.escape(f"cannot read image file {str(bad)!r}")
    with pytest.raises(ValueError, match=message):
        _embedder().fit_transform(paths)
    with pytest.raises(ValueError, match=message):
        embed_on_dask(_embedder(), paths, client=dask_client)


def test_bad_arguments_fail_before_any_work(dask_client, files):
    with pytest.raises(ValueError, match="layer 'nope' not found"):
        embed_on_dask(TorchLayerEmbedder(_model(), layer="nope"), files, client=dask_client)
    with pytest.raises(TypeError, match="TorchLayerEmbedder"):
        embed_on_dask(_model(), files, client=dask_client)
    with pytest.raises(ValueError, match="npartitions"):
        embed_on_dask(_embedder(), files, client=dask_client, npartitions=0)
    with pytest.raises(ValueError, match="array of samples"):
        embed_on_dask(_embedder(), [], client=dask_client)


def test_cache_dir_is_not_used_on_a_cluster(dask_client, files, tmp_path):
    with pytest.warns(UserWarning, match="cache_dir is not used"):
        Z = embed_on_dask(_embedder(cache_dir=tmp_path / "c"), files[:40], client=dask_client)
    assert Z.shape == (40, 12) and not (tmp_path / "c").exists()
