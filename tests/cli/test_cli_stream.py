"""The main job on many images: decoded batch by batch to disk, reduced in blocks, report capped.

Issue 13, part 2. The scale itself (20,000 and 100,000 images, peak memory) is
measured in docs/benchmarks.md; these tests check the mechanisms on small folders.
"""

import json
import re
import weakref

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

from sklearn_curate.cli import _curate, _inputs
from sklearn_curate.cli._curate import main
from sklearn_curate.cli._stream import chunked_standard_pca
from sklearn_curate.embedding import _images
from sklearn_curate.report import _figures
from sklearn_curate.utils._disk_array import DiskArray, DiskArrayWriter

LISTS = {
    "kept": "kept.txt",
    "outlier": "removed_outliers.txt",
    "similar": "removed_similar.txt",
    "corrupt": "corrupt.txt",
    "exact_duplicate": "removed_exact_duplicates.txt",
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """240 digit PNGs in two class folders, one unreadable file and one exact copy."""
    root = tmp_path_factory.mktemp("stream") / "data"
    digits = load_digits()
    for i in range(240):
        path = root / f"c{i % 2}" / f"{i:03d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((digits.images[i] * (255 / 16)).astype(np.uint8)).save(path)
    (root / "c0" / "bad.png").write_text("not an image\n")
    (root / "c1" / "copy.png").write_bytes((root / "c0" / "000.png").read_bytes())
    return root


def _ids(root):
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))


def _outputs(out):
    lists = {d: (out / f).read_text("utf-8") for d, f in LISTS.items()}
    return lists, (out / "scores.csv").read_text("utf-8"), np.load(out / "embeddings.npy")


def test_disk_array_reads_rows_like_an_array(tmp_path):
    A = np.random.default_rng(0).random((50, 1, 4, 4), dtype=np.float32)
    w = DiskArrayWriter(tmp_path / "a.f32")
    for lo in range(0, 50, 16):
        w.write(A[lo : lo + 16])
    X = w.close()
    assert X.shape == A.shape and len(X) == 50
    assert np.array_equal(X[3:19], A[3:19]) and np.array_equal(X[7], A[7])
    rows = np.array([40, 2, 2, 3, 49])
    assert np.array_equal(X[rows], A[rows]) and np.array_equal(X[rows, :1], A[rows, :1])
    np.save(tmp_path / "a.npy", A)
    assert np.array_equal(np.asarray(DiskArray(tmp_path / "a.npy")), A)
    with pytest.raises(IndexError, match="out of range"):
        X[np.array([50])]


def test_folder_is_decoded_batch_by_batch(folder, tmp_path, monkeypatch):
    """At most two decoded batches are alive at once; the stored images equal the in-memory ones."""
    monkeypatch.setattr(_inputs, "DECODE_BATCH", 64)
    alive, most, calls = [0], [0], []
    real = _images.load_images

    def counting(paths, **kw):
        images, ok, why = real(paths, **kw)
        calls.append(len(paths))
        alive[0] += len(images)
        most[0] = max(most[0], alive[0])

        def gone(k):
            alive[0] -= k

        weakref.finalize(images, gone, len(images))
        return images, ok, why

    monkeypatch.setattr(_images, "load_images", counting)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    streamed = _inputs.load_inputs(str(folder), None, 8, 0, False, scratch=scratch)
    assert isinstance(streamed.data, DiskArray) and streamed.data.shape == (240, 1, 8, 8)
    assert max(calls) == 64 and sum(calls) == 241  # the copy is not decoded
    assert most[0] <= 2 * 64, f"{most[0]} decoded images alive at once"
    assert [p.name for p in scratch.iterdir()] == ["images_gray.f32"]  # RGB file gone
    in_memory = _inputs.load_inputs(str(folder), None, 8, 0, False)
    assert isinstance(in_memory.data, np.ndarray)
    assert np.array_equal(np.asarray(streamed.data), in_memory.data)
    assert streamed.reasons == in_memory.reasons and streamed.reasons
    assert streamed.exact_duplicate_of == in_memory.exact_duplicate_of


@pytest.fixture(scope="module")
def runs(folder, tmp_path_factory):
    """The same folder curated streamed (the default) and with the images in memory."""
    base = tmp_path_factory.mktemp("stream_runs")
    args = ["curate", "--images", str(folder), "--image-size", "8", "--epochs", "1", "--quiet"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_inputs, "DECODE_BATCH", 64)  # 4 batches, decoded by a worker process
        assert main([*args, "--out", str(base / "streamed"), "--workers", "1"]) == 0
    with pytest.MonkeyPatch.context() as mp:
        real = _inputs._folder_inputs

        def in_memory(folder, image_size, progress, relevant=None, scratch=None, workers=0):
            return real(folder, image_size, progress, relevant, None, workers)

        mp.setattr(_inputs, "_folder_inputs", in_memory)
        assert main([*args, "--out", str(base / "in_memory")]) == 0
    return base


def test_streamed_run_equals_in_memory_run(runs, folder, check_lists):
    streamed, in_memory = _outputs(runs / "streamed"), _outputs(runs / "in_memory")
    assert streamed[0] == in_memory[0] and streamed[1] == in_memory[1]
    assert np.array_equal(streamed[2], in_memory[2])
    lists = check_lists(runs / "streamed", _ids(folder), LISTS)
    assert lists["corrupt"] == ["c0/bad.png"] and lists["exact_duplicate"] == ["c1/copy.png"]
    assert not (runs / "streamed" / ".scratch").exists()
    marker = json.loads((runs / "streamed" / ".sklearn-curate-output").read_text())
    assert not any(f.startswith(".scratch") for f in marker["files"])


def test_chunked_pca_equals_exact_pca():
    Z = load_digits().data.astype(np.float32)
    Z[:, 0] = 0.0  # a constant feature is left unscaled, as StandardScaler does
    R, ratio = chunked_standard_pca(Z, 10, chunk_bytes=4096)  # many blocks
    S = StandardScaler().fit_transform(Z.astype(np.float64))  # the reference in float64
    pca = PCA(10, svd_solver="covariance_eigh").fit(S)
    np.testing.assert_allclose(R, pca.transform(S), atol=1e-5)
    np.testing.assert_allclose(ratio, pca.explained_variance_ratio_, rtol=1e-6)


def test_large_run_paths_reduce_in_blocks_and_cap_the_report(folder, tmp_path, monkeypatch):
    """Above the size limits: PCA in blocks, a sampled scatter plot, thumbnails of what is shown."""
    monkeypatch.setattr(_curate, "IN_MEMORY_BYTES", 0)
    monkeypatch.setattr(_figures, "MAX_POINTS_SHOWN", 50)
    out = tmp_path / "out"
    args = ["curate", "--images", str(folder), "--image-size", "8", "--epochs", "1"]
    assert main([*args, "--out", str(out), "--quiet", "--outlier-fraction", "0.1"]) == 0
    report = json.loads((out / "report.json").read_text())
    reduce = next(s for s in report["steps"] if s["name"] == "reduce")
    assert "pca in blocks" in reduce["detail"]
    emb = report["figures"]["embedding"]
    assert (emb["n_shown"], emb["n_embedded"]) == (50, 240)
    assert sum(len(t["positions"]) for t in emb["traces"].values()) == 50
    assert report["counts"]["outlier"] == 24  # every row is still curated
    html = (out / "report.html").read_text()
    assert "Showing 50 of 240 points" in html
    thumbs = json.loads(
        re.search(r'<script type="application/json" id="thumbs">(.*?)</script>', html, re.S)[1]
    )
    shown = {p for t in emb["traces"].values() for p in t["positions"]}
    pairs = [r for v in report["figures"]["pairs"].values() for r in v[:60]]
    shown |= {r["position"] for r in pairs} | {r["nearest"] for r in pairs}
    assert shown <= {int(k) for k in thumbs} and len(thumbs) < 240


@pytest.mark.parametrize("kind", ["features", "images_hwc"])
def test_npy_is_read_block_by_block(kind, tmp_path, monkeypatch):
    """A .npy file is read in blocks into the scratch folder, with the in-memory values."""
    digits = load_digits()
    if kind == "features":
        X = digits.data.astype(np.float64)
        X[5, 3] = np.nan
        size = None
    else:
        X = np.repeat((digits.images[:300] * 16).astype(np.uint8)[..., None], 3, axis=-1)
        X[7, 0, 0, 0] = 255
        size = 12
    np.save(tmp_path / "x.npy", X)
    monkeypatch.setattr("sklearn_curate.utils._disk_array.CHUNK_BYTES", 4096)  # many blocks
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    on_disk = _inputs.load_inputs(None, str(tmp_path / "x.npy"), size, 0, False, scratch=scratch)
    in_memory = _inputs.load_inputs(None, str(tmp_path / "x.npy"), size, 0, False)
    assert isinstance(on_disk.data, DiskArray) and isinstance(in_memory.data, np.ndarray)
    assert np.array_equal(np.asarray(on_disk.data), in_memory.data)
    assert np.array_equal(on_disk.valid, in_memory.valid) and on_disk.info == in_memory.info
    assert on_disk.reasons == in_memory.reasons
