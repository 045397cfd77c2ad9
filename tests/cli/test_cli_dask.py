"""sklearn-curate curate --scheduler: the embedding and k-NN search steps on a Dask cluster."""

import json
import sys

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits, load_sample_images

from sklearn_curate.cli import main

LISTS = {
    "kept": "kept.txt",
    "outlier": "removed_outliers.txt",
    "similar": "removed_similar.txt",
    "corrupt": "corrupt.txt",
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """300 digit PNGs in class folders, 8 photo crops among them, 2 corrupt files."""
    root = tmp_path_factory.mktemp("dask_cli") / "data"
    digits = load_digits()
    for i in range(300):
        p = root / str(digits.target[i]) / f"d{i:03d}.png"
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((digits.images[i] * (255 / 16)).astype(np.uint8)).save(p)
    photo = load_sample_images().images[0]
    for j in range(8):
        crop = photo[40 * j : 40 * j + 32, 100:132]
        Image.fromarray(crop).save(root / str(j) / f"photo{j}.png")
    (root / "3" / "empty.png").write_bytes(b"")
    (root / "5" / "notes.png").write_text("not an image\n")
    return root


def _outputs(out):
    files = {name: (out / name).read_bytes() for name in [*LISTS.values(), "scores.csv"]}
    return files, np.load(out / "embeddings.npy")


def test_scheduler_local_on_a_folder_equals_the_local_run(folder, tmp_path, check_lists):
    pytest.importorskip("distributed")
    args = ["curate", "--images", str(folder), "--image-size", "8", "--epochs", "1", "-q"]
    assert main([*args, "--out", str(tmp_path / "here")]) == 0
    assert main([*args, "--out", str(tmp_path / "dask"), "--scheduler", "local"]) == 0
    here, Z_here = _outputs(tmp_path / "here")
    dask, Z_dask = _outputs(tmp_path / "dask")
    np.testing.assert_allclose(Z_dask, Z_here, rtol=0, atol=1e-6)
    assert dask == here  # kept / removed / corrupt lists and scores.csv, byte for byte
    ids = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png"))
    lists = check_lists(tmp_path / "dask", ids, LISTS)
    assert sorted(lists["corrupt"]) == ["3/empty.png", "5/notes.png"]
    steps = json.loads((tmp_path / "dask" / "report.json").read_text())["steps"]
    embed = next(s for s in steps if s["name"] == "embed")
    assert embed["device"] == "dask" and "on Dask" in embed["detail"]
    _searched_on_dask(steps)
    assert not list(tmp_path.glob(".*"))  # no staging folder left behind


def _searched_on_dask(steps):
    """The curators' k-NN graphs were searched on the cluster and fed to them."""
    by_name = {s["name"]: s for s in steps}
    for name in ("outliers", "similar"):
        search = by_name[f"{name} neighbours"]
        assert search["device"] == "dask" and "on Dask" in search["detail"]
    assert by_name["outliers"]["backend"] == "knn_graph"  # the tree that takes the graph
    assert by_name["similar"]["backend"] == "precomputed"


def test_scheduler_address_on_an_array_equals_the_local_run(dask_client, tmp_path):
    images = load_digits().images[:400].astype(np.float32)
    np.save(tmp_path / "digits.npy", images)
    args = ["curate", "--array", str(tmp_path / "digits.npy"), "--epochs", "1", "-q"]
    address = dask_client.scheduler.address
    assert main([*args, "--out", str(tmp_path / "here")]) == 0
    assert main([*args, "--out", str(tmp_path / "dask"), "--scheduler", address]) == 0
    here, Z_here = _outputs(tmp_path / "here")
    dask, Z_dask = _outputs(tmp_path / "dask")
    np.testing.assert_allclose(Z_dask, Z_here, rtol=0, atol=1e-6)
    assert dask == here
    _searched_on_dask(json.loads((tmp_path / "dask" / "report.json").read_text())["steps"])


def test_scheduler_without_the_extra_is_one_line_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed
    out = tmp_path / "out"
    assert main(["curate", "--out", str(out), "--scheduler", "local"]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "--scheduler needs Dask" in err and "sklearn-curate[dask]" in err
    assert not out.exists() and list(tmp_path.iterdir()) == []
