"""SimCLR training of an embedder: ``train_simclr``, ``nt_xent_loss``, the augmentation."""

import sys

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from torch import nn

from sklearn_curate.embedding import ConvAutoencoder, TorchLayerEmbedder, train_simclr
from sklearn_curate.embedding._simclr import nt_xent_loss, simclr_augmentation

pytest.importorskip("kornia")


@pytest.fixture(scope="module")
def digits():
    d = load_digits()
    return (d.images[:400] / 16.0)[:, None].astype(np.float32)


def _state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize("m", [2, 5, 64])
def test_nt_xent_equals_pytorch_metric_learning(m):
    pml = pytest.importorskip("pytorch_metric_learning.losses")
    z = torch.randn(2 * m, 7, generator=torch.Generator().manual_seed(m))
    for tau in (0.1, 0.5):
        ours = nt_xent_loss(z, tau)
        theirs = pml.NTXentLoss(temperature=tau)(z, torch.arange(m).repeat(2))
        torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-5)


def test_nt_xent_is_low_for_matching_views_and_high_for_shuffled_ones():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(32, 16, generator=g)
    matched = torch.cat([a, a + 0.01 * torch.randn(32, 16, generator=g)])
    shuffled = torch.cat([a, a[torch.randperm(32, generator=g)]])
    assert nt_xent_loss(matched, 0.1) < 0.05
    assert nt_xent_loss(shuffled, 0.1) > np.log(63) - 1  # no better than chance
    with pytest.raises(ValueError, match="two views of at least 2 images"):
        nt_xent_loss(torch.randn(5, 3))


def test_training_lowers_the_loss_and_trains_only_the_embedding_path(digits):
    torch.manual_seed(0)
    model = ConvAutoencoder(1, 8)
    before = _state(model)
    losses = train_simclr(model, digits, layer="encoder", epochs=8, batch_size=64, progress=False)
    assert len(losses) == 8
    # chance is log(2 * 64 - 1) = 4.84 nats; a model that does not learn stays there
    assert losses[0] - losses[-1] > 0.5, losses
    after = _state(model)
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    # the encoder learns; the forward pass stops after it, so the bottleneck and the
    # decoder get no gradient and keep their weights
    assert {k for k in before if k.startswith("encoder.")} == changed
    assert not model.training


def test_same_seed_same_weights_and_torch_rng_untouched(digits):
    def run():
        torch.manual_seed(0)
        model = ConvAutoencoder(1, 8)
        torch.manual_seed(123)
        train_simclr(model, digits[:100], layer="encoder", epochs=2, progress=False, random_state=7)
        return model, torch.rand(3)

    (m1, r1), (m2, r2) = run(), run()
    assert all(
        torch.equal(a, b)
        for a, b in zip(m1.state_dict().values(), m2.state_dict().values(), strict=True)
    )
    torch.manual_seed(123)
    torch.testing.assert_close(r1, torch.rand(3))  # the global generator was restored
    torch.testing.assert_close(r1, r2)


def test_three_channel_model_on_gray_images_and_its_embedding(digits):
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )
    losses = train_simclr(net, digits[:128], layer="3", epochs=2, batch_size=64, progress=False)
    assert all(np.isfinite(losses))
    Z = TorchLayerEmbedder(net, "3", progress=False).fit_transform(digits[:10])
    assert Z.shape == (10, 16)


def test_augmentation_keeps_shape_and_range():
    torch.manual_seed(0)
    x = torch.rand(6, 3, 16, 16)
    for aug in (simclr_augmentation(16, 3, flip=True), simclr_augmentation((16, 16), 3)):
        y = aug(x)
        assert y.shape == x.shape and y.min() >= 0 and y.max() <= 1
        assert not torch.equal(y, x)
    with pytest.raises(ValueError, match="crop_scale"):
        simclr_augmentation(8, 1, crop_scale=(0.9, 0.2))


def test_bad_input_is_named(digits):
    model = ConvAutoencoder(1, 8)
    with pytest.raises(ValueError, match=r"\(n_samples, C, H, W\); got shape \(10, 8, 8\)"):
        train_simclr(model, digits[:10, 0], layer="encoder", progress=False)
    with pytest.raises(ValueError, match="at least 2 images"):
        train_simclr(model, digits[:1], layer="encoder", progress=False)
    with pytest.raises(ValueError, match="layer 'encodr' not found.*Did you mean 'encoder'"):
        train_simclr(model, digits[:10], layer="encodr", progress=False)


def test_missing_kornia_names_the_extra(digits, monkeypatch):
    monkeypatch.setitem(sys.modules, "kornia", None)
    monkeypatch.setitem(sys.modules, "kornia.augmentation", None)
    with pytest.raises(ImportError, match=r'pip install "sklearn-curate\[ssl\]"'):
        train_simclr(ConvAutoencoder(1, 8), digits[:10], layer="encoder", progress=False)
