"""The ``sklearn-curate`` command: curate a set of images (or feature vectors) end to end.

``sklearn-curate curate`` loads the inputs, trains the default autoencoder (or loads a
user model), embeds every readable input with one layer of the model, reduces the
embedding, drops outliers, then drops near-duplicates among the remaining rows, and
writes the decisions, scores, embeddings and a report into an output folder. The
folder appears only when the run is complete (it is written under a temporary name
next to ``--out`` and renamed into place).

Each step is one public estimator of this package (:class:`TorchLayerEmbedder`,
:class:`GPUReducer`, :class:`OutlierFilter`, :class:`SimilarityFilter`); this module
parses the command line and wires them together. Reading the inputs lives in
:mod:`sklearn_curate.cli._inputs`, loading or training the model in :mod:`sklearn_curate.cli._model`,
writing the output folder in :mod:`sklearn_curate.cli._outputs`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from ._influence import add_influence_parser, run_influence
from ._inputs import (
    DECODE_BATCH,
    DEFAULT_FOLDER_IMAGE_SIZE,
    DEFAULT_LABEL_NOISE,
    CurateError,
    Inputs,
    load_inputs,
    quote_id,
    read_relevant_files,
    unquote_id,
)
from ._mislabelled import check_labels, run_mislabelled
from ._model import (
    CHECKPOINT_FILE,
    TRAIN_CHOICES,
    model_file,
    prepare_model,
    resolve_train,
    torch_threads,
    user_model,
)
from ._options import PROG, add_run_options, count_or_proportion, float_in, int_at_least
from ._outputs import Decisions, build_report, report_figures, write_tables
from ._run import CommandRun, require_cuda, user_error
from ._select import check_select, run_select
from ._stream import (
    IN_MEMORY_BYTES,
    chunked_standard_pca,
    default_workers,
    scratch_folder,
)

__all__ = ["main", "build_parser", "CurateError", "quote_id", "unquote_id"]

DEFAULT_OUT = "curate_out"

_DESCRIPTION = """\
Curate a training set: embed every input with a model, reduce the embedding, drop
outliers, then drop near-duplicates among the remaining rows, and write the
decisions into an output folder.

Without an input option the run uses built-in data: scikit-learn's 1,797 digits
(8x8 pixels) with 18 crops of scikit-learn's sample photographs appended as
foreign images (ids 1797-1814) and 37 noisy copies of random digits appended as
near-duplicates (ids 1815-1851): 1,852 inputs, nothing downloaded.

Without --model the default model is a small convolutional autoencoder
(sklearn_curate.embedding.models.ConvAutoencoder) trained on the inputs for --epochs epochs;
the embedding is the output of its 'encoder' (the flattened maps of its last
convolution). --train simclr trains the same network (or --model) with SimCLR
instead, and the trained weights are written to checkpoint.pt, which --checkpoint
loads in a later run. Before the filters the embedding is standardised and reduced
(--reducer).

How many rows are dropped: let n be the number of readable inputs (corrupt files
and exact byte-for-byte copies of an earlier file excluded). The outlier step (OutlierFilter: HDBSCAN's GLOSH score) drops
round(outlier_fraction * n) rows, the most outlying first; the similarity step
(SimilarityFilter: one member of the closest remaining pair at a time) then runs
on the rows left and drops round(similar_fraction * n) more. Both fractions are
of n, not of what is left.

With --mislabelled F (classes needed: the built-in data, or --images with one
sub-folder per class) a third step trains DataParameterScorer on the reduced rows
still kept, with their labels, and drops round(F * n) more: the rows whose learnt
temperature (sigma) is largest, likely mislabelled. On the built-in data the option
also moves 2% of the digits' labels (36 rows) to another class, so there is something
to find; their rows are in report.json under default_data.

With --select N|F a last step selects N of the rows still kept (or round(F * m) of
the m rows left, F in (0, 1)), the ones worth labelling or training on first, on the
reduced rows the filters saw: --strategy diversity (default; DiversitySelector,
greedy k-center: each pick is the kept row farthest from those picked so far) or
--strategy balance (BalanceSelector: equal class shares, needs class labels as
--mislabelled does). The kept rows are then split into selected.txt and
kept_not_selected.txt, and kept.txt is not written, so every input is still in
exactly one list.
"""

_EPILOG = """\
output folder (--out):
  kept.txt              ids of kept inputs, one per line, in input order
                        (sorted relative paths for --images; row order otherwise)
  removed_outliers.txt  ids dropped by the outlier step
  removed_similar.txt   ids dropped as near-duplicates
  corrupt.txt           unreadable inputs: id<TAB>reason
  skipped.txt           entries of --images not read as images (hidden files and
                        folders, links to folders, FIFOs, files Pillow does not
                        recognise): id<TAB>reason; not inputs
  removed_exact_duplicates.txt  image files whose bytes equal an earlier file's
                        (not embedded): id<TAB>id of the first copy
  selected.txt          with --select (in place of kept.txt): the kept ids the
                        selection step picked, in input order (pick order:
                        scores.csv's selection_rank)
  kept_not_selected.txt with --select (in place of kept.txt): kept, not selected
  removed_mislabelled.txt  ids dropped by the mislabelled step (only with
                        --mislabelled; scores.csv then also has mislabelled_score
                        and dp_category, report.html a data-parameters section)
  scores.csv            one row per input: id, outlier_score (-GLOSH, in [-1, 0]),
                        similarity_score (distance to the nearest kept row; for
                        similar rows the distance at removal; empty for outliers),
                        decision (kept|outlier|similar|corrupt|exact_duplicate),
                        duplicate_of (the kept id a similar row stands for, or
                        the first copy of an exact duplicate), label (class folder)
                        Higher scores = more typical; empty cells for corrupt rows.
  embeddings.npy        layer output, one row per readable input, in scores.csv order
  embeddings_reduced.npy  the reduced rows the filters saw (not with --reducer none)
  checkpoint.pt         the model's trained (or --checkpoint) weights, a
                        state_dict for --checkpoint (not written when no
                        training ran)
  report.json           parameters, counts, timings, devices, versions and every
                        number of report.html (under "figures")
  report.html           self-contained page (opens offline): summary, 2D and 3D
                        views of the embedding with the image on hover, nearest-
                        neighbour distances before/after, removed images beside
                        their nearest kept image, counts per class
  run.log               the progress lines and warnings of the run
  .sklearn-curate-output  marker: this tool wrote the folder, and which files
Ids are paths relative to --images (with '/'), or row indices for arrays and the
built-in data. Every entry under --images is in exactly one of the .txt lists. An
id holding a tab, line break, other control character, backslash or non-UTF-8
bytes, or starting with '"', is written in double quotes with backslash escapes
(sklearn_curate.cli.unquote_id reverses it).

--out must not be, contain or lie inside the input, and is checked before any
work. --overwrite replaces only an empty folder or a finished output of this tool
that holds nothing but the files its marker lists; anything else is refused and
nothing is deleted.

exit status: 0 ok; 2 bad command line; 1 bad input or a failed step (one-line message).

examples:
  sklearn-curate curate                      # built-in digits, default model
  sklearn-curate curate --images photos/ --image-size 64 --out photos_curated
  sklearn-curate curate --array feats.npy --reducer none --outlier-fraction 0.02
  sklearn-curate curate --images photos/ --model mymodels:resnet --layer layer4
  sklearn-curate curate --images photos/ --select 500 --strategy balance
  sklearn-curate curate --images photos/ --train simclr --epochs 30 --select 0.1
  sklearn-curate curate --images new_photos/ --checkpoint photos_curated/checkpoint.pt
"""


# ----------------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------------
#: The share of the inputs a step drops: ``--outlier-fraction``, ``--similar-fraction``,
#: ``--mislabelled``.
_fraction = float_in(0.0, 1.0, hint="pass the share of inputs to drop, e.g. 0.05 for 5%")
_positive_int = int_at_least(1)
_non_negative_int = int_at_least(0)


def _add_curate_arguments(p: argparse.ArgumentParser) -> None:
    """Add the options of ``curate`` to its sub-parser.

    Parameters
    ----------
    p : argparse.ArgumentParser
        The ``curate`` sub-parser.
    """
    src = p.add_argument_group("input (at most one; none = built-in digits)")
    one = src.add_mutually_exclusive_group()
    one.add_argument(
        "--images",
        metavar="DIR",
        help="folder of image files, searched recursively; with one sub-folder per class "
        "the sub-folder name is the label. Files with an image ending, or whose content "
        "Pillow recognises, are read; unreadable, empty or truncated ones go to "
        "corrupt.txt and the run goes on; everything else goes to skipped.txt.",
    )
    one.add_argument(
        "--array",
        metavar="FILE.npy|FILE.npz",
        help="NumPy .npy array, or .npz with the data named images, X, features or data "
        "(labels: labels, y or target): (n, d) feature vectors, or images (n, H, W), (n, C, H, W) or "
        "(n, H, W, C) with C in {1, 3, 4}; images are min-max scaled to [0, 1]. Rows with "
        "NaN or inf go to corrupt.txt. Feature vectors skip the model unless --model is given.",
    )

    src.add_argument(
        "--relevant-files",
        metavar="LIST",
        help="with --images: curate only the files named in LIST, a text file with one "
        "path per line relative to the folder (as Lightly worker's "
        "relevant_filenames_file). Names not found are listed in report.json "
        "(input.relevant_files) and as a warning on stderr and in run.log; the run stops "
        "only if none is found. Entries not named are in no list and never opened.",
    )

    mod = p.add_argument_group("model")
    mod.add_argument(
        "--model",
        metavar="MODULE:CALLABLE",
        help="a callable returning a torch.nn.Module, called with no arguments, e.g. "
        "'mypkg.models:make_net' or 'path/to/file.py:make_net' (the current folder is on "
        "the import path). The model is used as given unless --train simclr trains it. "
        "It receives float32 batches (n, C, H, W) in [0, 1]; one gray channel is "
        "repeated to the in_channels of the model's first Conv2d.",
    )
    mod.add_argument(
        "--layer",
        metavar="NAME",
        help="dotted name of the layer whose output is the embedding (as in "
        "model.named_modules(); 4D outputs are average-pooled). Required with --model; "
        "default for the built-in autoencoder: 'encoder'.",
    )
    mod.add_argument(
        "--train",
        choices=TRAIN_CHOICES,
        default=None,
        help="how the model learns from the inputs before embedding them: autoencoder = "
        "the built-in autoencoder reconstructs them; simclr = self-supervised SimCLR "
        "(random crops, jitter, blur; NT-Xent loss) on the embedding layer of the "
        "built-in network or of --model (needs: pip install 'sklearn-curate[ssl]'); "
        "none = no training (default: autoencoder, or none with --model or "
        "--checkpoint)",
    )
    mod.add_argument(
        "--simclr-flip",
        action="store_true",
        help="with --train simclr: also flip the views horizontally (for photographs; "
        "off by default because a flip changes the meaning of digits and letters)",
    )
    mod.add_argument(
        "--checkpoint",
        metavar="PATH",
        help=f"load the model's weights from PATH (a {CHECKPOINT_FILE} of an earlier run, or "
        "torch.save(model.state_dict())), with torch.load(weights_only=True); with --train "
        "the training continues from them",
    )
    mod.add_argument(
        "--epochs",
        type=_non_negative_int,
        default=10,
        help="training epochs of --train (default: %(default)s; 0 = untrained)",
    )
    mod.add_argument(
        "--image-size",
        type=_positive_int,
        metavar="PIXELS",
        help=f"resize images to PIXELS x PIXELS (default: {DEFAULT_FOLDER_IMAGE_SIZE} for "
        "--images, unchanged for arrays and the built-in 8x8 digits)",
    )

    cur = p.add_argument_group("curation")
    cur.add_argument(
        "--outlier-fraction",
        type=_fraction,
        default=0.05,
        metavar="F",
        help="share of readable inputs dropped as outliers, in [0, 1) (default: %(default)s)",
    )
    cur.add_argument(
        "--similar-fraction",
        type=_fraction,
        default=0.05,
        metavar="F",
        help="share of readable inputs dropped as near-duplicates, in [0, 1) "
        "(default: %(default)s)",
    )
    cur.add_argument(
        "--mislabelled",
        type=_fraction,
        default=None,
        metavar="F",
        help="also drop round(F * n) likely mislabelled rows, in [0, 1), with "
        "DataParameterScorer trained on the rows left (needs class labels; default: step "
        "not run; 0 scores and reports without dropping)",
    )
    cur.add_argument(
        "--dp-epochs",
        type=_positive_int,
        default=40,
        metavar="N",
        help="training epochs of the mislabelled step (default: %(default)s)",
    )
    cur.add_argument(
        "--select",
        type=count_or_proportion("--select"),
        default=None,
        metavar="N|F",
        help="after the removals, select N of the kept rows (an integer), or round(F * m) "
        "of the m kept rows (F in (0, 1), written with a decimal point), on the reduced "
        "rows the filters saw; writes selected.txt and kept_not_selected.txt in place of "
        "kept.txt (default: no selection)",
    )
    cur.add_argument(
        "--strategy",
        choices=("diversity", "balance"),
        default="diversity",
        help="how --select picks: diversity = greedy k-center (DiversitySelector), "
        "balance = equal class shares, k-center inside each class (BalanceSelector; "
        "needs class labels: --images with one sub-folder per class, an .npz with "
        "labels, or the built-in data) (default: %(default)s)",
    )
    cur.add_argument(
        "--reducer",
        choices=("pca", "umap", "none"),
        default="pca",
        help="reduction of the standardised embedding before the filters (default: "
        "%(default)s; umap costs ~15 s of one-off compilation on the CPU)",
    )
    cur.add_argument(
        "--n-components",
        type=_positive_int,
        default=32,
        metavar="K",
        help="dimensions after reduction, capped at the embedding's (default: %(default)s)",
    )

    run = add_run_options(
        p,
        default_out=DEFAULT_OUT,
        device_help="where each step runs (default: %(default)s = GPU when present and worth it)",
        threads_help="CPU threads of torch for training and embedding (default: 1 for the "
        "built-in autoencoder, which gains little from more and slows down badly when other "
        "processes share the cores; torch's default, one per core, with --model)",
        seed_help="random seed (default: %(default)s)",
    )
    run.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="reuse the trained autoencoder and the embeddings of earlier runs stored here "
        "(embeddings computed with --scheduler are not cached)",
    )
    run.add_argument(
        "--workers",
        type=_non_negative_int,
        default=None,
        metavar="N",
        help="DataLoader worker processes that decode the image files of --images, a "
        f"batch of {DECODE_BATCH} at a time (default: one per core but one, at most 4; "
        "0 = decode in the main process)",
    )
    run.add_argument(
        "--scheduler",
        metavar="ADDRESS|local",
        help="run the embedding step and the curators' k-nearest-neighbour searches on a "
        "Dask cluster: the address of its scheduler (e.g. tcp://10.0.0.5:8786), or "
        "'local' for a LocalCluster on this machine (loopback only, one worker process "
        "per core, one thread each). The inputs are read, the model trained and every "
        "other step run here; the readable inputs are sent to the workers in partitions "
        "of whole batches, the reduced rows once to every worker for the searches. "
        "Needs: pip install 'sklearn-curate[dask]'",
    )


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``sklearn-curate`` command.

    Returns
    -------
    argparse.ArgumentParser
        With two sub-commands, ``curate`` and ``influence``.
    """
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Curate training data with scikit-learn estimators. Run "
        f"'{PROG} curate --help' for the options; '{PROG} curate' with no options runs "
        "on built-in data. Options given without a sub-command run 'curate'.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    curate = sub.add_parser(
        "curate",
        help="embed, reduce, drop outliers and near-duplicates, write the results",
        description=_DESCRIPTION,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_curate_arguments(curate)
    add_influence_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the ``sklearn-curate`` command.

    Parameters
    ----------
    argv : list of str, optional
        Arguments without the program name; default ``sys.argv[1:]``. With no
        arguments at all the top-level help is printed. Arguments that start with an
        option (not ``-h`` / ``--version``) are taken as ``curate`` options.

    Returns
    -------
    int
        Exit status: 0 on success, 2 for a bad command line, 1 for bad input or a
        failed step (a one-line message on stderr), 130 when interrupted.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    if not argv:
        parser.print_help()
        return 0
    if argv[0].startswith("-") and argv[0] not in ("-h", "--help", "--version"):
        argv = ["curate", *argv]
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on errors, 0 for --help
        return int(exc.code or 0)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command == "influence":
            run_influence(args, argv)
        else:
            _Run(args, argv).run()
    except CurateError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; no output written", file=sys.stderr)
        return 130
    return 0


# ----------------------------------------------------------------------------------
# the run
# ----------------------------------------------------------------------------------
class _Run(CommandRun):
    """One ``curate`` run: the steps in order, their timings and the output files.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed ``curate`` options.
    argv : list of str
        The command line without the program name, for the report.
    """

    command = "curate"

    def __init__(self, args: argparse.Namespace, argv: list[str]):
        super().__init__(args, argv)
        if args.scheduler is not None:  # before any work, --out included
            from ..embedding._dask import import_distributed

            try:
                import_distributed("--scheduler")
            except ImportError as exc:
                raise CurateError(str(exc)) from None
        self.client = None  # the Dask client of --scheduler, while the run lasts
        self.progress = not args.quiet
        self.dp = None  # the mislabelled step's result, when it runs
        self.selection = None  # the selection step's report entry, when it runs
        self.relevant_missing = []  # --relevant-files names not found under --images

    def estimator_step(self, name: str, start: float, estimator, detail: str) -> None:
        """Record a step that fitted ``estimator``, with its ``device_`` and ``backend_``.

        Parameters
        ----------
        name : str
            The step.
        start : float
            ``time.perf_counter()`` when the step began.
        estimator : object
            The fitted estimator.
        detail : str
            One line on what it did.
        """
        device, backend = getattr(estimator, "device_", None), getattr(estimator, "backend_", None)
        self.timed(name, start, detail, device, backend)

    @contextlib.contextmanager
    def guarded(self, step: str):
        """Run a curation step: bad data is one line, estimator warnings go to the report.

        Parameters
        ----------
        step : str
            The step, named in messages.

        Yields
        ------
        None

        Raises
        ------
        CurateError
            In place of a ``ValueError`` raised in the block.

        Notes
        -----
        Warnings of class ``UserWarning`` raised in the block (e.g. a cut-off inside tied scores,
        :class:`~sklearn_curate.TiedScoresWarning`) become warning lines of run.log and
        ``warnings`` of report.json; other warnings are re-issued unchanged.
        """
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with user_error(step):
                yield
        for w in caught:
            if issubclass(w.category, UserWarning):
                self.warn(f"{step}: {' '.join(str(w.message).split())}")
            else:
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)

    # -- steps -----------------------------------------------------------------------
    def load(self, scratch: Path | None = None) -> Inputs:
        """Load the inputs named by ``--images`` / ``--array`` (default: built-in digits).

        Parameters
        ----------
        scratch : Path, optional
            The run's scratch folder: the decoded images of ``--images`` (or the
            rows of an ``--array`` ``.npy`` file) are stored there and read by rows
            (never all in memory).

        Returns
        -------
        Inputs
            All input ids and the readable inputs.
        """
        a = self.args
        t = time.perf_counter()
        noise = DEFAULT_LABEL_NOISE if a.mislabelled is not None else 0.0
        relevant = None
        if a.relevant_files is not None:
            if a.images is None:
                raise CurateError(
                    "--relevant-files names files under an image folder; pass --images DIR "
                    "as well (or drop --relevant-files)."
                )
            relevant = read_relevant_files(a.relevant_files)
        workers = default_workers() if a.workers is None else a.workers
        inputs = load_inputs(
            a.images,
            a.array,
            a.image_size,
            a.seed,
            self.progress,
            noise,
            relevant,
            scratch=scratch,
            workers=workers,
        )
        rf = inputs.info.get("relevant_files")
        if rf is not None:
            # the names go to report.json's relevant_files_not_found, the count stays in
            # input (shown in report.html)
            self.relevant_missing, rf["not_found"] = rf["not_found"], len(rf["not_found"])
        if self.relevant_missing:
            missing = self.relevant_missing
            shown = ", ".join(missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            self.warn(
                f"--relevant-files: {len(missing)} of {rf['names']} names not found under "
                f"--images: {shown}{more} (all in report.json, relevant_files_not_found)"
            )
        n, n_ok = len(inputs.ids), int(inputs.valid.sum())
        n_exact = len(inputs.exact_duplicate_of)
        exact = f", {n_exact} exact duplicates" if n_exact else ""
        self.step(
            "load",
            time.perf_counter() - t,
            detail=f"{n} inputs, {n - n_ok - n_exact} corrupt{exact}, {inputs.info['kind']}",
        )
        return inputs

    def embed(self, inputs: Inputs, model, layer, scratch: Path | None = None):
        """Embed the readable inputs with one layer of the model.

        Parameters
        ----------
        inputs : Inputs
            The loaded inputs.
        model : torch.nn.Module or None
            The model; None passes feature vectors through.
        layer : str or None
            The layer whose output is the embedding.
        scratch : Path, optional
            The run's scratch folder. When the inputs are on disk (a DiskArray) the
            embeddings are written batch by batch to a ``.npy`` file in
            ``--cache-dir`` or, without it, here, and returned as a DiskArray.

        Returns
        -------
        ndarray or DiskArray of shape (n_valid, d), dtype float32
            The embedding (``inputs.data`` itself without a model).
        """
        if model is None:
            self.step("embed", 0.0, detail="skipped: --array holds feature vectors")
            return inputs.data
        from ..embedding._embedder import TorchLayerEmbedder
        from ..utils._disk_array import DiskArray, is_disk_array

        a = self.args
        t = time.perf_counter()
        on_disk = is_disk_array(inputs.data) and self.client is None
        cache_dir = a.cache_dir if a.cache_dir is not None or not on_disk else scratch
        emb = TorchLayerEmbedder(
            model, layer, device=a.device, cache_dir=cache_dir, progress=self.progress
        )
        try:
            if self.client is not None:
                from ..embedding._dask import embed_on_dask

                emb.set_params(cache_dir=None)
                Z = embed_on_dask(emb, inputs.data, client=self.client)
            else:
                Z = emb.fit_transform(inputs.data)
        except Exception as exc:
            if a.model is None:
                raise
            raise CurateError(
                f"embedding with --model {a.model} failed ({' '.join(str(exc).split())}); the "
                f"model receives float32 batches of shape (n, {', '.join(map(str, inputs.data.shape[1:]))}) "
                "in [0, 1]."
            ) from None
        if on_disk and isinstance(Z, np.memmap) and Z.ndim == 2:
            Z = DiskArray(Z.filename)  # read by rows from now on, never mapped
        else:
            Z = np.asarray(Z, dtype=np.float32).reshape(len(Z), -1)
        detail = f"layer {layer} -> {Z.shape[1]} values"
        if self.client is not None:
            workers = len(self.client.nthreads())
            self.timed("embed", t, f"{detail}, on Dask ({workers} workers)", "dask", "torch")
        else:
            self.estimator_step("embed", t, emb, detail)
        return Z

    def reduce(self, Z: np.ndarray) -> np.ndarray:
        """Reduce the embedding with ``--reducer`` to at most ``--n-components`` dimensions.

        An embedding larger than :data:`~sklearn_curate.cli._stream.IN_MEMORY_BYTES`
        held on disk is reduced with ``--reducer pca`` block by block
        (:func:`~sklearn_curate.cli._stream.chunked_standard_pca`); otherwise it is
        loaded and reduced with :class:`GPUReducer`.

        Parameters
        ----------
        Z : ndarray or DiskArray of shape (n_valid, d)
            The embedding.

        Returns
        -------
        ndarray of shape (n_valid, k), dtype float32
            The reduced rows; ``Z`` itself with ``--reducer none`` (read into memory
            when it is a DiskArray).
        """
        from ..utils._disk_array import is_disk_array

        a = self.args
        if a.reducer == "none":
            self.step("reduce", 0.0, detail="skipped: --reducer none")
            return np.asarray(Z) if is_disk_array(Z) else Z
        from sklearn.preprocessing import StandardScaler

        from ..reduction._reducer import GPUReducer

        k = min(a.n_components, Z.shape[1], max(Z.shape[0] - 2, 1))
        t = time.perf_counter()
        if is_disk_array(Z) and a.reducer == "pca" and a.device != "cuda":
            if Z.nbytes > IN_MEMORY_BYTES:
                R, ratio = chunked_standard_pca(Z, k)
                self.timed(
                    "reduce",
                    t,
                    f"standardised, pca in blocks (covariance eigh, {Z.nbytes / 2**20:.0f} MiB "
                    f"read from disk), {Z.shape[1]} -> {k} dims",
                    "cpu",
                    "numpy",
                )
                return R
        if is_disk_array(Z):
            Z = np.asarray(Z)
        # Standardising first keeps a few high-variance features from deciding the
        # components alone; on the folder checks in models.py this took the photographs
        # found among digits from 1-5 of 15 to 15 of 15. Whitening the components as
        # well lost a third of them on a second folder (it inflates noise directions).
        red = GPUReducer(method=a.reducer, n_components=k, random_state=a.seed, device=a.device)
        R = np.asarray(red.fit_transform(StandardScaler().fit_transform(Z)), dtype=np.float32)
        self.estimator_step(
            "reduce", t, red, f"standardised, {a.reducer}, {Z.shape[1]} -> {k} dims"
        )
        return R

    def outliers(self, R: np.ndarray, n_drop: int):
        """Score the rows with :class:`OutlierFilter` and drop the ``n_drop`` most outlying.

        Parameters
        ----------
        R : ndarray of shape (n_valid, k)
            The reduced rows.
        n_drop : int
            How many rows the filter must drop.

        Returns
        -------
        scores : ndarray of shape (n_valid,), dtype float64
            ``OutlierFilter.scores_``.
        support : ndarray of shape (n_valid,), dtype bool
            The rows kept.
        """
        from ..curation.outliers import OutlierFilter

        a = self.args
        t = time.perf_counter()
        filt = OutlierFilter(contamination=a.outlier_fraction, device=a.device)
        graph = self.knn_graph(R, filt._graph_neighbors(*R.shape), "outliers")
        t = time.perf_counter()
        filt.fit(R, knn_graph=graph)
        support = np.asarray(filt.support_, dtype=bool)
        if int((~support).sum()) != n_drop:  # the contract says round(fraction * n)
            raise RuntimeError(f"OutlierFilter dropped {(~support).sum()} rows, expected {n_drop}")
        self.estimator_step("outliers", t, filt, f"dropped {n_drop} of {len(R)}")
        return np.asarray(filt.scores_, dtype=np.float64), support

    def similar(self, R: np.ndarray, n_drop: int):
        """Drop ``n_drop`` near-duplicate rows with :class:`SimilarityFilter`.

        Parameters
        ----------
        R : ndarray of shape (m, k)
            The reduced rows the outlier step kept.
        n_drop : int
            How many rows the filter must drop.

        Returns
        -------
        scores : ndarray of shape (m,), dtype float64
            ``SimilarityFilter.scores_``.
        support : ndarray of shape (m,), dtype bool
            The rows kept.
        duplicate_of : ndarray of shape (m,), dtype int64
            For dropped rows, the kept row they stand for; -1 otherwise.
        """
        from ..curation.similarity import SimilarityFilter

        a = self.args
        m = R.shape[0]
        t = time.perf_counter()
        # n_drop of the m rows left is the share n_drop / m of them; round() restores n_drop
        filt = SimilarityFilter(fraction=n_drop / m if m else 0.0, device=a.device)
        graph = self.knn_graph(R, min(filt.n_neighbors, m - 1), "similar")
        t = time.perf_counter()
        filt.fit(R, knn_graph=graph)
        support = np.asarray(filt.support_, dtype=bool)
        if int((~support).sum()) != n_drop:
            raise RuntimeError(
                f"SimilarityFilter dropped {(~support).sum()} rows, expected {n_drop}"
            )
        dup = np.asarray(getattr(filt, "duplicate_of_", np.full(m, -1)), dtype=np.int64)
        self.estimator_step("similar", t, filt, f"dropped {n_drop} of {m}")
        return np.asarray(filt.scores_, dtype=np.float64), support, dup

    def knn_graph(self, R: np.ndarray, n_neighbors: int | None, step: str):
        """With ``--scheduler``: the k-NN graph of ``R``, searched on the cluster.

        The graph a curator takes as ``knn_graph`` instead of its first search
        (:func:`~sklearn_curate.utils.kneighbors_graph_on_dask`, the exact search of
        the local run, so the curation is the same); recorded as the step
        ``"<step> neighbours"``.

        Parameters
        ----------
        R : ndarray of shape (m, k)
            The rows the curator fits.
        n_neighbors : int or None
            Neighbours per row; None (or below 1) when the curator takes no graph.
        step : str
            The curation step it is for.

        Returns
        -------
        scipy.sparse.csr_matrix of shape (m, m), or None
            None without ``--scheduler`` or without ``n_neighbors``.
        """
        if self.client is None or not n_neighbors or n_neighbors < 1:
            return None
        from ..utils._dask_neighbors import kneighbors_graph_on_dask

        t = time.perf_counter()
        graph = kneighbors_graph_on_dask(
            np.ascontiguousarray(R, dtype=np.float32),
            int(n_neighbors),
            client=self.client,
            device=self.args.device,
        )
        workers = len(self.client.nthreads())
        self.timed(
            f"{step} neighbours",
            t,
            f"{n_neighbors} nearest of {len(R)} rows, on Dask ({workers} workers)",
            "dask",
            "kneighbors",
        )
        return graph

    # -- whole run -------------------------------------------------------------------
    def protected(self) -> tuple[list, list]:
        """List what ``--out`` stays clear of: the inputs, the cache folder, a ``--model`` file.

        Returns
        -------
        protect, protect_contained : list of (str, str or None)
            As :meth:`CommandRun.protected`.
        """
        a = self.args
        return (
            [("--images", a.images), ("--array", a.array)],
            [
                ("--cache-dir", a.cache_dir),
                ("--model", model_file(a.model)),
                ("--relevant-files", a.relevant_files),
                ("--checkpoint", a.checkpoint),
            ],
        )

    def summary(self, report: dict) -> str:
        """Return the last line: the count of each decision and the time.

        Parameters
        ----------
        report : dict
            The run report.

        Returns
        -------
        str
        """
        counts = report["counts"]
        mis = f"{counts['mislabelled']} mislabelled, " if "mislabelled" in counts else ""
        if "selected" in counts:
            kept = f"{counts['selected']} selected, {counts['kept_not_selected']} kept not selected"
        else:
            kept = f"{counts['kept']} kept"
        return (
            f"wrote {Path(self.args.out)}: {kept}, {counts['outlier']} outliers, "
            f"{counts['similar']} similar, {mis}{counts['corrupt']} corrupt, "
            f"{counts['exact_duplicate']} exact duplicates in {report['total_seconds']:.1f} s"
        )

    @contextlib.contextmanager
    def scheduler(self):
        """Connect to ``--scheduler`` (or start a local cluster) for the run's duration.

        Yields
        ------
        distributed.Client or None
            None without ``--scheduler``.

        Raises
        ------
        CurateError
            If the scheduler cannot be reached.
        """
        address = self.args.scheduler
        if address is None:
            yield None
            return
        import logging

        from distributed import Client, LocalCluster

        t = time.perf_counter()
        with contextlib.ExitStack() as stack:
            try:
                if address == "local":
                    cluster = stack.enter_context(
                        LocalCluster(
                            threads_per_worker=1,
                            processes=True,
                            host="127.0.0.1",
                            dashboard_address=None,
                            silence_logs=logging.ERROR,
                        )
                    )
                    client = stack.enter_context(Client(cluster))
                else:
                    client = stack.enter_context(Client(address, timeout="30s"))
            except (OSError, TimeoutError) as exc:
                raise CurateError(
                    f"--scheduler {address}: cannot connect ({' '.join(str(exc).split())})"
                ) from None
            workers = len(client.nthreads())
            self.timed("scheduler", t, f"{address}: {workers} workers")
            yield client

    def _run(self, staging: Path) -> dict:
        """Every step of :meth:`run`, on ``--scheduler``'s cluster if given.

        Parameters
        ----------
        staging : Path
            The staging folder of ``--out``.

        Returns
        -------
        dict
            The run report.
        """
        with self.scheduler() as self.client:
            try:
                return self._steps(staging)
            finally:
                self.client = None

    def _steps(self, staging: Path) -> dict:
        """Every step of :meth:`run`, writing into the staging folder.

        Parameters
        ----------
        staging : Path
            The staging folder of ``--out`` (empty but for its marker and run.log).

        Returns
        -------
        dict
            The run report.
        """
        a = self.args
        if a.device == "cuda":  # fail now, not after reading and training
            require_cuda("embed", *([a.reducer] if a.reducer != "none" else []))
        train = resolve_train(a.train, a.model, a.checkpoint)  # fail now, not after reading
        if a.model is not None:
            import torch

            torch.manual_seed(a.seed)  # a user model with random weights is reproducible too
        loaded = user_model(a.model, a.layer, self.step) if a.model is not None else (None, None)
        with scratch_folder(staging) as scratch:
            return self._steps_in(staging, scratch, train, loaded)

    def _steps_in(self, staging: Path, scratch: Path, train: str, loaded) -> dict:
        """Run the steps from loading on, with the run's scratch folder (see :meth:`_steps`).

        Parameters
        ----------
        staging : Path
            The staging folder of ``--out``.
        scratch : Path
            Its scratch folder, removed before the folder is put in place.
        train : str
            ``--train``, resolved.
        loaded : tuple
            ``(model, layer)`` of ``--model``, or ``(None, None)``.

        Returns
        -------
        dict
            The run report.
        """
        a = self.args
        inputs = self.load(scratch if a.images is not None or a.array is not None else None)
        if a.mislabelled is not None:
            check_labels(inputs)
        n_valid = int(inputs.valid.sum())
        n_out = int(round(a.outlier_fraction * n_valid))
        n_sim = int(round(a.similar_fraction * n_valid))
        n_mis = int(round((a.mislabelled or 0.0) * n_valid))
        if n_valid < 2:
            raise CurateError(
                f"only {n_valid} readable input; curation compares inputs, so pass at least 2."
            )
        if n_out + n_sim + n_mis >= n_valid:
            mis = f" and --mislabelled {a.mislabelled}" if n_mis else ""
            raise CurateError(
                f"--outlier-fraction {a.outlier_fraction} and --similar-fraction "
                f"{a.similar_fraction}{mis} would drop {n_out} + {n_sim}"
                f"{f' + {n_mis}' if n_mis else ''} of the {n_valid} readable "
                "inputs, leaving none; lower them."
            )
        if a.select is not None:  # fail now, not after training
            check_select(a.select, a.strategy, inputs, n_valid - n_out - n_sim - n_mis)
        threads = a.threads or (None if a.model is not None else 1)
        with torch_threads(threads) as self.threads:
            model, layer, trained = prepare_model(
                inputs,
                *(loaded if a.model is not None else (None, a.layer)),
                train=train,
                checkpoint=a.checkpoint,
                flip=a.simclr_flip,
                epochs=a.epochs,
                seed=a.seed,
                device=a.device,
                cache_dir=a.cache_dir,
                progress=self.progress,
                step=self.step,
            )
            Z = self.embed(inputs, model, layer, scratch)
        if trained:  # into the staging folder: it appears with the rest or not at all
            import torch

            torch.save(model.state_dict(), staging / CHECKPOINT_FILE)
        with self.guarded("reduce"):
            R = self.reduce(Z)
        if a.reducer == "none":
            Z = R  # the same rows (read into memory when they were on disk)
        with self.guarded("outliers"):
            o_scores, o_support = self.outliers(R, n_out)
        with self.guarded("similar"):
            s_scores, s_support, dup = self.similar(R[o_support], n_sim)
        decisions = Decisions.from_filters(
            inputs.valid, o_scores, o_support, s_scores, s_support, dup, inputs.exact_duplicate_of
        )
        if a.mislabelled is not None:
            kept_rows = np.flatnonzero(o_support)[s_support]  # rows of R
            with self.guarded("mislabelled"):
                self.dp = run_mislabelled(
                    R[kept_rows],
                    np.flatnonzero(inputs.valid)[kept_rows],
                    # the built-in data's planted foreign images are no class of the
                    # digits: not scored, as files outside the class folders
                    inputs.class_labels(),
                    n_mis,
                    step=self.step,
                    epochs=a.dp_epochs,
                    device=a.device,
                    seed=a.seed,
                    threads=self.threads,
                )
            dp = self.dp.scorer
            decisions.mark_mislabelled(self.dp.positions, dp.scores_, dp.support_, dp.categories_)
        if a.select is not None:
            valid_idx = np.flatnonzero(inputs.valid)
            kept_pos = np.flatnonzero(decisions.decision == "kept")
            with self.guarded("select"):
                result = run_select(
                    R,
                    kept_pos,
                    np.searchsorted(valid_idx, kept_pos),  # their rows of R
                    inputs,
                    select=a.select,
                    strategy=a.strategy,
                    step=self.step,
                    device=a.device,
                    seed=a.seed,
                )
            decisions.mark_selected(result.order)
            self.selection = result.info

        params = {k: v for k, v in sorted(vars(a).items()) if k != "command"}
        params["layer"] = layer
        params["train"] = train  # what ran, also when chosen by default
        params["threads"] = self.threads  # what ran, also when chosen by default
        return self.write(staging, inputs, decisions, Z, R, layer, params)

    def write(self, tmp: Path, inputs: Inputs, decisions: Decisions, Z, R, layer, params) -> dict:
        """Write every output file into the staging folder of ``--out``.

        Parameters
        ----------
        tmp : Path
            The staging folder (renamed to ``--out`` by :class:`OutputFolder`).
        inputs : Inputs
            The loaded inputs.
        decisions : Decisions
            The outcome per input.
        Z : ndarray of shape (n_valid, d)
            The embedding.
        R : ndarray of shape (n_valid, k)
            The reduced rows; ``Z`` itself with ``--reducer none``.
        layer : str or None
            The embedding layer; None when no model ran.
        params : dict
            The run's parameters, as reported.

        Returns
        -------
        dict
            The run report (``report.json``), its ``total_seconds`` set just before
            it is written.
        """
        from ..report._html import write_report

        t = time.perf_counter()
        write_tables(tmp, inputs, decisions, Z, R)
        self.timed("write", t, str(Path(os.path.abspath(self.args.out))))
        t = time.perf_counter()
        figures, thumbs = report_figures(
            inputs, decisions, R, device=self.args.device, mislabelled=self.dp
        )
        self.timed("report", t, f"figures and {len(thumbs)} thumbnails")
        report = build_report(
            inputs,
            decisions,
            Z,
            R,
            layer,
            command=[PROG, *self.argv],
            parameters=params,
            steps=self.steps,
            warnings=self.warnings,
            figures=figures,
            selection=self.selection,
        )
        if self.args.relevant_files is not None:
            report["relevant_files_not_found"] = self.relevant_missing
        report["total_seconds"] = self.total_seconds()
        write_report(report, tmp, thumbnails=thumbs)
        return report
