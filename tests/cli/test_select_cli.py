"""``sklearn-curate curate --select`` / ``--strategy`` and ``--relevant-files``.

Runs are small: one built-in run (1 epoch), feature arrays without reduction, and a
folder of 120 digit PNGs in class sub-folders at 8 x 8 pixels.
"""

import csv
import json
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits

from sklearn_curate import DiversitySelector
from sklearn_curate.cli import _curate as cli
from sklearn_curate.cli._curate import main
from sklearn_curate.cli._inputs import CurateError, load_inputs
from sklearn_curate.cli._select import check_select, run_select

#: The lists of a run with --select: kept.txt is split in two and not written.
SELECT_LISTS = {
    "selected": "selected.txt",
    "kept_not_selected": "kept_not_selected.txt",
    "outlier": "removed_outliers.txt",
    "similar": "removed_similar.txt",
    "corrupt": "corrupt.txt",
    "exact_duplicate": "removed_exact_duplicates.txt",
}


def read_scores(out: Path) -> list[dict]:
    with open(out / "scores.csv", newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture
def check_partition_select(check_lists):
    """Check a --select run: every input in exactly one of SELECT_LISTS (scores.csv
    agrees, conftest's check_lists), no kept.txt, and the output marker lists the new
    files."""

    def check(out: Path, all_ids) -> dict:
        assert not (out / "kept.txt").exists()
        lists = check_lists(out, all_ids, SELECT_LISTS)
        marker = json.loads((out / ".sklearn-curate-output").read_text())
        assert marker["state"] == "complete"
        assert {"selected.txt", "kept_not_selected.txt"} <= set(marker["files"])
        return lists

    return check


@pytest.fixture
def features(tmp_path):
    path = tmp_path / "f.npy"
    np.save(path, np.random.RandomState(0).normal(size=(120, 4)))
    return path


@pytest.fixture(scope="module")
def class_folder(tmp_path_factory):
    """120 digit PNGs, 12 per class, in one sub-folder per class."""
    root = tmp_path_factory.mktemp("select_images") / "data"
    digits = load_digits()
    taken = dict.fromkeys(range(10), 0)
    for i, t in enumerate(digits.target):
        if taken[t] == 12:
            continue
        taken[t] += 1
        path = root / str(t) / f"d{i:04d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray((digits.images[i] * (255 / 16)).astype(np.uint8)).save(path)
        if min(taken.values()) == 12:
            break
    return root


def _folder_ids(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.png"))


# ----------------------------------------------------------------------------------
# --select
# ----------------------------------------------------------------------------------
def test_select_proportion_on_the_built_in_data(tmp_path, check_partition_select):
    out = tmp_path / "out"
    assert main(["curate", "--out", str(out), "--epochs", "1", "--select", "0.1", "-q"]) == 0
    report = json.loads((out / "report.json").read_text())
    n = report["counts"]["inputs"]
    lists = check_partition_select(out, [str(i) for i in range(n)])
    m = n - 2 * round(0.05 * n)  # rows left after the outlier and similarity steps
    b = round(0.1 * m)
    assert len(lists["selected"]) == b == report["counts"]["selected"]
    assert len(lists["kept_not_selected"]) == m - b == report["counts"]["kept_not_selected"]
    assert sum(v for k, v in report["counts"].items() if k != "inputs") == n
    sel = report["selection"]
    assert sel["strategy"] == "diversity" and sel["requested"] == 0.1
    assert sel["selected"] == b and sel["kept_before_selection"] == m
    assert sel["covering_radius"] > 0
    assert [s["name"] for s in report["steps"]][4:7] == ["outliers", "similar", "select"]
    # the pick order: ranks 1..b on the selected rows, empty elsewhere
    rows = read_scores(out)
    ranks = sorted(int(r["selection_rank"]) for r in rows if r["decision"] == "selected")
    assert ranks == list(range(1, b + 1))
    assert all(r["selection_rank"] == "" for r in rows if r["decision"] != "selected")
    html = (out / "report.html").read_text()
    assert 'id="selection"' in html and f"{b} of the {m} kept rows selected" in html
    assert f"{b} selected, {m - b} kept not selected" in (out / "run.log").read_text()
    check_selection_views(html, report, lists)


def _page_json(page: str, element_id: str):
    m = re.search(rf'<script type="application/json" id="{element_id}">(.*?)</script>', page, re.S)
    return json.loads(m.group(1))


def check_selection_views(html: str, report: dict, lists: dict) -> None:
    """The 2D / 3D views draw the selected rows as a marked trace of their own (drawn
    last, on top), the other kept rows as kept_not_selected; the Selection section
    states the covering radius."""
    traces = report["figures"]["embedding"]["traces"]
    ids = report["figures"]["ids"]
    assert "kept" not in traces
    for d in ("selected", "kept_not_selected"):
        assert [ids[p] for p in traces[d]["positions"]] == lists[d]  # both in input order
        assert len(traces[d]["x"]) == len(traces[d]["z"]) == len(lists[d])
    plots = _page_json(html, "plots")
    b = len(lists["selected"])
    for name in ("scatter2d", "scatter3d"):
        data = plots[name]["data"]
        assert data[-1]["meta"] == "selected" and data[-1]["name"] == f"selected ({b})"
        assert data[-1]["marker"]["symbol"] == "diamond"
        other = [t for t in data if t["meta"] == "kept_not_selected"]
        assert (
            len(other) == 1
            and other[0]["name"] == f"kept_not_selected ({len(lists['kept_not_selected'])})"
        )
        assert other[0]["marker"]["size"] < data[-1]["marker"]["size"]
    # the page attaches the points from its copy of report.json: b of them, selected
    embedded = _page_json(html, "report-data")
    assert len(embedded["figures"]["embedding"]["traces"]["selected"]["positions"]) == b
    by_pos = embedded["decisions_by_position"]
    assert sum(v == "selected" for v in by_pos.values()) == b
    radius = report["selection"]["covering_radius"]
    section = html[html.index('id="selection"') : html.index("</p>", html.index('id="selection"'))]
    assert "Covering radius" in section and f"{radius:.6g}" in section


def test_select_count_picks_the_k_center_rows_of_the_reduced_embedding(
    features, tmp_path, check_partition_select
):
    out = tmp_path / "out"
    args = ["curate", "--array", str(features), "--out", str(out), "--select", "25", "-q"]
    assert main([*args, "--n-components", "3"]) == 0
    lists = check_partition_select(out, [str(i) for i in range(120)])
    assert len(lists["selected"]) == 25
    assert len(lists["kept_not_selected"]) == 120 - 12 - 25
    # the selection ran on the reduced rows of the kept inputs, as DiversitySelector does
    rows = read_scores(out)
    R = np.load(out / "embeddings_reduced.npy")
    kept = [i for i, r in enumerate(rows) if r["decision"] in ("selected", "kept_not_selected")]
    expected = DiversitySelector(n_samples=25).fit(R[kept].astype(np.float64))
    by_rank = sorted((int(rows[i]["selection_rank"]), i) for i in kept if rows[i]["selection_rank"])
    assert [i for _, i in by_rank] == [kept[j] for j in expected.selection_order_]
    report = json.loads((out / "report.json").read_text())
    assert report["selection"]["covering_radius"] == pytest.approx(expected.covering_radius_)


def test_balance_on_class_folders_hits_the_per_class_counts(
    class_folder, tmp_path, check_partition_select
):
    out = tmp_path / "out"
    args = ["curate", "--images", str(class_folder), "--out", str(out), "--image-size", "8"]
    assert main([*args, "--epochs", "1", "--select", "30", "--strategy", "balance", "-q"]) == 0
    lists = check_partition_select(out, _folder_ids(class_folder))
    assert len(lists["selected"]) == 30
    per_class = {str(c): 0 for c in range(10)}
    for name in lists["selected"]:
        per_class[name.split("/", 1)[0]] += 1
    assert per_class == {str(c): 3 for c in range(10)}  # 12 inputs per class, 6 dropped in all
    report = json.loads((out / "report.json").read_text())
    assert report["selection"]["class_counts"] == per_class
    assert report["selection"]["strategy"] == "balance"


def test_balance_gives_the_foreign_images_no_share(tmp_path):
    """The built-in data's planted foreign images are labelled "foreign" for the report,
    but they are no class: --strategy balance neither counts them as a class nor picks
    them, even when every one of them is still kept (here: all rows kept)."""
    inputs = load_inputs(None, None, None, seed=0, progress=False)
    foreign = inputs.faults["foreign_rows"]
    assert {inputs.labels[p] for p in foreign} == {"foreign"}
    n = len(inputs.ids)
    R = inputs.data.reshape(n, -1).astype(np.float64)
    kept = np.arange(n)
    steps = []
    result = run_select(
        R, kept, kept, inputs, select=110, strategy="balance", step=lambda *a: steps.append(a)
    )
    assert not set(result.order) & set(foreign)
    counts = result.info["class_counts"]
    assert counts == {str(c): 11 for c in range(10)}  # 10 digit classes, no "foreign"
    assert result.info["unlabelled_kept_rows_not_eligible"] == len(foreign)
    # (diversity, which ignores labels, takes foreign images among its first picks)
    div = run_select(R, kept, kept, inputs, select=110, strategy="diversity", step=lambda *a: 0)
    assert len(set(foreign) & set(div.order[:5])) >= 2
    # the budget check counts the digits only
    with pytest.raises(CurateError, match="only 1834 readable inputs have a class label"):
        check_select(1835, "balance", inputs, n)


def test_balance_on_the_built_in_data(tmp_path, check_partition_select):
    out = tmp_path / "out"
    args = ["curate", "--out", str(out), "--epochs", "1", "--select", "50"]
    assert main([*args, "--strategy", "balance", "-q"]) == 0
    report = json.loads((out / "report.json").read_text())
    n = report["counts"]["inputs"]
    lists = check_partition_select(out, [str(i) for i in range(n)])
    assert report["selection"]["class_counts"] == {str(c): 5 for c in range(10)}
    foreign = {str(i) for i in range(1797, 1797 + 18)}
    assert not foreign & set(lists["selected"])
    # foreign images the outlier step missed are kept, but not selected
    kept_foreign = foreign & set(lists["kept_not_selected"])
    assert report["selection"]["unlabelled_kept_rows_not_eligible"] == len(kept_foreign)
    assert "foreign" in report["figures"]["classes"]["names"]  # still shown per class


@pytest.mark.parametrize(
    "value, message",
    [
        ("0", "0 is not a positive count"),
        ("-3", "-3 is not a positive count"),
        ("1.0", "1.0 is a proportion (written with a decimal point) but not below 1"),
        ("2.5", "2.5 is a proportion"),
        ("ten", "'ten' is not a number"),
    ],
)
def test_bad_select_values_are_usage_errors(features, tmp_path, capsys, value, message):
    out = tmp_path / "o"
    assert main(["curate", "--array", str(features), "--out", str(out), f"--select={value}"]) == 2
    err = capsys.readouterr().err
    assert f"argument --select: {message}" in err and "(e.g. --select 0.1)" in err, err
    assert not out.exists()


def _no_training(*args, **kwargs):
    raise AssertionError("the model was trained before the options were checked")


@pytest.mark.parametrize(
    "extra, message",
    [
        (
            ["--select", "1700"],
            "--select 1700 asks for 1700 rows but the removal steps leave 1666 kept rows; "
            "pass at most --select 1666",
        ),
        (["--select", "0.0001"], "--select 0.0001 is round(0.0001 * 1666 kept rows) = 0 rows"),
    ],
)
def test_select_beyond_the_kept_rows_fails_before_training(
    tmp_path, capsys, monkeypatch, extra, message
):
    monkeypatch.setattr(cli, "prepare_model", _no_training)
    out = tmp_path / "o"
    assert main(["curate", "--out", str(out), "-q", *extra]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and err.startswith("sklearn-curate: error: ")
    assert message in err, err
    assert not out.exists()


def test_balance_without_labels_is_one_clear_line(features, tmp_path, capsys):
    out = tmp_path / "o"
    args = ["curate", "--array", str(features), "--out", str(out), "--select", "10"]
    assert main([*args, "--strategy", "balance", "-q"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "--strategy balance needs class labels" in err and "--images DIR" in err
    assert not out.exists()


def test_crash_in_the_selection_leaves_no_output_folder(features, tmp_path, monkeypatch):
    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(cli, "run_select", boom)
    out = tmp_path / "out"
    with pytest.raises(RuntimeError, match="boom"):
        main(["curate", "--array", str(features), "--out", str(out), "--select", "5", "-q"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.npy"]  # no partial folder


def test_help_names_the_new_options(capsys):
    assert main(["curate", "--help"]) == 0
    text = capsys.readouterr().out
    for word in ("--select", "--strategy", "selected.txt", "kept_not_selected.txt",
                 "--relevant-files"):  # fmt: skip
        assert word in text, word


# ----------------------------------------------------------------------------------
# --relevant-files
# ----------------------------------------------------------------------------------
def test_relevant_files_restrict_the_run_and_report_missing_names(class_folder, tmp_path, capsys):
    ids = _folder_ids(class_folder)
    chosen = ids[::3]
    listing = tmp_path / "relevant.txt"
    listing.write_text("\n".join([*chosen, "./" + chosen[0], "no/such.png", "", "9/gone.png"]))
    out = tmp_path / "out"
    args = ["curate", "--images", str(class_folder), "--out", str(out), "--image-size", "8"]
    assert main([*args, "--epochs", "1", "--relevant-files", str(listing), "-q"]) == 0
    err = capsys.readouterr().err
    assert "--relevant-files: 2 of " in err and "no/such.png, 9/gone.png" in err
    report = json.loads((out / "report.json").read_text())
    assert report["counts"]["inputs"] == len(chosen)
    assert report["input"]["relevant_files"] == {
        "names": len(chosen) + 2,
        "found": len(chosen),
        "not_found": 2,
    }
    assert report["relevant_files_not_found"] == ["no/such.png", "9/gone.png"]
    assert any("--relevant-files" in w for w in report["warnings"])
    assert "no/such.png" in (out / "run.log").read_text()
    listed = [
        line.split("\t", 1)[0]
        for name in ("kept.txt", "removed_outliers.txt", "removed_similar.txt", "corrupt.txt")
        for line in (out / name).read_text().splitlines()
    ]
    assert sorted(listed) == chosen  # each named file in exactly one list, nothing else


def test_relevant_files_open_only_the_named_files(class_folder, tmp_path, monkeypatch):
    """Files outside LIST are never listed, opened or decoded, and are in no output list:
    a corrupt image and a file without an image ending (whose content a walk of the
    folder would open to sniff) lie outside the list; names that a walk would not find
    (outside the folder, in a hidden folder) are not found either."""
    import os

    import PIL.Image

    root = tmp_path / "data"
    named = _folder_ids(class_folder)[::4]
    for r in named:
        (root / r).parent.mkdir(parents=True, exist_ok=True)
        (root / r).write_bytes((class_folder / r).read_bytes())
    (root / "0" / "broken.png").write_bytes(b"\x89PNG not really")  # outside the list
    (root / "notes").write_bytes(b"\x00\x01 not an image")  # outside: a walk sniffs it
    (root / "1" / "bad.png").write_bytes(b"\x89PNG corrupt too")  # in the list
    (root / ".hidden").mkdir()
    (root / ".hidden" / "x.png").write_bytes((class_folder / named[0]).read_bytes())
    (tmp_path / "outside.png").write_bytes((class_folder / named[0]).read_bytes())
    listing = tmp_path / "relevant.txt"
    listing.write_text("\n".join([*named, "1/bad.png", ".hidden/x.png", "../outside.png"]))

    opened, walked = [], []
    real_open, real_walk = PIL.Image.open, os.walk

    def spy_open(fp, *args, **kwargs):
        opened.append(os.path.relpath(os.fspath(fp), root))
        return real_open(fp, *args, **kwargs)

    def spy_walk(top, *args, **kwargs):
        walked.append(os.fspath(top))
        return real_walk(top, *args, **kwargs)

    monkeypatch.setattr(PIL.Image, "open", spy_open)
    monkeypatch.setattr(os, "walk", spy_walk)
    out = tmp_path / "out"
    args = ["curate", "--images", str(root), "--out", str(out), "--image-size", "8"]
    assert main([*args, "--epochs", "1", "--relevant-files", str(listing), "-q"]) == 0
    monkeypatch.undo()
    assert str(root) not in walked  # the folder is never listed
    assert set(opened) <= {*named, "1/bad.png"}, set(opened) - {*named, "1/bad.png"}
    assert "1/bad.png" in opened  # (the spy sees the reads)
    report = json.loads((out / "report.json").read_text())
    assert report["relevant_files_not_found"] == [".hidden/x.png", "../outside.png"]
    assert report["counts"]["inputs"] == len(named) + 1
    lists = {
        name: [line.split("\t", 1)[0] for line in (out / name).read_text().splitlines()]
        for name in ("kept.txt", "removed_outliers.txt", "removed_similar.txt",
                     "corrupt.txt", "removed_exact_duplicates.txt", "skipped.txt")
    }  # fmt: skip
    assert lists["corrupt.txt"] == ["1/bad.png"]
    assert lists["skipped.txt"] == []
    # every named file found in exactly one list; nothing outside the list anywhere
    listed = sorted(i for ids in lists.values() for i in ids)
    assert listed == sorted([*named, "1/bad.png"])
    assert [r["id"] for r in read_scores(out)] == sorted([*named, "1/bad.png"])


def test_relevant_files_errors(class_folder, features, tmp_path, capsys):
    listing = tmp_path / "relevant.txt"
    listing.write_text("a/b.png\nc.png\n")
    out = tmp_path / "o"
    args = ["curate", "--out", str(out), "--relevant-files", str(listing), "-q"]
    assert main([*args, "--images", str(class_folder)]) == 1
    err = capsys.readouterr().err
    assert "none of the 2 names in --relevant-files" in err and "'a/b.png'" in err
    assert len(err.strip().splitlines()) == 1
    assert main([*args, "--array", str(features)]) == 1
    assert "pass --images DIR" in capsys.readouterr().err
    listing.write_text("\n\n")
    assert main([*args, "--images", str(class_folder)]) == 1
    assert "names no file" in capsys.readouterr().err
    assert not out.exists()
