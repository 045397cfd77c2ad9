"""Checks shared by the tests of ``sklearn-curate curate``."""

import csv
from pathlib import Path

import pytest


def _check_lists(out: Path, all_ids, files: dict) -> dict:
    """Check that every input is in exactly one output list and that scores.csv agrees.

    ``files`` maps each decision to its list file (e.g. ``{"kept": "kept.txt", ...}``):
    the lists together hold every id of ``all_ids`` once; ``scores.csv`` has one row
    per input in input order, and its ``decision`` column lists, per decision, the
    same ids in the same order as the decision's file. Returns decision -> ids.
    """
    lists = {
        d: [line.split("\t", 1)[0] for line in (out / name).read_text("utf-8").splitlines()]
        for d, name in files.items()
    }
    union = [i for ids in lists.values() for i in ids]
    assert len(union) == len(set(union)) == len(all_ids), "an id is in two lists or none"
    assert set(union) == set(all_ids)
    with open(out / "scores.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["id"] for r in rows] == list(all_ids)
    for d, ids in lists.items():
        assert [r["id"] for r in rows if r["decision"] == d] == ids
    return lists


@pytest.fixture
def check_lists():
    """Return the partition check: ``check_lists(out, all_ids, files) -> lists``.

    A fixture rather than an import: the test folders are not packages, so a test
    module cannot import this conftest by name unambiguously.
    """
    return _check_lists
