"""Selection to a budget with target class ratios: :class:`BalanceSelector`.

Lightly's BALANCE strategy: the budget is handed out one row at a time, each to the
class furthest below its target share, and rows are picked inside each class by the
greedy k-center of :mod:`sklearn_curate.curation.selection` or at random. The budget,
preselected rows, prefilter and results are the selectors' shared machinery
(``selection._BaseSelector``).
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import type_of_target

from ..utils._parallel import thread_count
from ._kcenter import greedy_k_center
from .selection import _BaseSelector, _budget, _check_preselected, _prepare

__all__ = ["BalanceSelector"]


# -- BalanceSelector --------------------------------------------------------------------
def _allocate(ratios, counts, room, budget):
    """Which class gets each of the ``budget`` picks, one at a time.

    Each pick goes to the class furthest below its target count after the pick,
    ``ratios[k] * (m + 1) - counts[k]`` with ``m`` rows selected so far, among
    classes with a positive ratio and rows left; ties to the first class (sorted
    labels). Any prefix of the sequence is as balanced as its length allows.
    """
    counts = counts.astype(np.float64).copy()
    room = room.copy()
    m = counts.sum()
    seq = np.empty(budget, dtype=np.intp)
    open_ = (ratios > 0) & (room > 0)
    for s in range(budget):
        need = np.where(open_, ratios * (m + 1) - counts, -np.inf)
        k = int(np.argmax(need))
        seq[s] = k
        counts[k] += 1
        room[k] -= 1
        if room[k] == 0:
            open_[k] = False
        m += 1
    return seq


class BalanceSelector(_BaseSelector):
    """Select a budget of rows whose class shares approach target ratios.

    The budget is handed out one row at a time, each to the class furthest below
    its target share (preselected rows counted), so the class counts of the
    selection end within one row of ``ratio * n_kept`` for every class that has
    rows enough; a class that runs out leaves its share to the others. Within a
    class, rows are picked by greedy k-center on that class's rows (as
    :class:`~sklearn_curate.DiversitySelector`, seeded by the class's preselected rows) or at
    random. This is Lightly's BALANCE strategy [1]_ with a diversity objective
    inside each class.

    Parameters
    ----------
    n_samples : int or None, default=None
        Number of rows to pick (besides ``preselected`` ones). Give this or
        ``proportion``.
    proportion : float in (0, 1] or None, default=None
        Budget as a share of the rows of ``X``: ``round(proportion * n_samples)``.
    target : "uniform" or dict, default="uniform"
        Target class shares of the selection (preselected rows included).
        ``"uniform"``: every class of ``y`` alike. A dict maps class labels to
        non-negative ratios (normalised to sum 1); classes left out get ratio 0
        and are not picked (their preselected rows still count).
    within : {"diversity", "random"}, default="diversity"
        How rows are picked inside a class: farthest-point selection on the class's
        rows (first pick: the row farthest from the class mean, unless the class has
        preselected rows), or uniformly at random with ``random_state``.
    metric : {"euclidean", "cosine"}, default="euclidean"
        Distance for ``within="diversity"``; see :class:`~sklearn_curate.DiversitySelector`.
    prefilter : estimator or None, default=None
        A curator (any estimator with ``fit`` that sets ``support_`` or
        ``scores_``, e.g. :class:`~sklearn_curate.OutlierFilter`), cloned and fitted
        on ``X`` (and ``y``) first; only rows it keeps may be picked. With
        ``threshold``, the rows with ``scores_ >= threshold`` may be picked instead.
        Its parameters are searchable as ``prefilter__<name>``.
    threshold : float or None, default=None
        Minimum ``prefilter_.scores_`` of a row that may be picked (Lightly's
        THRESHOLD). Needs ``prefilter``.
    random_state : int, RandomState instance or None, default=None
        Seed of ``within="random"``; unused otherwise.
    n_jobs : int or None, default=-1
        Threads of the distance passes (see :class:`~sklearn_curate.DiversitySelector`).

    Attributes
    ----------
    selection_order_ : ndarray of shape (n_kept,), intp
        The ``n_kept = n_preselected_ + n_selected_`` selected rows: preselected
        rows as given, then the picks in the order of the allocation (so any prefix
        of the picks is balanced).
    scores_ : ndarray of shape (n_samples,), float64
        The selection order as a score (see :class:`~sklearn_curate.DiversitySelector`): higher =
        earlier, 0 = not selected.
    support_ : ndarray of shape (n_samples,), bool
        True for selected rows (preselected included).
    sample_indices_ : ndarray of shape (n_kept,), intp
        The selected rows, ascending.
    n_removed_ : int
        Rows not selected.
    n_preselected_, n_selected_ : int
        Preselected rows and rows picked in this fit (the budget).
    classes_ : ndarray of shape (n_classes,)
        Class labels of ``y``, sorted.
    target_ratios_ : dict
        Class -> target share as used (summing to 1).
    class_counts_ : dict
        Class -> selected rows (preselected included).
    eligible_ : ndarray of shape (n_samples,), bool
        Rows that could be picked.
    prefilter_ : estimator
        The fitted clone of ``prefilter`` (only when ``prefilter`` is given).
    n_features_in_ : int
        Number of features seen in ``fit``.

    See Also
    --------
    sklearn_curate.DiversitySelector : farthest-point selection without classes.

    Notes
    -----
    Combining strategies: eligibility first (``candidates``, ``prefilter``), then
    the allocation over classes, then the rule ``within`` each class.

    Cost: the allocation is ``O(budget * n_classes)``; ``within="diversity"`` costs
    ``O(sum_k n_k * (p_k + b_k) * n_features)`` for class sizes ``n_k``, preselected
    ``p_k`` and picks ``b_k``; memory ``O(n_samples)`` plus a copy of one class's rows
    at a time.

    References
    ----------
    .. [1] Lightly worker, selection strategy BALANCE (``target`` class ratios),
       https://docs.lightly.ai/docs/selection. The within-class rule is the
       greedy k-center of O. Sener, S. Savarese, ICLR 2018.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_curate import BalanceSelector
    >>> X, y = load_digits(return_X_y=True)
    >>> sel = BalanceSelector(n_samples=100, target={0: 0.5, 1: 0.5}).fit(X, y)
    >>> sel.class_counts_[0], sel.class_counts_[1], sel.class_counts_[2]
    (50, 50, 0)
    """

    _parameter_constraints: dict = {
        "n_samples": [Interval(Integral, 1, None, closed="left"), None],
        "proportion": [Interval(Real, 0, 1, closed="right"), None],
        "target": [StrOptions({"uniform"}), dict],
        "within": [StrOptions({"diversity", "random"})],
        "metric": [StrOptions({"euclidean", "cosine"})],
        "prefilter": [HasMethods(["fit"]), None],
        "threshold": [Real, None],
        "random_state": ["random_state"],
        "n_jobs": [Integral, None],
    }
    _y_role = "required"

    def __init__(
        self,
        n_samples=None,
        *,
        proportion=None,
        target="uniform",
        within="diversity",
        metric="euclidean",
        prefilter=None,
        threshold=None,
        random_state=None,
        n_jobs=-1,
    ):
        self.n_samples = n_samples
        self.proportion = proportion
        self.target = target
        self.within = within
        self.metric = metric
        self.prefilter = prefilter
        self.threshold = threshold
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _ratios(self, classes):
        if isinstance(self.target, str):
            return np.full(classes.shape[0], 1.0 / classes.shape[0])
        known = set(classes.tolist())
        unknown = [k for k in self.target if k not in known]
        if unknown:
            raise ValueError(
                f"target names classes {unknown!r} that y does not hold; the classes "
                f"are {classes.tolist()!r}."
            )
        ratios = np.array([float(self.target.get(k, 0.0)) for k in classes.tolist()])
        if np.any(ratios < 0) or not np.all(np.isfinite(ratios)) or ratios.sum() <= 0:
            raise ValueError(
                f"target ratios must be finite, >= 0 and not all 0; got {self.target!r}."
            )
        return ratios / ratios.sum()

    def fit(self, X, y, *, preselected=None, candidates=None, **params):
        """Select rows of ``X`` with class shares near the target.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Embeddings; must be finite.
        y : array-like of shape (n_samples,)
            Class labels (binary or multiclass; a one-hot ``y`` is read as labels).
        preselected : array-like of int, or of bool with shape (n_samples,), default=None
            Rows selected in earlier rounds; they count toward the class shares
            and seed the within-class selection, but not the budget. In an
            imbalanced-learn Pipeline they reach the selector only with metadata
            routing on (``pipeline.fit(X, y, preselected=rows)``).
        candidates : array-like of bool, shape (n_samples,), default=None
            Rows that may be picked; combined with ``prefilter`` by "and".
        **params : dict
            Ignored (per-sample arrays passed along by :meth:`fit_resample`).

        Returns
        -------
        self : BalanceSelector

        Raises
        ------
        ValueError
            If ``y`` is missing or not class labels; if both or neither of
            ``n_samples`` and ``proportion`` are given; if the budget is more than
            the eligible rows not yet selected in classes with a positive target
            ratio; if ``target`` names a class ``y`` lacks or has negative ratios;
            if ``preselected`` / ``candidates`` are malformed (each message names
            the value and the fix).
        """
        self._validate_params()
        if y is None:
            raise ValueError(
                "BalanceSelector requires y to be passed, but the target y is None; call "
                "fit(X, y) with class labels (DiversitySelector selects without labels)."
            )
        X, y = self._validate_X(X, y)
        kind = type_of_target(y)
        if kind not in ("binary", "multiclass"):
            raise ValueError(
                f"Unknown label type: y is {kind!r}, but BalanceSelector balances class "
                "labels. Pass class labels (bin a continuous target first, e.g. with "
                "KBinsDiscretizer)."
            )
        n = X.shape[0]
        budget = _budget(self.n_samples, self.proportion, n)
        pre = _check_preselected(preselected, n)
        eligible = self._eligible(X, y, candidates)
        self.eligible_ = eligible

        y = np.asarray(y)
        self.classes_, codes = np.unique(y, return_inverse=True)
        codes = codes.reshape(-1)
        ratios = self._ratios(self.classes_)
        n_classes = self.classes_.shape[0]
        room_mask = eligible.copy()
        room_mask[pre] = False
        counts = np.bincount(codes[pre], minlength=n_classes)
        room = np.bincount(codes[room_mask], minlength=n_classes)
        name = self._budget_name(n)
        self._check_room(
            budget, int(room[ratios > 0].sum()), n, pre.shape[0], int((~eligible).sum()), name
        )
        seq = _allocate(ratios, counts, room, budget)

        Xk = _prepare(X, self.metric) if self.within == "diversity" else None
        rng = check_random_state(self.random_state)
        workers = thread_count(self.n_jobs)
        picks_by_class = {}
        for k in np.unique(seq):
            rows = np.flatnonzero(codes == k)
            want = int((seq == k).sum())
            if self.within == "random":
                free = rows[room_mask[rows]]
                picks_by_class[k] = rng.permutation(free)[:want]
                continue
            local = np.full(n, -1, dtype=np.intp)
            local[rows] = np.arange(rows.shape[0])
            centers = local[pre[codes[pre] == k]]
            picks, _, _ = greedy_k_center(
                Xk[rows],
                want,
                centers=centers,
                candidates=eligible[rows],
                first="farthest",
                workers=workers,
            )
            picks_by_class[k] = rows[picks]
        taken = dict.fromkeys(picks_by_class, 0)
        picks = np.empty(budget, dtype=np.intp)
        for s, k in enumerate(seq):
            picks[s] = picks_by_class[k][taken[k]]
            taken[k] += 1

        self.target_ratios_ = {
            c: float(r) for c, r in zip(self.classes_.tolist(), ratios, strict=True)
        }
        self._record(n, pre, picks)
        final = np.bincount(codes[self.selection_order_], minlength=n_classes)
        self.class_counts_ = {c: int(v) for c, v in zip(self.classes_.tolist(), final, strict=True)}
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.non_deterministic = self.within == "random" and self.random_state is None
        return tags
