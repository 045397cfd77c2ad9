"""The ``sklearn-curate influence`` sub-command, run in-process.

The parser is built here the way ``cli.build_parser`` builds it (``add_subparsers`` +
``add_influence_parser``) and errors are handled as ``cli.main`` handles them, so the
tests hold before and after the sub-command is wired into ``cli.py``. Runs use the
exact solver (650 parameters) and few test rows; the built-in default run is done
once per module.
"""

import argparse
import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from sklearn_curate import save_influence
from sklearn_curate.cli._influence import add_influence_parser, run_influence
from sklearn_curate.cli._inputs import CurateError
from sklearn_curate.curation.influence import InfluenceScorer

N_TEST = 3
K = 5


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sklearn-curate")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_influence_parser(sub)
    return parser


def run_cli(argv: list[str]) -> int:
    """Exit status of ``sklearn-curate ARGV``, as ``cli.main`` returns it."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse: 2 on errors, 0 for --help
        return int(exc.code or 0)
    try:
        run_influence(args, argv)
    except CurateError as exc:
        print(f"sklearn-curate: error: {exc}", file=sys.stderr)
        return 1
    return 0


def png_size(k: int) -> tuple[int, int]:
    """Size of save_influence's picture: test image + k cells of 64 px, two rows."""
    cell, pad, label_h = 64, 6, 26
    return pad + (k + 1) * (cell + pad), 2 * (cell + pad + label_h) + pad


def digits_split(**kw):
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, **kw)


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if ".partial-" in p.name or ".old-" in p.name]


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("default") / "infl"
    assert (
        run_cli(
            ["influence", "--n-test", str(N_TEST), "--method", "exact", "-q", "--out", str(out)]
        )
        == 0
    )
    return out


@pytest.fixture(scope="module")
def reference():
    """InfluenceScorer on the same data as the default run, fitted directly."""
    Xtr, Xte, ytr, yte = digits_split(train_size=1500, random_state=0)
    est = LogisticRegression(C=1.0, max_iter=1000)
    scorer = InfluenceScorer(est, method="exact", device="auto", random_state=0).fit(Xtr, ytr)
    return scorer, Xte[:N_TEST], yte[:N_TEST]


def small_npz(path: Path, *, n_train=200, n_test=20, **override) -> Path:
    Xtr, Xte, ytr, yte = digits_split(train_size=n_train, test_size=n_test, random_state=2)
    arrays = {"X_train": Xtr, "y_train": ytr, "X_test": Xte, "y_test": yte, **override}
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return path


def test_default_run_writes_every_file(default_run):
    out = default_run
    names = {p.name for p in out.iterdir()}
    expected = {"influence.npy", "top_k.json", "self_influence.csv", "report.json"}
    expected |= {"index.html", "run.log", ".sklearn-curate-output"}
    expected |= {f"influence_{j:05d}.npy" for j in range(N_TEST)}
    expected |= {f"top_{j:05d}.png" for j in range(N_TEST)}
    assert names == expected
    assert leftovers(out.parent) == []
    inf = np.load(out / "influence.npy")
    assert inf.shape == (N_TEST, 1500)
    for j in range(N_TEST):
        np.testing.assert_array_equal(np.load(out / f"influence_{j:05d}.npy"), inf[j])
    report = json.loads((out / "report.json").read_text())
    assert report["n_params"] == 10 * 65 and report["grad_norm"] < 1e-8
    assert report["method"] == "exact" and report["model"] == "LogisticRegression(C=1)"
    assert report["input"]["n_train"] == 1500 and report["input"]["n_test"] == N_TEST
    assert [s["name"] for s in report["steps"]] == ["load", "fit", "influence", "write"]
    assert all(s["seconds"] >= 0 for s in report["steps"]) and report["total_seconds"] > 0
    assert report["versions"]["scikit-learn"] and report["versions"]["torch"]
    page = (out / "index.html").read_text()
    assert all(f"src='top_{j:05d}.png'" in page for j in range(N_TEST))
    assert len((out / "run.log").read_text().splitlines()) == 5


def test_top_k_and_arrays_agree_with_the_api(default_run, reference, tmp_path):
    scorer, Xte, yte = reference
    top = json.loads((default_run / "top_k.json").read_text())
    ref = scorer.top_k(Xte, yte, k=K)
    for key in ("helpful", "harmful"):
        np.testing.assert_array_equal(np.array(top[key]), ref[key])
        np.testing.assert_allclose(np.array(top[key + "_influence"]), ref[key + "_influence"])
    inf = np.load(default_run / "influence.npy")
    np.testing.assert_allclose(inf, scorer.influence(Xte, yte), rtol=1e-6, atol=1e-12)
    # the same files as save_influence writes
    save_influence(scorer, Xte, yte, tmp_path, image_shape=(8, 8), k=K)
    assert json.loads((tmp_path / "top_k.json").read_text())["helpful"] == top["helpful"]
    np.testing.assert_allclose(
        np.load(tmp_path / "influence_00001.npy"), np.load(default_run / "influence_00001.npy")
    )
    # self-influence ranking and the curator's decisions
    with open(default_run / "self_influence.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 1500
    np.testing.assert_allclose(
        [float(r["self_influence"]) for r in rows], scorer.self_influence_, rtol=1e-5
    )
    removed = [int(r["row"]) for r in rows if r["decision"] == "removed"]
    assert removed == list(np.flatnonzero(~scorer.support_)) and len(removed) == 15
    ranks = sorted(int(r["rank"]) for r in rows)
    assert ranks == list(range(1, 1501))
    assert all(int(r["rank"]) <= 15 for r in rows if r["decision"] == "removed")


def test_png_opens_with_the_expected_size(default_run):
    with Image.open(default_run / "top_00000.png") as im:
        im.load()
        assert im.format == "PNG" and im.size == png_size(K)
        # green frames of helpful images, red of harmful ones
        colours = set(map(tuple, np.asarray(im.convert("RGB")).reshape(-1, 3).tolist()))
    assert (0, 140, 0) in colours and (200, 0, 0) in colours


def test_array_round_trip_finds_flipped_labels(tmp_path):
    Xtr, Xte, ytr, yte = digits_split(train_size=500, test_size=100, random_state=1)
    flip = np.array([3, 50, 120, 260, 410])
    y_noisy = ytr.copy()
    y_noisy[flip] = (ytr[flip] + 5) % 10
    # the first test rows: the nearest test image of each flipped row's true digit
    first = []
    for i in flip:
        same = np.flatnonzero(yte == ytr[i])
        first.append(same[np.argmin(((Xte[same] - Xtr[i]) ** 2).sum(1))])
    order = np.r_[first, np.setdiff1d(np.arange(len(Xte)), first)]
    data = tmp_path / "noisy.npz"
    # images as (n, 8, 8): the image shape comes from the arrays
    np.savez(
        data,
        X_train=Xtr.reshape(-1, 8, 8),
        y_train=y_noisy,
        X_test=Xte[order].reshape(-1, 8, 8),
        y_test=yte[order],
    )
    out = tmp_path / "out"
    argv = ["influence", "--array", str(data), "--n-test", "5", "--k", "3"]
    assert run_cli([*argv, "--method", "exact", "-q", "--out", str(out)]) == 0

    with open(out / "self_influence.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    si = np.array([float(r["self_influence"]) for r in rows])
    rank = np.array([int(r["rank"]) for r in rows])
    assert [int(r["label"]) for r in rows] == list(y_noisy)
    # measured: ranks 1-4 and 7; self-influence >= 0.98 against a median of 0.009
    assert rank[flip].max() <= 10
    assert si[flip].min() > 20 * np.median(si)
    removed = {int(r["row"]) for r in rows if r["decision"] == "removed"}
    assert len(removed) == 5 and len(removed & set(flip)) >= 3  # measured 4
    # measured: each flipped row is the most harmful training row for its test row
    top = json.loads((out / "top_k.json").read_text())
    for j, i in enumerate(flip):
        assert i in top["harmful"][j]
    with Image.open(out / "top_00004.png") as im:
        assert im.size == png_size(3)
    report = json.loads((out / "report.json").read_text())
    assert report["input"]["kind"] == "npz" and report["input"]["image_shape"] == [8, 8]


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"y_test": None}, "no key 'y_test'"),
        ({"X_train": None, "y_train": None}, "no key 'X_train', 'y_train'"),
        ({"y_train": np.zeros(7, dtype=int)}, "y_train has shape (7,)"),
        ({"X_test": np.zeros((20, 63))}, "X_train rows have shape (64,) but X_test rows (63,)"),
        ({"X_train": np.full((200, 64), np.nan)}, "X_train has NaN or inf in 200 rows"),
        ({"image_shape": np.array([7, 7])}, "7 7 does not fit rows of 64 values"),
    ],
)
def test_bad_npz_is_a_one_line_error(tmp_path, capsys, override, message):
    data = small_npz(tmp_path / "bad.npz", **override)
    out = tmp_path / "out"
    assert run_cli(["influence", "--array", str(data), "-q", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not out.exists() and leftovers(tmp_path) == []


def test_other_bad_inputs(tmp_path, capsys):
    np.save(tmp_path / "one.npy", np.zeros((5, 4)))
    for argv, message in [
        (["--array", str(tmp_path / "one.npy")], "holds one array, not an .npz"),
        (["--array", str(tmp_path / "missing.npz")], "does not exist"),
        (["--image-shape", "4", "4"], "4 4 does not fit rows of 64 values"),
        (["--weight-decay", "0.1"], "--weight-decay applies to --model only"),
    ]:
        assert run_cli(["influence", *argv, "-q", "--out", str(tmp_path / "o")]) == 1
        assert message in capsys.readouterr().err
    for bad in (["--fraction", "1.5"], ["--method", "newton"], ["--k", "0"], ["--C", "0"]):
        assert run_cli(["influence", *bad]) == 2
    assert not (tmp_path / "o").exists()


def test_existing_out_needs_overwrite(tmp_path, capsys):
    data = small_npz(tmp_path / "d.npz")
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    argv = ["influence", "--array", str(data), "--n-test", "2", "--method", "exact", "-q"]
    assert run_cli([*argv, "--out", str(out)]) == 1
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert (out / "mine.txt").read_text() == "keep me"
    # --overwrite replaces only a folder this tool wrote
    assert run_cli([*argv, "--out", str(out), "--overwrite"]) == 1
    assert "not an output folder of sklearn-curate" in capsys.readouterr().err
    assert (out / "mine.txt").read_text() == "keep me"
    (out / "mine.txt").unlink()
    assert run_cli([*argv, "--out", str(out), "--overwrite"]) == 0
    assert (out / "top_k.json").is_file()
    # no image shape for flat feature rows: no pictures, everything else
    assert not list(out.glob("top_*.png")) and (out / "influence_00001.npy").is_file()
    assert run_cli([*argv, "--out", str(out), "--force"]) == 0  # --force is an alias
    assert leftovers(tmp_path) == []


def test_failed_write_leaves_no_folder(tmp_path, monkeypatch, capsys):
    import sklearn_curate.report._influence as influence

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(influence, "_grid_png", broken)
    data = small_npz(tmp_path / "d.npz")
    out = tmp_path / "out"
    argv = ["influence", "--array", str(data), "--image-shape", "8", "8", "--n-test", "2"]
    with pytest.raises(OSError, match="disk full"):
        run_cli([*argv, "--method", "exact", "-q", "--out", str(out)])
    assert not out.exists() and leftovers(tmp_path) == []


def test_user_torch_model(tmp_path, monkeypatch):
    (tmp_path / "nets.py").write_text(
        "import torch\n"
        "def mlp():\n"
        "    return torch.nn.Sequential(torch.nn.Linear(64, 4), torch.nn.Tanh(), "
        "torch.nn.Linear(4, 10))\n"
        "def not_a_module():\n"
        "    return 3\n"
    )
    monkeypatch.chdir(tmp_path)
    data = small_npz(tmp_path / "d.npz", n_train=150, n_test=10)
    base = ["influence", "--array", "d.npz", "--n-test", "2", "--method", "exact", "-q"]
    argv = [*base, "--model", "nets.py:mlp", "--weight-decay", "1e-2", "--out", "o"]
    assert run_cli(argv) == 0
    report = json.loads((tmp_path / "o" / "report.json").read_text())
    assert report["n_params"] == 64 * 4 + 4 + 4 * 10 + 10
    assert report["grad_norm"] < 1e-6
    assert np.load(tmp_path / "o" / "influence.npy").shape == (2, 150)
    assert run_cli([*base, "--model", "nets.py:not_a_module", "--out", "o2"]) == 1
    assert data.is_file() and not (tmp_path / "o2").exists()


def test_wired_into_cli(tmp_path, capsys):
    """Once cli.py has the sub-command, `sklearn-curate influence` runs through main."""
    from sklearn_curate.cli import _curate as cli

    parser = cli.build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    if "influence" not in sub.choices:
        pytest.skip("cli.py does not wire the influence sub-command yet")
    data = small_npz(tmp_path / "d.npz")
    out = tmp_path / "out"
    argv = ["influence", "--array", str(data), "--n-test", "1", "--method", "exact", "-q"]
    assert cli.main([*argv, "--out", str(out)]) == 0
    assert (out / "report.json").is_file()
    assert cli.main([*argv, "--out", str(out)]) == 1
    assert "exists" in capsys.readouterr().err


CNN_FILE = """\
import torch
from torch import nn


def cnn():
    # 6,668 parameters: above the 5,000 that are retrained, so taken as trained
    return nn.Sequential(
        nn.Conv2d(1, 8, 3), nn.Tanh(), nn.Flatten(),
        nn.Linear(8 * 6 * 6, 22), nn.Tanh(), nn.Linear(22, 10),
    )


def flat_first():
    return nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 2, 3), nn.Flatten(),
                         nn.Linear(72, 10))


def rgb():
    return nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.Linear(72, 10))
"""


@pytest.fixture
def cnn_dir(tmp_path, monkeypatch):
    (tmp_path / "nets.py").write_text(CNN_FILE)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_cnn_on_the_digits_images(cnn_dir):
    """--model CNN on the built-in digits: images (n, 1, 8, 8), Adam first, EK-FAC."""
    base = ["influence", "--model", "nets.py:cnn", "--n-test", str(N_TEST), "-q"]
    train = ["--train-epochs", "3", "--train-lr", "0.01", "--weight-decay", "1e-3"]
    assert run_cli([*base, *train, "--method", "ekfac", "--out", "o"]) == 0
    out = cnn_dir / "o"
    names = {p.name for p in out.iterdir()}
    assert {f"top_{j:05d}.png" for j in range(N_TEST)} <= names
    assert {"influence.npy", "top_k.json", "self_influence.csv", "index.html"} <= names
    report = json.loads((out / "report.json").read_text())
    assert report["input"]["model_input"] == ["n", 1, 8, 8]
    assert (report["method"], report["n_params"], report["refit"]) == ("ekfac", 6668, False)
    assert report["train"]["epochs"] == 3 and report["train"]["accuracy"] > 0.8
    assert set(report["damping"]) == {"0", "3", "5"}  # the per-layer rule
    assert [s["name"] for s in report["steps"]][:4] == ["load", "model", "train", "fit"]
    # top_k.json is the ranking of influence.npy's rows
    inf = np.load(out / "influence.npy")
    assert inf.shape == (N_TEST, 1500) and np.isfinite(inf).all()
    top = json.loads((out / "top_k.json").read_text())
    for j in range(N_TEST):
        order = np.argsort(inf[j], kind="stable")
        assert top["harmful"][j] == order[:K].tolist()
        assert top["helpful"][j] == order[::-1][:K].tolist()
        np.testing.assert_array_equal(top["helpful_influence"][j], inf[j, top["helpful"][j]])
    # every training row is in exactly one of kept / removed
    with open(out / "self_influence.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(int(r["row"]) for r in rows) == list(range(1500))
    decisions = [r["decision"] for r in rows]
    assert set(decisions) == {"kept", "removed"} and decisions.count("removed") == 15
    with Image.open(out / "top_00000.png") as im:
        assert im.size == png_size(K)

    # --layers: the last Linear alone (230 parameters: exact, trained to its optimum)
    assert run_cli([*base, *train, "--layers", "5", "--out", "o_last"]) == 0
    report = json.loads((cnn_dir / "o_last" / "report.json").read_text())
    assert (report["n_params"], report["layers"], report["method"]) == (230, ["5"], "exact")
    assert report["refit"] is True and report["grad_norm"] < 1e-6


def test_cnn_input_choices_and_errors(cnn_dir, capsys):
    data = small_npz(cnn_dir / "d.npz", n_train=60, n_test=5)
    base = ["influence", "--n-test", "2", "-q", "--damping", "5"]
    # a first module that takes rows (Unflatten) gets rows; --input images feeds images
    argv = [*base, "--model", "nets.py:flat_first", "--array", str(data), "--method", "exact"]
    assert run_cli([*argv, "--image-shape", "8", "8", "--refit", "no", "--out", "o1"]) == 0
    assert "taken as trained (--refit no)" in capsys.readouterr().err
    assert json.loads((cnn_dir / "o1" / "report.json").read_text())["input"]["model_input"] == [
        "n",
        64,
    ]
    assert run_cli([*argv, "--image-shape", "8", "8", "--input", "images", "--out", "o2"]) == 1
    assert "shape (n, 1, 8, 8) (--input images)" in capsys.readouterr().err
    # a Conv2d first without an image shape gets rows, and its error says so
    argv = [*base, "--model", "nets.py:cnn", "--array", str(data), "--method", "exact"]
    assert run_cli([*argv, "--out", "o3"]) == 1
    err = capsys.readouterr().err
    assert "first module '0' is a Conv2d, which takes images, but no image shape" in err
    assert "shape (n, 64) (--input auto)" in err
    for extra, message in [
        (["--input", "images"], "--input images needs an image shape"),
        (["--layers", "fc"], "no sub-module named 'fc'; modules with parameters: 0, 3, 5"),
        (["--layers", "1"], "'1' has no parameters"),
    ]:
        assert run_cli([*argv, *extra, "--out", "o4"]) == 1
        assert message in capsys.readouterr().err
    rgb = ["--model", "nets.py:rgb", "--image-shape", "8", "8"]
    assert run_cli([*base, *rgb, "--array", str(data), "--out", "o5"]) == 1
    assert "Conv2d(in_channels=3) but the images have 1 channel(s)" in capsys.readouterr().err
    for extra, option in [
        (["--layers", "0"], "--layers"),
        (["--train-epochs", "2"], "--train-epochs"),
        (["--method", "ekfac"], "--method ekfac"),
        (["--refit", "no"], "--refit"),
    ]:
        assert run_cli(["influence", *extra, "-q", "--out", "o6"]) == 1
        assert f"{option} applies to a torch --model only" in capsys.readouterr().err
    assert not any((cnn_dir / f"o{i}").exists() for i in (2, 3, 4, 5, 6))
