import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from sklearn_curate.embedding.models import DEFAULT_LAYER, ConvAutoencoder, train_autoencoder


@pytest.mark.parametrize(
    "channels, size", [(1, 8), (3, 32), (1, (28, 20)), (3, 5), (1, 4)]
)  # fmt: skip
def test_shapes_follow_the_input(channels, size):
    model = ConvAutoencoder(in_channels=channels, image_size=size, bottleneck_dim=12)
    h, w = (size, size) if np.isscalar(size) else size
    x = torch.rand(3, channels, h, w)
    assert model(x).shape == x.shape
    assert model.encode(x).shape == (3, 12)
    assert DEFAULT_LAYER in dict(model.named_modules())


def test_too_small_images_are_refused():
    with pytest.raises(ValueError, match="at least 4x4"):
        ConvAutoencoder(image_size=3)


@pytest.fixture
def one_thread():
    """Small models train fastest on one thread, and far faster when cores are shared."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_training_lowers_the_loss_and_repeats(one_thread):
    X = (load_digits().images[:300] / 16.0).astype(np.float32)[:, None]
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = ConvAutoencoder(1, 8)
        losses = train_autoencoder(model, X, epochs=3, random_state=0, progress=False)
        runs.append((losses, model.encode(torch.from_numpy(X)).detach().numpy()))
    losses = runs[0][0]
    assert len(losses) == 3 and losses[-1] < 0.8 * losses[0]
    assert not model.training
    np.testing.assert_allclose(runs[0][1], runs[1][1], rtol=1e-5, atol=1e-6)


def test_zero_epochs_leaves_the_model_untrained():
    model = ConvAutoencoder(1, 8)
    before = [p.detach().clone() for p in model.parameters()]
    assert train_autoencoder(model, np.zeros((4, 1, 8, 8)), epochs=0, progress=False) == []
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
