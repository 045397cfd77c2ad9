"""What both sub-commands share: logging (stderr and run.log), the run options, the
argparse types, the array reader, the CUDA check; and the mislabelled step on its own."""

import argparse
import logging
import re
import sys

import numpy as np
import pytest

from sklearn_curate.cli import _curate as cli
from sklearn_curate.cli._curate import build_parser, main
from sklearn_curate.cli._mislabelled import run_mislabelled
from sklearn_curate.cli._options import float_in
from sklearn_curate.cli._run import LOGGER_NAME
from sklearn_curate.utils._device import cuda_available

STAMP = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (\[sklearn-curate\] .*)$")


def _log_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("[sklearn-curate] ")]


def _steps(lines: list[str]) -> list[str]:
    return [re.match(r"\[sklearn-curate\] (\w+)", line).group(1) for line in lines]


@pytest.fixture
def features(tmp_path):
    path = tmp_path / "f.npy"
    np.save(path, np.random.RandomState(0).normal(size=(40, 3)))
    return path


@pytest.fixture
def no_handlers_left():
    logger = logging.getLogger(LOGGER_NAME)
    before = list(logger.handlers)
    yield
    assert logger.handlers == before == []
    assert logger.propagate and logger.level == logging.NOTSET


def test_stderr_and_run_log_hold_each_line_once(features, tmp_path, capsys, no_handlers_left):
    host = logging.StreamHandler(sys.stderr)  # a host application's own handler
    logging.getLogger().addHandler(host)
    try:
        for name in ("a", "b"):  # handlers of the first run must not print in the second
            out = tmp_path / name
            args = ["curate", "--array", str(features), "--reducer", "none", "--out", str(out)]
            assert main(args) == 0
            err = _log_lines(capsys.readouterr().err)
            log = (out / "run.log").read_text().splitlines()
            assert all(STAMP.match(line) for line in log), log
            assert [STAMP.match(line).group(1) for line in log] == err
            assert _steps(err) == [
                "load", "embed", "reduce", "outliers", "similar", "write", "report", "wrote",
            ]  # fmt: skip
            assert err[-1].startswith(f"[sklearn-curate] wrote {out}: 36 kept, 2 outliers")
    finally:
        logging.getLogger().removeHandler(host)


def test_quiet_prints_warnings_only(tmp_path, capsys, no_handlers_left):
    np.save(tmp_path / "same.npy", np.ones((40, 4)))  # ties: the cut-off is arbitrary
    out = tmp_path / "o"
    args = ["curate", "--array", str(tmp_path / "same.npy"), "--reducer", "none", "-q"]
    assert main([*args, "--out", str(out)]) == 0
    err = _log_lines(capsys.readouterr().err)
    assert err and all(line.startswith("[sklearn-curate] warning: ") for line in err)
    log = [STAMP.match(line).group(1) for line in (out / "run.log").read_text().splitlines()]
    assert [line for line in log if "] warning: " in line] == err
    assert _steps(log)[-1] == "wrote" and len(log) == len(err) + 8


def test_run_log_is_written_as_the_run_goes(features, tmp_path, monkeypatch, no_handlers_left):
    seen = []

    def similar(self, R, n_drop):
        [staging] = [p for p in tmp_path.iterdir() if ".partial-" in p.name]
        seen.append((staging / "run.log").read_text())
        raise RuntimeError("boom")

    monkeypatch.setattr(cli._Run, "similar", similar)
    with pytest.raises(RuntimeError, match="boom"):
        main(
            [
                "curate",
                "--array",
                str(features),
                "--reducer",
                "none",
                "-q",
                "--out",
                str(tmp_path / "o"),
            ]
        )
    [text] = seen
    lines = [STAMP.match(line).group(1) for line in text.splitlines()]
    assert _steps(lines) == ["load", "embed", "reduce", "outliers"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.npy"]  # staging removed


def test_both_subcommands_share_the_run_options():
    parser = build_parser()
    for command, out in (("curate", "curate_out"), ("influence", "influence_out")):
        a = parser.parse_args([command])
        assert (a.out, a.overwrite, a.device, a.threads, a.seed, a.quiet) == (
            out, False, "auto", None, 0, False,
        )  # fmt: skip
        a = parser.parse_args([command, "--overwrite", "--device", "cpu", "--threads", "2", "-q"])
        assert (a.overwrite, a.device, a.threads, a.quiet) == (True, "cpu", 2, True)
        for bad in (["--threads", "0"], ["--seed", "x"], ["--device", "tpu"]):
            with pytest.raises(SystemExit):
                parser.parse_args([command, *bad])
    assert parser.parse_args(["influence", "--force"]).overwrite
    with pytest.raises(SystemExit):
        parser.parse_args(["curate", "--force"])


def test_float_in():
    share = float_in(0.0, 1.0, hint="pass e.g. 0.05")
    assert share("0") == 0.0 and share("0.5") == 0.5
    with pytest.raises(argparse.ArgumentTypeError, match=r"^1 is outside \[0, 1\); pass e\.g\."):
        share("1")
    with pytest.raises(argparse.ArgumentTypeError, match=r"^'x' is not a number; pass e\.g\."):
        share("x")
    positive = float_in(0.0, open_lo=True)
    assert positive("1e9") == 1e9
    for bad, message in (("0", r"^0 is not > 0$"), ("nan", "nan is not > 0"), ("inf", "inf")):
        with pytest.raises(argparse.ArgumentTypeError, match=message):
            positive(bad)
    with pytest.raises(argparse.ArgumentTypeError, match=r"^-1 is not >= 0$"):
        float_in(0.0)("-1")


@pytest.mark.parametrize(
    "write, message",
    [
        (lambda p: p.write_text("1,2,3\n"), "is not a NumPy file: it looks like text"),
        (lambda p: np.save(p, np.array([{"a": 1}], dtype=object)), "holds Python objects"),
        (lambda p: np.save(p, np.zeros((5, 4))), "holds one array, not an .npz"),
        (lambda p: np.savez(p, X_train=np.zeros((3, 2))), "has no key 'y_train', 'X_test'"),
    ],
)
def test_influence_reads_arrays_as_curate_does(tmp_path, capsys, write, message):
    path = tmp_path / "input.bin"
    write(path)
    path = next(tmp_path.iterdir())  # np.save / np.savez may add an ending
    assert main(["influence", "--array", str(path), "-q", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err
    assert "allow_pickle" not in err
    assert not (tmp_path / "o").exists()


@pytest.mark.skipif(cuda_available(), reason="a GPU is present")
def test_influence_cuda_without_gpu_is_one_clear_line(tmp_path, capsys):
    assert main(["influence", "--device", "cuda", "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("sklearn-curate: error: --device cuda: ") and "no CUDA device" in err
    assert err.count("\n") == 1
    assert not (tmp_path / "o").exists()


def test_run_mislabelled_needs_no_run():
    rng = np.random.RandomState(0)
    R = np.r_[rng.normal(0, 1, (30, 4)), rng.normal(5, 1, (30, 4))]
    positions = np.arange(60) + 100  # input positions, not rows
    labels = {p: ("a" if p < 130 else "b") for p in positions}
    labels[105] = ""  # a file outside the class folders: not scored
    steps = []
    result = run_mislabelled(
        R,
        positions,
        labels,
        3,
        step=lambda *args: steps.append(args),
        epochs=5,
        device="cpu",
        seed=0,
    )
    assert 105 not in result.positions and len(result.positions) == 59
    assert int((~result.scorer.support_).sum()) == 3
    assert [s[0] for s in steps] == ["mislabelled"] and "5 epochs" in steps[0][4]
