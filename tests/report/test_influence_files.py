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
