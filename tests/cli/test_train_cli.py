"""``sklearn-curate curate --train autoencoder|simclr|none`` and ``--checkpoint``."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.datasets import load_digits

from sklearn_curate.cli import _curate as cli
from sklearn_curate.cli import main

pytest.importorskip("kornia")

KEPT_LISTS = {
    "kept": "kept.txt",
    "outlier": "removed_outliers.txt",
    "similar": "removed_similar.txt",
    "corrupt": "corrupt.txt",
    "exact_duplicate": "removed_exact_duplicates.txt",
}
#: With --select, kept.txt is split in two and not written.
SELECT_LISTS = {
    "selected": "selected.txt",
    "kept_not_selected": "kept_not_selected.txt",
    **{d: name for d, name in KEPT_LISTS.items() if d != "kept"},
}

NET = """
import torch
from torch import nn


def make():
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 10),
    )
"""


def _report(out: Path) -> dict:
    return json.loads((out / "report.json").read_text())


def _train_step(report: dict) -> dict:
    (step,) = [s for s in report["steps"] if s["name"] == "train"]
    return step


@pytest.fixture(scope="module")
def builtin_simclr(tmp_path_factory):
    """One run on the built-in data: --train simclr --select 0.1 (4 epochs)."""
    out = tmp_path_factory.mktemp("train") / "simclr"
    args = ["curate", "--out", str(out), "-q", "--train", "simclr", "--epochs", "4"]
    assert main([*args, "--select", "0.1"]) == 0
    return out


@pytest.fixture(scope="module")
def digit_folder(tmp_path_factory):
    """150 gray digit PNGs, 16x16 pixels, in one flat folder."""
    root = tmp_path_factory.mktemp("train_images") / "data"
    root.mkdir()
    digits = load_digits()
    for i in range(150):
        img = Image.fromarray((digits.images[i] * (255 / 16)).astype(np.uint8))
        img.resize((16, 16)).save(root / f"d{i:03d}.png")
    return root


def test_simclr_select_on_the_builtin_data(builtin_simclr, check_lists):
    out = builtin_simclr
    report = _report(out)
    assert report["parameters"]["train"] == "simclr"
    step = _train_step(report)
    assert step["detail"].startswith("SimCLR on layer encoder, 4 epochs, final loss")
    lists = check_lists(out, [str(i) for i in range(1852)], SELECT_LISTS)
    assert len(lists["selected"]) == round(
        0.1 * len(lists["selected"] + lists["kept_not_selected"])
    )
    # every planted photograph crop (ids 1797-1814) is dropped as an outlier, as with
    # the autoencoder (tests/cli/test_cli.py)
    assert {str(i) for i in range(1797, 1815)} <= set(lists["outlier"])
    marker = json.loads((out / ".sklearn-curate-output").read_text())
    assert "checkpoint.pt" in marker["files"]


def test_checkpoint_reuses_the_trained_weights(builtin_simclr, tmp_path):
    out = tmp_path / "again"
    ckpt = builtin_simclr / "checkpoint.pt"
    assert main(["curate", "--out", str(out), "-q", "--checkpoint", str(ckpt)]) == 0
    report = _report(out)
    assert report["parameters"]["train"] == "none"  # a checkpoint is used as given
    assert _train_step(report)["detail"] == "loaded --checkpoint checkpoint.pt"
    np.testing.assert_array_equal(
        np.load(out / "embeddings.npy"), np.load(builtin_simclr / "embeddings.npy")
    )
    # the loaded weights are written again, unchanged
    a = torch.load(ckpt, weights_only=True)
    b = torch.load(out / "checkpoint.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_checkpoint_with_train_continues_training(builtin_simclr, tmp_path):
    out = tmp_path / "more"
    ckpt = builtin_simclr / "checkpoint.pt"
    args = ["curate", "--out", str(out), "-q", "--checkpoint", str(ckpt)]
    assert main([*args, "--train", "simclr", "--epochs", "1"]) == 0
    detail = _train_step(_report(out))["detail"]
    assert detail.startswith("loaded --checkpoint checkpoint.pt; SimCLR on layer encoder, 1 epochs")
    a = torch.load(ckpt, weights_only=True)
    b = torch.load(out / "checkpoint.pt", weights_only=True)
    assert any(not torch.equal(a[k], b[k]) for k in a)  # trained on from there


def test_default_autoencoder_writes_its_checkpoint(tmp_path, check_lists):
    out = tmp_path / "ae"
    assert main(["curate", "--out", str(out), "-q", "--epochs", "1"]) == 0
    report = _report(out)
    assert report["parameters"]["train"] == "autoencoder"
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert "encoder.conv0.weight" in state and "decoder.out.weight" in state
    check_lists(out, [str(i) for i in range(1852)], KEPT_LISTS)


def test_no_training_writes_no_checkpoint(tmp_path):
    out = tmp_path / "none"
    assert main(["curate", "--out", str(out), "-q", "--train", "none"]) == 0
    assert not (out / "checkpoint.pt").exists()
    assert "train" not in [s["name"] for s in _report(out)["steps"]]


def test_simclr_trains_a_user_model_on_a_folder(digit_folder, tmp_path, monkeypatch):
    """--model with --train simclr: a 3-channel net on gray 16x16 PNGs, its pooled conv."""
    (tmp_path / "net.py").write_text(NET)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "out"
    args = ["curate", "--images", str(digit_folder), "--image-size", "16", "--out", str(out)]
    args += ["-q", "--model", "net.py:make", "--layer", "3", "--train", "simclr"]
    assert main([*args, "--epochs", "2", "--select", "15", "--simclr-flip"]) == 0
    report = _report(out)
    assert _train_step(report)["detail"].startswith("SimCLR on layer 3 with flips, 2 epochs")
    assert report["parameters"]["simclr_flip"] is True
    assert np.load(out / "embeddings.npy").shape == (150, 16)  # 16 channels, avg-pooled
    assert len((out / "selected.txt").read_text().split()) == 15
    state = torch.load(out / "checkpoint.pt", weights_only=True)
    assert set(state) == {"0.weight", "0.bias", "2.weight", "2.bias", "6.weight", "6.bias"}


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("sklearn-curate: error: "), err
    return err


def test_missing_ssl_extra_is_one_line_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "kornia", None)  # as if not installed

    def no_loading(*args, **kwargs):
        raise AssertionError("the inputs were read before the options were checked")

    monkeypatch.setattr(cli._Run, "load", no_loading)
    out = tmp_path / "o"
    assert main(["curate", "--out", str(out), "--train", "simclr"]) == 1
    err = _one_line_error(capsys)
    assert "--train simclr needs the ssl extra" in err
    assert 'pip install "sklearn-curate[ssl]"' in err
    assert not out.exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            ["--model", "net.py:make", "--layer", "3", "--train", "autoencoder"],
            "--train autoencoder trains the built-in autoencoder, not a --model",
        ),
        (["--checkpoint", "missing.pt"], "--checkpoint 'missing.pt' is not a file."),
        (["--checkpoint", "junk.pt"], "--checkpoint 'junk.pt' cannot be read as weights"),
        (
            ["--checkpoint", "tensor.pt"],
            "--checkpoint 'tensor.pt' holds a Tensor, not a state_dict",
        ),
        (["--checkpoint", "other.pt"], "--checkpoint 'other.pt' does not fit the model"),
    ],
)
def test_bad_train_or_checkpoint_is_one_clear_line(tmp_path, capsys, monkeypatch, extra, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.py").write_text(NET)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    torch.save({"weight": torch.zeros(2, 2)}, tmp_path / "other.pt")
    out = tmp_path / "o"
    assert main(["curate", "--out", str(out), "-q", *extra]) == 1
    assert message in _one_line_error(capsys)
    assert not out.exists()


def test_simclr_on_feature_vectors_is_refused(tmp_path, capsys):
    path = tmp_path / "f.npy"
    np.save(path, np.random.RandomState(0).normal(size=(50, 4)))
    out = tmp_path / "o"
    assert main(["curate", "--array", str(path), "--out", str(out), "-q", "--train", "simclr"]) == 1
    assert "--train simclr and --checkpoint need images or a --model" in _one_line_error(capsys)
    assert not out.exists()


def test_out_may_not_hold_the_checkpoint(builtin_simclr, tmp_path, capsys):
    """--overwrite of the folder that holds --checkpoint would delete it: refused."""
    out = tmp_path / "copy"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes((builtin_simclr / "checkpoint.pt").read_bytes())
    args = ["curate", "--out", str(out), "--overwrite", "--checkpoint", str(out / "checkpoint.pt")]
    assert main(args) == 1
    assert "--checkpoint" in _one_line_error(capsys)
    assert (out / "checkpoint.pt").exists()
