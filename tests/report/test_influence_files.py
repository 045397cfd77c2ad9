"""The influence pictures for every image layout the docstring accepts."""

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from sklearn_curate import InfluenceScorer, save_influence


@pytest.mark.parametrize("shape", [(8, 8), (8, 8, 1), (8, 8, 3)])
def test_save_influence_draws_gray_and_colour_rows(tmp_path, shape):
    X, y = load_digits(return_X_y=True)
    X, y = X[:200] / 16.0, y[:200]
    if shape[-1] == 3:
        X = np.repeat(X, 3, axis=1).reshape(200, 64, 3).reshape(200, -1)
    scorer = InfluenceScorer(LogisticRegression(max_iter=500)).fit(X, y)
    save_influence(scorer, X[:2], y[:2], tmp_path / "o", image_shape=shape, k=3)
    with Image.open(tmp_path / "o" / "top_00001.png") as im:
        picture = np.asarray(im.convert("RGB"))
    # the test image and 2 x 3 training images are drawn: not a blank canvas
    assert picture.std() > 20


def test_save_influence_draws_channels_first_images(tmp_path):
    """A CNN's (n, C, H, W) samples are drawn as the (H, W, C) images they are."""
    import torch
    from torch import nn

    from sklearn_curate.report._influence import write_influence

    rng = np.random.default_rng(0)
    X = rng.random((60, 8, 8, 3))  # channels-last pictures, distinct channels
    y = np.arange(60) % 3
    torch.manual_seed(0)
    cnn = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.Linear(72, 3))
    Xc = X.transpose(0, 3, 1, 2)
    scorer = InfluenceScorer(cnn, refit=False, damping=1.0, method="exact", device="cpu").fit(Xc, y)
    save_influence(scorer, Xc[:1], y[:1], tmp_path / "a", image_shape=(8, 8, 3), k=2)
    inf = scorer.influence(Xc[:1], y[:1])
    (tmp_path / "b").mkdir()
    write_influence(tmp_path / "b", inf, 2, train_images=X, test_images=X[:1])
    with (
        Image.open(tmp_path / "a" / "top_00000.png") as a,
        Image.open(tmp_path / "b" / "top_00000.png") as b,
    ):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
