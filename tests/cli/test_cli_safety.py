"""The main job never loses a user's file and lists every file it was given.

Each test builds the files a real user has (a folder of images next to their own
documents, odd file names, links, FIFOs, .npz archives) and asserts on what the run
leaves on disk: inputs byte-identical, every entry of --images in exactly one list.
"""

import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

import sklearn_curate
from sklearn_curate.cli import _curate as cli
from sklearn_curate.cli._curate import main
from sklearn_curate.cli._inputs import quote_id, unquote_id
from sklearn_curate.cli._output_folder import MARKER

REPO = Path(sklearn_curate.__file__).resolve().parents[1]
LISTS = (
    "kept.txt",
    "removed_outliers.txt",
    "removed_similar.txt",
    "corrupt.txt",
    "removed_exact_duplicates.txt",
    "skipped.txt",
)
FAST = ["--epochs", "1", "--image-size", "8", "-q"]


def _digit_pngs(folder: Path, n: int, start: int = 0) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    images = load_digits().images
    names = []
    for i in range(start, start + n):
        name = f"d{i:03d}.png"
        Image.fromarray((images[i] * (255 / 16)).astype(np.uint8)).save(folder / name)
        names.append(name)
    return names


def _tree_digest(root: Path) -> dict:
    """Every entry under root (links not followed) with its bytes' hash or link target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            rel = os.fsencode(p.relative_to(root))
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_file():
                out[rel] = ("file", hashlib.sha256(p.read_bytes()).hexdigest())
            elif p.is_dir():
                out[rel] = ("dir",)
            else:
                out[rel] = ("special",)
    return out


def _read_ids(out: Path, name: str) -> list[str]:
    text = (out / name).read_text(encoding="utf-8")
    assert text == "" or text.endswith("\n")
    return [unquote_id(line.split("\t", 1)[0]) for line in text.split("\n")[:-1]]


@pytest.fixture()
def user_dir(tmp_path):
    """A user's folder: d/imgs with 30 digit images, and d/important.doc."""
    d = tmp_path / "d"
    _digit_pngs(d / "imgs", 30)
    (d / "important.doc").write_bytes(b"the only copy")
    return d


# ----------------------------------------------------------------------------------
# --out and --overwrite never delete inputs or a folder the tool did not write
# ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "out, word",
    [(".", "contains"), ("imgs", "is"), ("imgs/sub", "lies inside"), ("..", "contains")],
)
@pytest.mark.parametrize("overwrite", [True, False])
def test_out_overlapping_the_input_is_refused_before_any_work(
    user_dir, monkeypatch, capsys, out, word, overwrite
):
    monkeypatch.chdir(user_dir)

    def no_work(*args, **kwargs):
        raise AssertionError("the run did work before checking --out")

    monkeypatch.setattr(cli, "load_inputs", no_work)
    before = _tree_digest(user_dir.parent)
    args = ["curate", "--images", "imgs", "--out", out] + (["--overwrite"] if overwrite else [])
    assert main(args) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{word} the input --images 'imgs'" in err, err
    assert _tree_digest(user_dir.parent) == before


def test_overwrite_replaces_only_its_own_output(user_dir, monkeypatch, capsys):
    monkeypatch.chdir(user_dir)
    args = ["curate", "--images", "imgs", "--out", "res", *FAST]
    assert main(args) == 0
    marker = json.loads((user_dir / "res" / MARKER).read_text())
    assert marker["tool"] == "sklearn-curate" and marker["state"] == "complete"
    assert set(marker["files"]) == {p.name for p in (user_dir / "res").iterdir()} - {MARKER}
    inputs = _tree_digest(user_dir / "imgs")

    # a finished output of this tool is replaced
    first = (user_dir / "res" / "report.json").read_text()
    assert main([*args, "--overwrite"]) == 0
    assert (user_dir / "res" / "report.json").read_text() != first  # a new run's report
    assert sorted(p.name for p in user_dir.iterdir()) == ["imgs", "important.doc", "res"]

    # ... but not once the user has put a file of their own in it
    (user_dir / "res" / "my_notes.txt").write_text("mine")
    before = _tree_digest(user_dir)
    assert main([*args, "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert "did not write ('my_notes.txt')" in err and err.count("\n") == 1
    assert _tree_digest(user_dir) == before

    # nor a folder without the marker, nor a file
    (user_dir / "other").mkdir()
    (user_dir / "other" / "kept.txt").write_text("someone else's list")
    assert main(["curate", "--images", "imgs", "--out", "other", "--overwrite", *FAST]) == 1
    assert "not an output folder of sklearn-curate" in capsys.readouterr().err
    assert main(["curate", "--images", "imgs", "--out", "important.doc", "--overwrite"]) == 1
    assert "is a file" in capsys.readouterr().err
    del before[b"res/my_notes.txt"]
    (user_dir / "res" / "my_notes.txt").unlink()
    assert {k: v for k, v in _tree_digest(user_dir).items() if not k.startswith(b"other")} == (
        before
    )

    # an empty folder is fine
    (user_dir / "empty").mkdir()
    assert main(["curate", "--images", "imgs", "--out", "empty", "--overwrite", *FAST]) == 0
    assert (user_dir / "empty" / "kept.txt").is_file()
    assert _tree_digest(user_dir / "imgs") == inputs


def test_out_holding_an_array_input_cache_or_model_is_refused(tmp_path, capsys):
    work = tmp_path / "work"
    work.mkdir()
    np.save(work / "x.npy", np.random.RandomState(0).normal(size=(30, 4)))
    (work / "net.py").write_text("import torch\ndef make():\n    return torch.nn.Linear(4, 2)\n")
    before = _tree_digest(tmp_path)
    cases = [
        (["--array", str(work / "x.npy")], "contains the input --array"),
        (["--array", str(work / "x.npy"), "--cache-dir", str(work / "cache")], "contains"),
        (["--cache-dir", str(work / "cache")], "contains --cache-dir"),
        (["--model", f"{work / 'net.py'}:make", "--layer", "x"], "contains --model"),
    ]
    for extra, message in cases:
        assert main(["curate", *extra, "--out", str(work), "--overwrite"]) == 1
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, err
    assert main(["curate", "--array", str(work / "x.npy"), "--out", str(work / "x.npy")]) == 1
    assert "is the input --array" in capsys.readouterr().err
    assert _tree_digest(tmp_path) == before


@pytest.mark.parametrize("bad", ["/proc/x", "FILE/sub", "/dev/null"])
def test_unwritable_out_fails_before_any_work(tmp_path, monkeypatch, capsys, bad):
    (tmp_path / "FILE").write_text("x")
    bad = bad.replace("FILE", str(tmp_path / "FILE"))

    def no_work(*args, **kwargs):
        raise AssertionError("the run did work before checking --out")

    monkeypatch.setattr(cli, "load_inputs", no_work)
    assert main(["curate", "--out", bad, "--overwrite"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sklearn-curate: error: --out") and err.count("\n") == 1, err
    assert (tmp_path / "FILE").read_text() == "x"


def test_influence_out_is_checked_the_same_way(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("mine")
    before = _tree_digest(tmp_path)
    assert main(["influence", "--out", str(tmp_path), "--overwrite", "--n-test", "1"]) == 1
    assert "not an output folder of sklearn-curate" in capsys.readouterr().err
    assert _tree_digest(tmp_path) == before


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_out_follows_the_umask(tmp_path, umask):
    np.save(tmp_path / "x.npy", np.random.RandomState(0).normal(size=(30, 4)))
    old = os.umask(umask)
    try:
        assert main(["curate", "--array", str(tmp_path / "x.npy"), "--out",
                     str(tmp_path / "o"), "--reducer", "none", "-q"]) == 0  # fmt: skip
    finally:
        os.umask(old)
    assert (tmp_path / "o").stat().st_mode & 0o777 == 0o777 & ~umask


def test_stale_partial_folder_of_a_killed_run_is_cleaned(tmp_path):
    """A run killed with SIGKILL leaves its staging folder; the next run removes it."""
    np.save(tmp_path / "x.npy", np.random.RandomState(0).normal(size=(40, 4)))
    out = tmp_path / "o"
    script = textwrap.dedent(f"""
        import time
        from sklearn_curate.cli import _curate as cli
        def stall(self, *args, **kwargs):
            print("stalling", flush=True)
            time.sleep(120)
        cli._Run.similar = stall
        cli.main(["curate", "--array", {str(tmp_path / "x.npy")!r}, "--out", {str(out)!r},
                  "--reducer", "none", "-q"])
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "stalling"
        partial = [p for p in tmp_path.iterdir() if p.name.startswith(".o.partial-")]
        assert len(partial) == 1 and (partial[0] / MARKER).is_file()
        # while the run lives, another run leaves its folder alone
        live = tmp_path / ".o.partial-live0000"
        live.mkdir()
        (live / MARKER).write_text(json.dumps({"tool": "sklearn-curate", "state": "partial"}))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert partial[0].is_dir()  # a kill leaves it behind ...
    foreign = tmp_path / ".o.partial-notours"
    foreign.mkdir()
    (foreign / "data.bin").write_bytes(b"not ours: no marker")
    with open(live / MARKER) as held:  # ... and a live run holds its marker's lock
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        args = ["curate", "--array", str(tmp_path / "x.npy"), "--out", str(out)]
        assert main([*args, "--reducer", "none", "-q"]) == 0
    assert not partial[0].exists()  # ... and the next run removes it
    assert live.is_dir() and foreign.is_dir()
    assert "left by a killed run" in (out / "run.log").read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [".o.partial-live0000", ".o.partial-notours", "o", "x.npy"]
    )


# ----------------------------------------------------------------------------------
# every file under --images in exactly one list, whatever its name
# ----------------------------------------------------------------------------------
ODD_NAMES = [
    "tab\there.png",
    "new\nline.png",
    "carriage\rreturn.png",
    'quote"d.png',
    '"starts with a quote.png',
    "back\\slash.png",
    "spaces  and ünïcödé.png",
    "line\u2028separator.png",
]


def test_every_file_in_exactly_one_list_whatever_its_name(tmp_path):
    root = tmp_path / "imgs"
    names = _digit_pngs(root, 40)
    images = load_digits().images
    for j, name in enumerate(ODD_NAMES):
        Image.fromarray((images[100 + j] * 15).astype(np.uint8)).save(root / name, format="PNG")
    raw = os.fsdecode(b"caf\xe9-latin1.png")  # a name that is not UTF-8
    Image.fromarray((images[120] * 15).astype(np.uint8)).save(root / raw, format="PNG")
    Image.fromarray((images[121] * 15).astype(np.uint8)).save(root / "no_extension", "PNG")
    (root / "notes.txt").write_text("a text file")
    (root / "labels.csv").write_text("id,label\n")
    (root / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    (root / ".cache").mkdir()
    (root / ".cache" / "x.png").write_bytes((root / names[0]).read_bytes())
    (root / "sub").mkdir()
    (root / "sub" / "d900.png").write_bytes((root / names[1]).read_bytes())  # exact copy
    (root / "sub" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated")
    os.mkfifo(root / "pipe.png")  # opening it would hang: never read
    os.symlink(root / "sub", root / "linked_folder")
    os.symlink(root / "d005.png", root / "a_link_to_d005.png")  # sorts before its target
    os.symlink(root / "gone.png", root / "dangling.png")
    out = tmp_path / "out"
    assert main(["curate", "--images", str(root), "--out", str(out), *FAST]) == 0

    lists = {name: _read_ids(out, name) for name in LISTS}
    every = [i for ids in lists.values() for i in ids]
    assert len(every) == len(set(every)), "an entry is in two lists"
    expected = set(names) | set(ODD_NAMES) | {
        raw, "no_extension", "notes.txt", "labels.csv", ".DS_Store", ".cache/", "sub/d900.png",
        "sub/broken.jpg", "pipe.png", "linked_folder/", "a_link_to_d005.png", "dangling.png",
    }  # fmt: skip
    assert set(every) == expected
    # lines and ids agree: no name broke a list
    n_lines = sum(len((out / n).read_text(encoding="utf-8").split("\n")) - 1 for n in LISTS)
    assert n_lines == len(every)
    for name in ODD_NAMES + [raw, "no_extension"]:
        assert name in lists["kept.txt"] + lists["removed_outliers.txt"] + lists[
            "removed_similar.txt"], name  # fmt: skip
    skipped = dict(
        (unquote_id(a), b)
        for a, b in (line.split("\t") for line in (out / "skipped.txt").read_text().splitlines())
    )
    assert skipped == {
        ".DS_Store": "hidden file",
        ".cache/": "hidden folder (not searched)",
        "linked_folder/": "link to a folder (not followed)",
        "labels.csv": skipped["labels.csv"],
        "notes.txt": skipped["notes.txt"],
        "pipe.png": "not a regular file (FIFO, socket or device)",
    }
    assert skipped["notes.txt"].startswith("not an image file")
    corrupt = dict(line.split("\t", 1) for line in (out / "corrupt.txt").read_text().splitlines())
    assert set(corrupt) == {"sub/broken.jpg", "dangling.png"}
    # a link is the duplicate of the real file, whatever their order
    dups = dict(
        line.split("\t") for line in (out / "removed_exact_duplicates.txt").read_text().splitlines()
    )
    assert dups == {"a_link_to_d005.png": "d005.png", "sub/d900.png": "d001.png"}
    # scores.csv has the same ids, and the report counts the skipped entries
    import csv

    with open(out / "scores.csv", newline="", encoding="utf-8") as fh:
        ids = [unquote_id(r["id"]) for r in csv.DictReader(fh)]
    assert sorted(ids) == sorted(set(every) - set(skipped))
    report = json.loads((out / "report.json").read_text())
    assert report["input"]["skipped_entries"] == len(skipped)


@pytest.mark.parametrize(
    "name",
    [
        "plain.png",
        "tab\there",
        "nl\nx",
        '"q"',
        "b\\s",
        os.fsdecode(b"\xff\xfe"),
        "\x01\x7f",
        "a\u2028b\x85c",
        "é",
        "",
    ],  # fmt: skip
)
def test_quote_id_round_trip(name):
    q = quote_id(name)
    assert "\t" not in q and len(q.splitlines()) <= 1
    q.encode("utf-8")  # writable as UTF-8
    assert unquote_id(q) == name
    if name in ("plain.png", "é"):
        assert q == name


# ----------------------------------------------------------------------------------
# other inputs
# ----------------------------------------------------------------------------------
def test_npz_with_images_and_labels(tmp_path):
    digits = load_digits()
    np.savez(tmp_path / "d.npz", images=digits.images[:200], labels=digits.target[:200])
    out = tmp_path / "o"
    assert main(["curate", "--array", str(tmp_path / "d.npz"), "--out", str(out), *FAST]) == 0
    import csv

    with open(out / "scores.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["label"] for r in rows] == [str(t) for t in digits.target[:200]]
    assert json.loads((out / "report.json").read_text())["input"]["kind"] == "array images"
    # features under another accepted name, no labels
    np.savez(tmp_path / "f.npz", X=np.random.RandomState(0).normal(size=(50, 5)))
    assert main(["curate", "--array", str(tmp_path / "f.npz"), "--out", str(tmp_path / "f"),
                 "--reducer", "none", "-q"]) == 0  # fmt: skip


@pytest.mark.parametrize(
    "write, message",
    [
        (lambda p: np.savez(p, a=np.ones((3, 2)), b=np.ones(3)), "name the data one of images"),
        (lambda p: p.write_text("1,2,3\n4,5,6\n"), "looks like text"),
        (lambda p: Image.new("L", (8, 8)).save(p, "PNG"), "a PNG image; for image files pass"),
        (lambda p: np.save(p, np.array([{"a": 1}], dtype=object)), "holds Python objects"),
        (lambda p: np.savez(p, X=np.ones((4, 3)), y=np.ones(5)), "one label per row"),
    ],
)
def test_bad_array_files_get_one_line_that_says_what_was_expected(tmp_path, capsys, write, message):
    path = tmp_path / "input.bin"
    write(path)
    path = next(tmp_path.iterdir())  # np.savez / np.save may add an ending
    assert main(["curate", "--array", str(path), "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert "allow_pickle" not in err and "unsafe" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("n", [2, 3])
def test_tiny_folders_run_and_drop_nothing(tmp_path, n):
    _digit_pngs(tmp_path / "imgs", n)
    out = tmp_path / "o"
    assert main(["curate", "--images", str(tmp_path / "imgs"), "--out", str(out), *FAST]) == 0
    assert len(_read_ids(out, "kept.txt")) == n  # 5% of 2 or 3 rounds to 0 rows


def test_identical_rows_say_the_cut_is_arbitrary(tmp_path):
    np.save(tmp_path / "same.npy", np.ones((40, 4)))
    out = tmp_path / "o"
    args = ["curate", "--array", str(tmp_path / "same.npy"), "--out", str(out)]
    assert main([*args, "--reducer", "none", "-q"]) == 0
    assert len(_read_ids(out, "removed_outliers.txt")) == 2  # round(0.05 * 40): the count holds
    report = json.loads((out / "report.json").read_text())
    assert any("tie" in w for w in report["warnings"]), report["warnings"]
    assert "warning:" in (out / "run.log").read_text()
    assert "Warnings" in (out / "report.html").read_text()


# ----------------------------------------------------------------------------------
# images read as they look: the run finds the copies a user sees
# ----------------------------------------------------------------------------------
def test_high_bit_depth_copies_are_found_as_near_duplicates_of_their_8bit_twins(tmp_path):
    """Ten digits also saved as 16-bit PNG, 32-bit int TIFF or float TIFF among 110.

    Read as they look, each copy is a near-duplicate of its 8-bit twin. (Read as
    before, 16/32-bit images were solid white and float ones black: the copies were
    duplicates of each other instead.)
    """
    root = tmp_path / "imgs"
    images = load_digits().images
    _digit_pngs(root, 100)
    twins = {}
    for j, i in enumerate(range(0, 50, 5)):
        x = images[i] / 16.0
        if j % 3 == 0:
            Image.fromarray((x * 65535).astype(np.uint16)).save(root / f"hi{j}.png")
            name = f"hi{j}.png"
        elif j % 3 == 1:
            Image.fromarray((x * (2**31 - 1)).astype(np.int32)).save(root / f"hi{j}.tif")
            name = f"hi{j}.tif"
        else:
            Image.fromarray(x.astype(np.float32)).save(root / f"hi{j}.tif")
            name = f"hi{j}.tif"
        twins[name] = f"d{i:03d}.png"
    out = tmp_path / "o"
    args = ["curate", "--images", str(root), "--out", str(out), "--outlier-fraction", "0"]
    assert main([*args, "--similar-fraction", "0.09", "--epochs", "3", "--image-size", "8",
                 "-q"]) == 0  # fmt: skip
    import csv

    with open(out / "scores.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["decision"] == "similar"]
    assert len(rows) == 10  # round(0.09 * 110)
    pairs = {frozenset((r["id"], r["duplicate_of"])) for r in rows}
    found = sum(frozenset(p) in pairs for p in twins.items())
    assert found >= 8, (found, rows)
