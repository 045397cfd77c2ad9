"""Drop outliers by HDBSCAN's GLOSH outlier score: :class:`OutlierFilter`.

GLOSH (Campello et al. 2015) compares the density at which each point leaves HDBSCAN's
condensed cluster tree with the density of the densest point of the cluster it leaves.
The tree is HDBSCAN's, built from the exact minimum spanning tree of mutual reachability:
by default with this package's Boruvka on exact k-nearest-neighbour lists
(:func:`sklearn_curate.utils.neighbors.kneighbors`, fast at any dimension), or with the
hdbscan package (Boruvka on a kd-tree or ball tree, exact mode), or with cuML (CUDA). The
scores are always computed here from the condensed tree (:func:`glosh_from_condensed_tree`),
so every backend gives the same quantity.
"""

from __future__ import annotations

import warnings
from numbers import Integral, Real

import numpy as np
from joblib import effective_n_jobs
from sklearn.base import OutlierMixin
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted

from ..base import BaseCurator
from ..utils._device import import_cuml, resolve_device
from ..utils._knn_graph import knn_lists
from ..utils._warnings import caller_stacklevel
from ..utils.neighbors import kneighbors
from ._hdbscan_tree import TREE_DTYPE as TREE_DTYPE  # re-exported: condensed_tree_'s layout
from ._hdbscan_tree import (
    _as_tree,
    _glosh,
    _glosh_parts,
    _tree_knn_graph,
    glosh_from_condensed_tree,
    graph_neighbors,
)

__all__ = ["GLOSH_TIE_ATOL", "OutlierFilter", "glosh_from_condensed_tree"]

#: GLOSH scores closer than this count as tied at the cut-off (see OutlierFilter's Notes).
#: GLOSH is a ratio of two distances in [0, 1]. The CPU trees use float64 distances
#: (mathematically equal scores on a 12 x 12 grid differ by 1e-16), but cuML's tree and
#: ``score_samples`` use float32 ones, where such scores differ by up to a few 1e-7
#: (3.4e-7 measured on that grid with the earlier float32 k-NN-graph tree), while the
#: gaps between distinct scores at the cut-off on the digits sets are 3e-4 to 7e-3.
#: Differences below 1e-6 are rounding, not a ranking.
GLOSH_TIE_ATOL = 1e-6


# From 3 to this many features hdbscan's exact kd-tree Boruvka beats the k-NN-list Boruvka
# (20,400 blobs + 2% noise, one thread: 3 features 1.05 s vs 3.5 s, 4: 0.94 vs 1.12,
# 6: 1.54 vs 2.66, 8: 2.37 vs 4.33; 12: 5.56 vs 3.74, 16: 7.35 vs 3.64; at 2 features
# and 102,000 rows 3.7 s vs 2.2 s). Both are exact: the same tree.
_KDTREE_MAX_FEATURES = 8


# -- backends --------------------------------------------------------------------------
def _tree_hdbscan(X, min_cluster_size, min_samples, algorithm, n_jobs):
    """HDBSCAN's condensed tree from the hdbscan package.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The samples.
    min_cluster_size : int
        Smallest group of samples that counts as a cluster.
    min_samples : int
        Neighbours that define a sample's core distance.
    algorithm : {"boruvka_kdtree", "boruvka_balltree"}
        hdbscan's algorithm.
    n_jobs : int or None
        Processes for the core distances (joblib's convention).

    Returns
    -------
    tree : structured ndarray of shape (n_rows,), dtype :data:`TREE_DTYPE`
        The condensed tree.
    """
    import hdbscan  # by its public name, so `python -m cuml.accel` can take it over

    X = np.require(X, np.float64, ["C", "W"])  # its Cython needs writable memory
    model = hdbscan.HDBSCAN(
        min_cluster_size=min_cluster_size,
        min_samples=min_samples,
        algorithm=algorithm,
        # hdbscan's default (True) resets its Boruvka bounds only when a round joins
        # nothing, which can miss a cheaper edge: the tree's total weight was 0.01-0.03%
        # above the minimum on blobs with noise at 16 and 64 features
        approx_min_span_tree=False,
        core_dist_n_jobs=effective_n_jobs(n_jobs),
    ).fit(X)
    return model.condensed_tree_.to_numpy()


def _tree_cuml(X, min_cluster_size, min_samples):  # pragma: no cover - needs a GPU
    """HDBSCAN's condensed tree from cuML, on CUDA.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The samples.
    min_cluster_size : int
        Smallest group of samples that counts as a cluster.
    min_samples : int
        Neighbours that define a sample's core distance.

    Returns
    -------
    tree : structured ndarray of shape (n_rows,), dtype :data:`TREE_DTYPE`
        The condensed tree.
    """
    cluster = import_cuml("cuml.cluster")
    model = cluster.HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples).fit(X)
    return _as_tree(model.condensed_tree_)  # cuML has no outlier_scores_


# -- method="ensemble" ------------------------------------------------------------------
#: Neighbours of the ensemble's k-NN member (the mean distance to them, as cleanlab's
#: Datalab ranks outliers).
_ENSEMBLE_KNN_K = 10
#: The ensemble's cosine LOF member needs more than this many features (cleanlab's rule
#: for cosine distance: with 2 or 3 features a row's direction says little).
_ENSEMBLE_COSINE_MIN_FEATURES = 3


def _robust_z_params(s):
    """``(median, scale)`` of ``s`` for robust z-scores ``(s - median) / scale``.

    The scale is ``1.4826 * MAD`` (the standard deviation of a normal sample); when more
    than half the scores are equal (MAD 0) it falls back to ``1.2533 *`` the mean
    absolute deviation from the median, and to 1 when every score is equal.
    """
    med = float(np.median(s))
    dev = np.abs(s - med)
    scale = 1.4826 * float(np.median(dev))
    if not scale > 0:
        scale = 1.2533 * float(np.mean(dev))
    return med, (scale if scale > 0 else 1.0)


class _ECOD:
    """ECOD (Li et al. 2022): per-feature empirical tail probabilities, summed as -log.

    A sample's score is the largest of three sums over the features of ``-log`` of its
    empirical tail probability: the left tails, the right tails, and each feature's tail
    on the side of its skew. The training columns are kept sorted, so new samples are
    scored against the training distribution; a value beyond every training value gets
    the most extreme training probability, ``1 / n``.
    """

    def fit(self, X):
        self.sorted_ = np.sort(X, axis=0)
        n = X.shape[0]
        centred = X - X.mean(axis=0)
        m2 = (centred**2).mean(axis=0)
        m3 = (centred**3).mean(axis=0)
        with np.errstate(divide="ignore", invalid="ignore"):
            skew = np.where(m2 > 0, m3 / np.where(m2 > 0, m2, 1.0) ** 1.5, 0.0)
        self.left_skew_ = skew < 0
        self.n_ = n
        return self

    def score(self, X):
        n, d = self.n_, X.shape[1]
        log_left = np.empty(X.shape)
        log_right = np.empty(X.shape)
        for j in range(d):
            col = self.sorted_[:, j]
            below = np.searchsorted(col, X[:, j], side="right")  # training values <= x
            above = n - np.searchsorted(col, X[:, j], side="left")  # training values >= x
            log_left[:, j] = -np.log(np.maximum(below, 1) / n)
            log_right[:, j] = -np.log(np.maximum(above, 1) / n)
        skewed = np.where(self.left_skew_, log_left, log_right)
        return np.max([log_left.sum(axis=1), log_right.sum(axis=1), skewed.sum(axis=1)], axis=0)


def _glosh_to_evidence(glosh):
    """Map GLOSH to ``-log(1 - GLOSH)``.

    0 at the densest point, unbounded as GLOSH nears 1, so the rows far sparser than
    their cluster spread out instead of piling up below 1.
    """
    return -np.log1p(-np.clip(glosh, 0.0, 1.0 - 1e-12))


class OutlierFilter(OutlierMixin, BaseCurator):
    """Drop the training rows with the highest outlier scores (GLOSH by default).

    Builds HDBSCAN's cluster hierarchy, scores every sample by GLOSH (how much sparser it
    is than the densest point of the cluster it leaves) and drops exactly
    ``round(contamination * n_samples)`` rows, the most outlying first; ``method``
    swaps GLOSH for the k-NN distance, LOF or an isolation forest under the same
    contract, so GridSearchCV can choose the detector as well as the share. A curator for
    ``imblearn.pipeline.Pipeline`` (``fit_resample``) and an outlier detector in
    scikit-learn's sense (``fit_predict`` gives +1 / -1, ``decision_function``).

    Parameters
    ----------
    contamination : float in [0, 1), default=0.05
        Share of rows to drop: exactly ``round(contamination * n_samples)``; ties in
        score are broken by dropping the lower row index first. Also sets
        ``min_cluster_size="auto"``.
    method : {"glosh", "knn", "lof", "isolation", "ensemble"}, default="glosh"
        The outlier score.

        - ``"glosh"``: GLOSH on HDBSCAN's exact tree (the parameters below). On the
          quality suite (``docs/quality.md``: 42 cases of blobs with noise, digits with
          foreign, rotated, noise and glyph images, tabular sets with shuffled or scaled
          rows) it has the highest mean ROC AUC (0.962) and the only one at or above
          0.986 on every digits fault, because a group of similar outliers cannot form
          a cluster of its own (see Notes); it trails where clusters are no larger
          than the drop budget and on shuffled standardised rows.
        - ``"knn"``: the distance to the ``n_neighbors``-th nearest other sample
          (Ramaswamy et al. 2000), from
          :func:`~sklearn_curate.utils.neighbors.kneighbors`, CPU or CUDA. Suite mean
          0.923 at k=5; fails on groups of similar outliers (photo crops: 0.17).
        - ``"lof"``: scikit-learn's ``LocalOutlierFactor(n_neighbors, novelty=True)``
          (Breunig et al. 2000); suite mean 0.905 at k=20.
        - ``"isolation"``: scikit-learn's ``IsolationForest(random_state=random_state)``
          (Liu et al. 2008); suite mean 0.945, best on rows rescaled in raw units.

        - ``"ensemble"``: the mean of the robust z-scores of four complementary
          detectors: GLOSH as above (as ``-log(1 - GLOSH)``), the mean distance to
          the 10 nearest samples, LOF at ``n_neighbors`` on rows scaled to unit
          length (cosine; only with more than 3 features) and ECOD (Li et al. 2022);
          see Notes. Suite mean 0.976, 6 of 42 cases more than 0.01 below the
          best peer (GLOSH: 0.962, 14), worst gap -0.032.

        No rank combination of the single detectors met the suite's bar (best: mean
        0.971, 15 cases missed); ``docs/quality.md`` lists the ones tried.
    min_cluster_size : "auto", int >= 2 or float in (0, 1), default="auto"
        Smallest group of samples that counts as a cluster; smaller groups split off a
        cluster are scored as outliers of it. ``"auto"`` uses
        ``max(5, round(contamination * n_samples) + 1)``, one more than the rows to drop,
        so a group of outliers as large as the whole drop budget is still caught (see
        Notes); a float is a share of ``n_samples``. Capped at ``n_samples``.
    min_samples : int >= 1, default=3
        Neighbours that define a sample's core distance (the distance to its
        ``min_samples``-th nearest other sample), HDBSCAN's density estimate. Of 2, 3, 5
        and 8, 2 and 3 ranked outliers best (tied) on digits with 2%, 5% and 10% foreign
        or rotated images and on two sets of blobs with uniform noise; 8 was worst.
        With ``n_samples <= min_samples`` (2 or 3 rows at the default) the
        ``n_samples - 1`` other samples are used instead, with a warning; the value
        used is ``min_samples_``.
    algorithm : {"auto", "knn_graph", "boruvka_kdtree", "boruvka_balltree"}, default="auto"
        How the cluster hierarchy is built.

        - ``"auto"``: on the CPU an exact tree at every dimension: hdbscan's exact
          ``"boruvka_kdtree"`` for 3 to 8 features, where it was 1.2-2x faster,
          ``"knn_graph"`` otherwise; cuML on CUDA.
        - ``"knn_graph"``: the exact minimum spanning tree of mutual reachability by
          Boruvka's algorithm on candidate lists that start as the exact
          k-nearest-neighbour graph (k = max(16, min_samples),
          :func:`sklearn_curate.utils.neighbors.kneighbors`): each
          component joins along its cheapest listed exit once that is certified
          cheaper than any unlisted edge, and the members that block the
          certificate are searched again against the other components. Its total
          weight equals scipy's minimum spanning tree of the dense
          mutual-reachability matrix (tested on blobs with noise, digits, uniform
          data and exact duplicates), so the condensed tree is HDBSCAN's; the
          searches are matrix products, so it stays fast with many features
          (20,400 x 64 blobs with 2% noise: 4.2 s, hdbscan's exact kd-tree Boruvka
          47 s; ``benchmarks/bench_outliers.py``, ``docs/benchmarks.md``). (Earlier
          builds only joined the components of the k-NN graph's own spanning tree, which
          is not the minimum one when the graph is connected through sparse points:
          ROC AUC 0.67-0.71 instead of 1.00 on blobs with 2% uniform noise at 64
          features.)
        - ``"boruvka_kdtree"``, ``"boruvka_balltree"``: ``hdbscan.HDBSCAN`` with that
          algorithm and ``approx_min_span_tree=False`` (its exact mode; CPU only).
        - On CUDA, cuML builds its tree from a k-NN graph joined across components,
          the approach ``"knn_graph"`` used before; it has not been compared with
          the exact tree on a GPU here (no GPU was available). Pass
          ``algorithm="knn_graph"`` for the exact tree with the searches on CUDA.
    metric : {"euclidean", "cosine"}, default="euclidean"
        Distance between rows. ``"cosine"`` scales every row to unit length first
        (a zero row stays at the origin) and then uses Euclidean distance, the chord
        ``sqrt(2 * (1 - cos(a, b)))``, which orders pairs as cosine distance does and,
        unlike ``1 - cos``, is a metric, so the tree, its densities and GLOSH keep
        their meaning. It ignores a row's length: suited to embeddings whose norm
        carries no meaning and to rows whose pattern, not size, is wrong (standardised
        breast_cancer rows shuffled across columns: ROC AUC 0.91-0.93 against 0.76 with
        ``"euclidean"``); blind to rows that are only rescaled.
    n_neighbors : int >= 1, default=20
        k of ``method="knn"`` and ``"lof"`` (capped at ``n_samples - 1``); unused by
        GLOSH, whose density is ``min_samples``.
    random_state : int, RandomState instance or None, default=None
        Seed of ``method="isolation"``'s forest; unused by the other methods, which are
        deterministic (``"ensemble"`` included).
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where to run; see :func:`sklearn_curate.utils._device.resolve_device` (step
        ``"hdbscan"``, or ``"knn"`` for ``algorithm="knn_graph"`` and ``method="knn"``).
        ``"lof"`` and ``"isolation"`` run on the CPU, and so do the ensemble's LOF and
        ECOD (its tree and k-NN search follow ``device``).
    n_jobs : int, default=None
        Processes for hdbscan's core distances (``core_dist_n_jobs``), and threads of
        the neighbour search when it runs on a k-d tree
        (:func:`~sklearn_curate.utils.neighbors.kneighbors`, for ``"knn_graph"`` and
        ``score_samples``); ``None`` means 1 unless in a :func:`joblib.parallel_config`
        context, -1 means all cores.
    neighbors : {"auto", "exact", "approximate"}, default="auto"
        The k-nearest-neighbour search of ``method="knn"``, of the ensemble's k-NN
        member and of the first k-NN graph of ``algorithm="knn_graph"``
        (:func:`~sklearn_curate.utils.neighbors.kneighbors`): ``"auto"`` is exact
        below ``APPROXIMATE_MIN_SAMPLES`` (100,000) samples and on CUDA,
        approximate (an inverted file searched cell by cell, tuned to recall@k
        0.995 on probe rows, the rows its bound cannot certify searched again
        exactly) above it unless the probe finds it no cheaper. Approximate
        k-NN distances are exact distances of possibly farther rows, so a k-th
        distance can only grow. For GLOSH the tree's repair searches stay exact,
        but a missed neighbour can raise a core distance and let the tree take a
        slightly heavier edge (measured: docs/benchmarks.md, "Approximate
        neighbours (issue 13, part 1)"). hdbscan's Boruvka trees (3 to 8
        features on the CPU), LOF, isolation, and ``score_samples`` stay exact.
        Approximate searches are seeded (by ``random_state`` when it is an int, else
        0), so fits are reproducible (the inverted file on any number of threads).

    Attributes
    ----------
    scores_ : ndarray of shape (n_samples,)
        ``-outlier_scores_`` (GLOSH: in [-1, 0]); higher = more typical, the lowest
        are dropped.
    outlier_scores_ : ndarray of shape (n_samples,)
        Higher = more outlying: GLOSH scores in [0, 1]; for ``"knn"`` the k-th
        neighbour distance; for ``"lof"`` the local outlier factor (about 1 inside
        clusters); for ``"isolation"`` the forest's anomaly score in (0, 1]; for
        ``"ensemble"`` the mean of ``ensemble_z_``'s columns.
    support_ : ndarray of bool, shape (n_samples,)
        True for kept rows.
    sample_indices_ : ndarray of shape (n_kept,)
        Indices of the kept rows.
    n_removed_ : int
        Number of dropped rows, ``round(contamination * n_samples)``.
    n_tied_at_cutoff_ : int
        Number of rows whose score is tied (within :data:`GLOSH_TIE_ATOL`) with the
        highest dropped score when some of them were kept, i.e. the cut-off falls
        inside a group of tied scores and a :class:`~sklearn_curate.base.TiedScoresWarning`
        was issued; 0 when every dropped row scores below every kept row.
    min_samples_ : int
        The ``min_samples`` used: ``min(min_samples, n_samples - 1)``.
    offset_ : float
        Threshold on ``score_samples``: midway between the highest dropped and the
        lowest kept ``scores_`` (when nothing is dropped: -1.0 for GLOSH, just below
        the lowest ``scores_`` for the other methods).
        ``decision_function = score_samples - offset_``.
    condensed_tree_ : structured ndarray of shape (n_rows,)
        HDBSCAN's condensed tree (fields as :data:`TREE_DTYPE`); ``method="glosh"`` and
        ``"ensemble"`` only.
    min_cluster_size_ : int
        The minimum cluster size used.
    device_ : {"cpu", "cuda"}
        Where the scores were computed.
    backend_ : str
        Who computed them: ``"knn_graph"``, ``"hdbscan"`` or ``"cuml"`` for GLOSH; the
        k-NN search's backend for ``"knn"``; ``"sklearn"`` for ``"lof"`` and
        ``"isolation"``.
    algorithm_ : str or None
        The tree's algorithm (``"auto"`` resolved); None for ``"knn"``, ``"lof"`` and
        ``"isolation"``.
    n_neighbors_ : int
        The k used by ``"knn"`` and ``"lof"`` (and the ensemble's LOF); only with those
        methods.
    estimator_ : LocalOutlierFactor or IsolationForest
        The fitted scikit-learn detector; only with ``"lof"`` and ``"isolation"``, and
        with ``"ensemble"`` (its cosine LOF) above 3 features.
    ensemble_members_ : tuple of str
        ``method="ensemble"`` only: the members, in the columns' order: ``"glosh"``,
        ``"knn"``, ``"cosine_lof"`` (above 3 features) and ``"ecod"``.
    ensemble_z_ : ndarray of shape (n_samples, n_members)
        ``method="ensemble"`` only: each member's robust z-score of every row.
    n_features_in_ : int
        Number of features seen in ``fit``.

    See Also
    --------
    glosh_from_condensed_tree : GLOSH scores of any HDBSCAN condensed tree.
    sklearn.ensemble.IsolationForest : a tree-ensemble outlier detector.
    hdbscan.HDBSCAN : the clustering whose ``outlier_scores_`` these are.

    Notes
    -----
    **Why min_cluster_size follows contamination.** GLOSH scores a sample against the
    cluster it leaves. Plain HDBSCAN settings (``min_cluster_size`` 5 or 15) let a group
    of outliers that resemble each other, such as 95 foreign images among 1,797 digits,
    form a cluster of their own; its members are then typical of it and score low, and
    the filter finds fewer outliers than targeted (ROC AUC 0.71 and 0.49 on that set).
    With ``min_cluster_size`` one more than the number of rows to drop, no group that
    could be dropped whole counts as a cluster: it splits off its parent as loose
    samples at the density where it separates, which is far below the parent's core
    density, so all its members score high. Scattered outliers (rotated or inverted
    digits) score high either way. Genuine clusters larger than the drop budget keep
    their own density as reference, so a sparse but large cluster is not dropped (a
    single global density threshold, ``min_cluster_size`` > half the data, would drop
    it). On the digits sets of the tests this gives ROC AUC >= 0.998 and precision of
    the dropped rows >= 0.97 (foreign images) and 1.00 (rotated / inverted digits).

    A consequence: a genuine class smaller than ``round(contamination * n) + 1`` rows is
    treated as a group of outliers; pass an explicit ``min_cluster_size`` to protect it.

    **Why the ensemble works.** Each member sees one kind of fault that the others
    miss. GLOSH scores a row against the cluster it leaves, so a group of similar
    outliers smaller than the drop budget (photo crops among digits) scores high, where
    every neighbour distance calls its members typical of each other; but with clusters
    no larger than the budget (20 blobs of 150 rows at 5%) they dissolve and GLOSH ranks
    poorly. The mean distance to the 10 nearest (Ramaswamy et al. 2000) is then the
    reliable density score. LOF on unit-length rows (Breunig et al. 2000, on cosine
    distance as cleanlab's Datalab uses above 3 features) sees rows whose pattern is
    wrong but whose size is not (standardised rows shuffled across columns, letters
    among digits), to which Euclidean scores are nearly blind. ECOD (Li et al. 2022), a
    sum over features of the empirical tail probabilities, sees rows whose size is
    wrong (rows multiplied by 3), to which the cosine score is blind. The scores have
    unrelated scales, so each is standardised robustly, ``(s - median) / (1.4826 *
    MAD)``, on the training rows, where the outliers barely move median and MAD, and the
    z-scores are averaged (Aggarwal & Sathe 2015, z-score normalisation and averaging
    as the variance-reducing combination): a fault seen by one member adds its large
    z-score, while a member's noise on inliers is diluted. The maximum of the z-scores
    was tried and dropped: it also takes the worst noise of every member (GLOSH, the
    5th-neighbour distance and cosine LOF: mean 0.975, 9 cases missed). Averaging cannot serve the two blind spots at once: where the
    cosine member is blind (rows scaled in raw units) and where the Euclidean members
    are (shuffled standardised rows) the ensemble trails the single best peer
    (IsolationForest, cleanlab) by 0.02-0.03. ``score_samples`` scores new rows by each
    member against the training rows and standardises them with the training
    medians and MADs. Cost: the GLOSH tree plus two exact neighbour searches and a sort
    of every feature.

    **Exact duplicates.** ``min_cluster_size_`` or more identical rows form a cluster of
    infinite density (distance 0), for which hdbscan's ``outlier_scores_`` are NaN. They
    score 0 here and the rest of their cluster is compared with its densest finite level
    (see :func:`glosh_from_condensed_tree`); drop duplicates first
    (:class:`sklearn_curate.curation.similarity.SimilarityFilter`) if they should not count.

    **New data.** ``score_samples(X)`` places each new sample at its nearest
    mutual-reachability neighbour's cluster, as ``hdbscan.prediction.
    approximate_predict_scores`` does; a row identical to a training row gets that
    row's ``scores_``. ``fit_predict`` drops exactly ``round(contamination * n)`` rows;
    ``predict`` thresholds at ``offset_``, so training rows tied with the threshold may
    differ between the two.

    **Ties at the cut-off.** Rows that leave a cluster at the same density share one
    GLOSH score (all rows of a set of identical rows score 0; on the raw digits pixels
    with ``contamination=0.1``, more than 150 rows share the score at the cut-off,
    a cluster as large as the drop budget dissolving at one density). Exactly
    ``round(contamination * n)`` rows are still dropped, the lower row index first
    among tied scores, but that pick is row order, not a finding: ``fit`` then warns
    with :class:`~sklearn_curate.base.TiedScoresWarning` and records the size of the
    tied group in ``n_tied_at_cutoff_``. Scores within :data:`GLOSH_TIE_ATOL` (1e-6)
    count as tied: the CPU trees use float64 distances, but on CUDA (cuML) and in
    ``score_samples`` they are float32, and scores that are equal in exact arithmetic
    then differ by up to a few 1e-7.

    **Few samples.** A core distance needs ``min_samples`` other samples. With
    ``n_samples <= min_samples`` the filter uses ``min_samples_ = n_samples - 1``
    (and warns), so 2 or 3 rows fit with the defaults; with ``min_cluster_size``
    capped at ``n_samples`` they form one cluster and all score 0, and a
    contamination that rounds to 0 rows drops nothing. One row is refused.

    **Cost.** ``"knn_graph"``: an exact k-NN search, ``O(n^2 d)`` operations and
    ``O(n k)`` memory, then Boruvka rounds of ``O(n k)`` plus the repair searches of
    the components that cannot be certified from the lists, at most one search of
    every sample but the largest component's against the rest per round (in practice
    a few rounds, once the components are whole clusters); ``"boruvka_kdtree"``:
    about ``O(n log n)`` for few features, growing steeply with the dimension.
    Throughput against hdbscan (default and exact Boruvka), fast_hdbscan and
    scikit-learn's IsolationForest is in ``benchmarks/bench_outliers.py``.

    References
    ----------
    .. [1] R. J. G. B. Campello, D. Moulavi, A. Zimek, J. Sander. "Hierarchical density
       estimates for data clustering, visualization, and outlier detection". ACM TKDD
       10(1), 2015 (GLOSH).
    .. [2] L. McInnes, J. Healy, S. Astels. "hdbscan: Hierarchical density based
       clustering". JOSS 2(11), 2017. https://github.com/scikit-learn-contrib/hdbscan
    .. [3] L. McInnes, J. Healy. "Accelerated hierarchical density based clustering".
       ICDMW 2017 (Boruvka on kd-trees).
    .. [4] S. Ramaswamy, R. Rastogi, K. Shim. "Efficient algorithms for mining outliers
       from large data sets". SIGMOD 2000 (k-NN distance).
    .. [5] M. M. Breunig, H.-P. Kriegel, R. T. Ng, J. Sander. "LOF: identifying
       density-based local outliers". SIGMOD 2000.
    .. [6] F. T. Liu, K. M. Ting, Z.-H. Zhou. "Isolation forest". ICDM 2008.
    .. [7] Z. Li, Y. Zhao, X. Hu, N. Botta, C. Ionescu, G. H. Chen. "ECOD: unsupervised
       outlier detection using empirical cumulative distribution functions". IEEE TKDE
       35(12), 2023 (online 2022).
    .. [8] C. C. Aggarwal, S. Sathe. "Theoretical foundations and algorithms for
       outlier ensembles". ACM SIGKDD Explorations 17(1), 2015.

    Examples
    --------
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_curate.datasets import make_faulty_digits
    >>> from sklearn_curate.curation.outliers import OutlierFilter
    >>> data = make_faulty_digits("foreign", rate=0.05)
    >>> X = StandardScaler().fit_transform(data.data)
    >>> X_kept, y_kept = OutlierFilter(contamination=0.05).fit_resample(X, data.target)
    >>> X.shape, X_kept.shape
    ((1892, 64), (1797, 64))
    >>> int((y_kept == -1).sum())  # foreign images left of 95
    2
    """

    _fraction_param = "contamination"
    _tie_atol = GLOSH_TIE_ATOL
    _fit_inputs = ("knn_graph",)
    # With metadata routing on, a Pipeline hands ``knn_graph`` to this step (requested by
    # default, as imbalanced-learn reads no set_fit_resample_request); without it,
    # imbalanced-learn's Pipeline passes no parameters to a sampler step at all.
    __metadata_request__fit = {"knn_graph": True}
    __metadata_request__fit_resample = {"knn_graph": True}

    _parameter_constraints: dict = {
        "contamination": [Interval(Real, 0, 1, closed="left")],
        "method": [StrOptions({"glosh", "knn", "lof", "isolation", "ensemble"})],
        "min_cluster_size": [
            StrOptions({"auto"}),
            Interval(Integral, 2, None, closed="left"),
            Interval(Real, 0, 1, closed="neither"),
        ],
        "min_samples": [Interval(Integral, 1, None, closed="left")],
        "algorithm": [StrOptions({"auto", "knn_graph", "boruvka_kdtree", "boruvka_balltree"})],
        "metric": [StrOptions({"euclidean", "cosine"})],
        "n_neighbors": [Interval(Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "device": [StrOptions({"auto", "cpu", "cuda"})],
        "n_jobs": [Integral, None],
        "neighbors": [StrOptions({"auto", "exact", "approximate"})],
    }

    def __init__(
        self,
        contamination=0.05,
        *,
        method="glosh",
        min_cluster_size="auto",
        min_samples=3,
        algorithm="auto",
        metric="euclidean",
        n_neighbors=20,
        random_state=None,
        device="auto",
        n_jobs=None,
        neighbors="auto",
    ):
        self.contamination = contamination
        self.method = method
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.algorithm = algorithm
        self.metric = metric
        self.n_neighbors = n_neighbors
        self.random_state = random_state
        self.device = device
        self.n_jobs = n_jobs
        self.neighbors = neighbors

    def _knn_seed(self):
        """Seed of an approximate k-NN search: ``random_state`` where it is an int, else 0.

        Always a seed, so that a fit is reproducible (k-means cells and probe rows of the
        inverted file; with the graph backends, a build on one thread).
        """
        return int(self.random_state) if isinstance(self.random_state, Integral) else 0

    def _resolve_min_cluster_size(self, n):
        mcs = self.min_cluster_size
        if mcs == "auto":
            mcs = max(5, int(round(self.contamination * n)) + 1)
        elif isinstance(mcs, Real) and not isinstance(mcs, Integral):
            mcs = max(2, int(round(mcs * n)))
        elif mcs > n:
            raise ValueError(
                f"min_cluster_size={mcs} exceeds the {n} samples in X; lower "
                f"min_cluster_size to at most {n}, use min_cluster_size='auto', or pass "
                "more samples."
            )
        return int(min(mcs, n))

    def _resolve_min_samples(self, n):
        """``min(min_samples, n - 1)``, with a warning when it is lowered."""
        if n < 2:
            raise ValueError(
                f"OutlierFilter needs at least 2 samples (a core distance is the distance "
                f"to another sample); X has {n} sample. Pass more samples."
            )
        if n <= self.min_samples:
            warnings.warn(
                f"OutlierFilter: X has {n} samples, not more than min_samples="
                f"{self.min_samples}; using min_samples_={n - 1} (every other sample) "
                "for the core distances. Pass more samples or a lower min_samples to "
                "silence this.",
                UserWarning,
                stacklevel=caller_stacklevel(),
            )
            return n - 1
        return int(self.min_samples)

    def _rows(self, X):
        """``X`` as the tree sees it: rows scaled to unit length for ``metric="cosine"``."""
        return self._unit(X) if self.metric == "cosine" else X

    @staticmethod
    def _unit(X):
        """Rows scaled to unit length (a zero row stays at the origin)."""
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        return X / np.where(norms > 0, norms, 1.0)

    def _fit_other(self, X, knn=None):
        """Outlier scores of ``method`` "knn", "lof" or "isolation" (higher = more outlying)."""
        n = X.shape[0]
        self.algorithm_ = None
        if self.method == "knn":
            choice = resolve_device(self.device, "knn", n)
            self.device_ = choice.device
            self.n_neighbors_ = min(self.n_neighbors, n - 1)
            if knn is not None:
                self.backend_ = "precomputed"
                return knn[0][:, self.n_neighbors_ - 1]
            dist, _, self.backend_ = kneighbors(
                X,
                self.n_neighbors_,
                device=self.device_,
                n_jobs=self.n_jobs,
                return_backend=True,
                neighbors=self.neighbors,
                random_state=self._knn_seed(),
            )
            return dist[:, -1]
        if self.device == "cuda":
            raise ValueError(
                f"method={self.method!r} runs on the CPU (scikit-learn); use device='cpu' "
                "or 'auto', or method='glosh' or 'knn' on CUDA."
            )
        self.device_, self.backend_ = "cpu", "sklearn"
        if self.method == "lof":
            from sklearn.neighbors import LocalOutlierFactor

            self.n_neighbors_ = min(self.n_neighbors, n - 1)
            self.estimator_ = LocalOutlierFactor(
                n_neighbors=self.n_neighbors_, novelty=True, n_jobs=self.n_jobs
            ).fit(X)
            return -self.estimator_.negative_outlier_factor_
        from sklearn.ensemble import IsolationForest

        self.estimator_ = IsolationForest(random_state=self.random_state, n_jobs=self.n_jobs)
        return -self.estimator_.fit(X).score_samples(X)

    def _fit_scores(self, X, y, knn_graph=None):
        X = self._rows(X)
        n = X.shape[0]
        self.min_samples_ = self._resolve_min_samples(n)
        self.min_cluster_size_ = self._resolve_min_cluster_size(n)
        knn = None if knn_graph is None else self._read_graph(knn_graph, X)
        if self.method == "ensemble":
            self.outlier_scores_ = self._fit_ensemble(X, knn)
            return -self.outlier_scores_
        if self.method != "glosh":
            self._fit_X = X
            self.outlier_scores_ = self._fit_other(X, knn)
            return -self.outlier_scores_
        self.outlier_scores_ = self._fit_glosh(X, knn)
        return -self.outlier_scores_

    def _graph_k(self, n, min_samples):
        """Neighbours per row that ``method`` reads from a ``knn_graph``."""
        if self.method == "knn":
            return min(self.n_neighbors, n - 1)
        k = graph_neighbors(n, min_samples)
        return max(k, min(_ENSEMBLE_KNN_K, n - 1)) if self.method == "ensemble" else k

    def _graph_neighbors(self, n_samples, n_features):
        """Neighbours per row of a graph that a fit on ``(n_samples, n_features)`` takes as is.

        For callers that build the graph elsewhere (the main job's ``--scheduler``):
        None where ``fit`` takes no graph (``"lof"``, ``"isolation"``, hdbscan's
        trees) or where one would change the tree ``algorithm="auto"`` builds
        (hdbscan's kd-tree at 3 to 8 features, cuML on CUDA).
        """
        if self.method in ("lof", "isolation") or n_samples < 2:
            return None
        if self.method != "knn":
            if self.algorithm.startswith("boruvka"):
                return None
            if self.algorithm == "auto" and (
                resolve_device(self.device, "hdbscan", n_samples).device != "cpu"
                or 3 <= n_features <= _KDTREE_MAX_FEATURES
            ):
                return None
        return self._graph_k(n_samples, min(self.min_samples, n_samples - 1))

    def _read_graph(self, knn_graph, X):
        """Read the first k-NN lists from ``knn_graph``, as long as ``method`` needs them."""
        n = X.shape[0]
        if self.method in ("lof", "isolation"):
            raise ValueError(
                f"knn_graph is used by method 'glosh', 'knn' and 'ensemble'; "
                f"method={self.method!r} fits scikit-learn's detector on X. Fit without "
                "knn_graph, or choose one of those methods."
            )
        if self.method != "knn" and self.algorithm.startswith("boruvka"):
            raise ValueError(
                f"knn_graph feeds the tree of algorithm='knn_graph' (and 'auto', which then "
                f"builds that tree); algorithm={self.algorithm!r} is hdbscan's and searches X "
                "itself. Use algorithm='auto' or 'knn_graph', or fit without knn_graph."
            )
        k = self._graph_k(n, self.min_samples_)
        if self.metric == "cosine":
            return knn_lists(
                knn_graph,
                n,
                k,
                X=X,
                build="kneighbors_graph(sklearn.preprocessing.normalize(X), n_neighbors={k}, "
                'mode="distance")',
                what="Euclidean distances between the rows scaled to unit length (the chord "
                "sqrt(2 * (1 - cos)), which metric='cosine' uses)",
            )
        return knn_lists(knn_graph, n, k, X=X)

    def _fit_ensemble(self, X, knn=None):
        """Mean robust z-score of GLOSH, k-NN distance, cosine LOF and ECOD (see Notes)."""
        from sklearn.neighbors import LocalOutlierFactor

        n, d = X.shape
        members = {"glosh": _glosh_to_evidence(self._fit_glosh(X, knn))}
        self._ensemble_knn_k = min(_ENSEMBLE_KNN_K, n - 1)
        if knn is not None:
            dist = knn[0][:, : self._ensemble_knn_k]
        else:
            dist, _ = kneighbors(
                X,
                self._ensemble_knn_k,
                device=self.device_,
                n_jobs=self.n_jobs,
                neighbors=self.neighbors,
                random_state=self._knn_seed(),
            )
        members["knn"] = dist.astype(np.float64).mean(axis=1)
        self.n_neighbors_ = min(self.n_neighbors, n - 1)
        if d > _ENSEMBLE_COSINE_MIN_FEATURES:
            self.estimator_ = LocalOutlierFactor(
                n_neighbors=self.n_neighbors_, novelty=True, n_jobs=self.n_jobs
            ).fit(self._unit(X))
            members["cosine_lof"] = -self.estimator_.negative_outlier_factor_
        self._ecod = _ECOD().fit(X)
        members["ecod"] = self._ecod.score(X)
        self.ensemble_members_ = tuple(members)
        self._z_params = [_robust_z_params(v) for v in members.values()]
        self.ensemble_z_ = np.column_stack(
            [
                (v - med) / scale
                for v, (med, scale) in zip(members.values(), self._z_params, strict=True)
            ]
        )
        return self.ensemble_z_.mean(axis=1)

    def _new_rows_neighbours(self, X, k, device):
        """Distances of new rows to their ``k + 1`` nearest training rows.

        Returns the distances, shape ``(m, min(k + 1, n_train))``, and a mask of the
        rows that found a training row at distance 0 first: a training row passed
        again finds itself, and its neighbours are the ones after it.
        """
        dist, _ = kneighbors(
            self._fit_X,
            min(k + 1, self._fit_X.shape[0]),
            query=X,
            device=device,
            n_jobs=self.n_jobs,
        )
        return dist, (dist[:, 0] == 0.0) & (dist.shape[1] > k)

    def _ensemble_z(self, X, device):
        """Z-score new samples by each member, one column each (see ``score_samples``)."""
        members = {"glosh": _glosh_to_evidence(-self._glosh_samples(X, device))}
        k = self._ensemble_knn_k
        dist, itself = self._new_rows_neighbours(X, k, device)
        dist = dist.astype(np.float64)
        members["knn"] = np.where(itself, dist[:, 1:].mean(axis=1), dist[:, :k].mean(axis=1))
        if "cosine_lof" in self.ensemble_members_:
            members["cosine_lof"] = -self.estimator_.score_samples(self._unit(X))
        members["ecod"] = self._ecod.score(X)
        return np.column_stack(
            [
                (members[m] - med) / scale
                for m, (med, scale) in zip(self.ensemble_members_, self._z_params, strict=True)
            ]
        )

    def _fit_glosh(self, X, knn=None):
        """GLOSH of every row on HDBSCAN's tree (sets the tree's attributes)."""
        n = X.shape[0]
        algorithm = self.algorithm
        if knn is not None:  # a precomputed graph feeds the k-NN-graph tree
            algorithm = "knn_graph"
        if algorithm == "knn_graph":
            choice = resolve_device(self.device, "knn", n)
        elif algorithm == "auto":
            choice = resolve_device(self.device, "hdbscan", n)
            if choice.device == "cpu":
                d = X.shape[1]
                algorithm = "boruvka_kdtree" if 3 <= d <= _KDTREE_MAX_FEATURES else "knn_graph"
        elif self.device == "cuda":
            raise ValueError(
                f"algorithm={algorithm!r} runs on the CPU (hdbscan); use algorithm='auto' "
                "for cuML on CUDA, algorithm='knn_graph', or device='cpu'."
            )
        else:
            choice = resolve_device("cpu", "hdbscan", n)
        self.device_ = choice.device

        if algorithm == "knn_graph":
            self.backend_ = "knn_graph"
            tree = _tree_knn_graph(
                X,
                self.min_cluster_size_,
                self.min_samples_,
                self.device_,
                self.n_jobs,
                neighbors=self.neighbors,
                random_state=self._knn_seed(),
                knn=knn,
            )
        elif self.device_ == "cuda":  # pragma: no cover - needs a GPU
            self.backend_, algorithm = "cuml", "cuml"
            tree = _tree_cuml(X, self.min_cluster_size_, self.min_samples_)
        else:
            self.backend_ = "hdbscan"
            tree = _tree_hdbscan(
                X, self.min_cluster_size_, self.min_samples_, algorithm, self.n_jobs
            )
        self.algorithm_ = algorithm
        self.condensed_tree_ = tree

        glosh, self._leaf, self._lambda_max, self._root = _glosh_parts(tree)
        self._fit_X, self._fit_glosh_scores = X, glosh
        return glosh

    def fit(self, X, y=None, *, knn_graph=None, **params):
        """Score every training sample by GLOSH and choose the rows to keep.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data; must be finite. NumPy, pandas, CuPy or torch.
        y : array-like of shape (n_samples,), default=None
            Ignored; accepted so the filter is a Pipeline step.
        knn_graph : scipy sparse matrix of shape (n_samples, n_samples), optional
            A precomputed k-nearest-neighbour graph of distances, as
            ``sklearn.neighbors.kneighbors_graph(X, n_neighbors=K, mode="distance")``
            or ``KNeighborsTransformer(n_neighbors=K, mode="distance")`` writes it
            (entries on the diagonal, the row itself, are ignored; stored zeros
            are neighbours at distance 0), or
            :func:`~sklearn_curate.utils.kneighbors_graph_on_dask` on a cluster. It
            replaces the first k-NN search: each row's first k stored neighbours by
            (distance, index) are used, k = ``n_neighbors`` for ``method="knn"``,
            ``max(16, min_samples)`` for GLOSH's tree, ``max(16, min_samples, 10)``
            for ``"ensemble"`` (each capped at ``n_samples - 1``); more are allowed.
            The graph must hold each row's true nearest neighbours for the results
            of the internal exact search. GLOSH's tree still searches ``X`` for its
            repairs (``X`` and the graph must be on this machine) and recomputes
            the distances of the listed pairs from ``X``; ``method="knn"`` scores
            are the graph's distances; the ensemble's LOF and ECOD use ``X``;
            ``score_samples`` searches the training rows. With
            ``algorithm="auto"`` a graph selects the ``"knn_graph"`` tree. With
            ``metric="cosine"`` the distances must be Euclidean distances between
            the rows scaled to unit length (``kneighbors_graph(normalize(X), K,
            mode="distance")``), not ``1 - cos``. Passed whole by
            :meth:`fit_resample` (never cut to the kept rows).
        **params : dict
            Ignored; cut per-sample arrays to the kept rows with
            :meth:`resample_params`.

        Returns
        -------
        self : OutlierFilter
            With ``scores_``, ``outlier_scores_``, ``support_``, ``sample_indices_``,
            ``n_tied_at_cutoff_``, ``min_samples_`` and ``offset_``.

        Raises
        ------
        ValueError
            If ``contamination`` is outside [0, 1) or another parameter is out of range;
            if ``X`` contains NaN or inf; if ``X`` has fewer than 2 samples or fewer
            than an explicit int ``min_cluster_size``; if ``knn_graph`` is not a
            sparse ``(n_samples, n_samples)`` matrix of finite non-negative
            distances of ``X`` (checked on 64 rows), has a row with fewer than the
            k neighbours needed (the message names the worst row and how to build
            a graph with enough), or is passed with ``method`` "lof" or
            "isolation" or a ``"boruvka_*"`` algorithm, which do not use it.
        RuntimeError, ImportError
            If ``device="cuda"`` and there is no GPU or no cuML.

        Warns
        -----
        UserWarning
            If ``X`` has no more samples than ``min_samples``: ``min_samples_`` is
            then ``n_samples - 1``.
        TiedScoresWarning
            If the cut-off falls inside a group of tied scores (within
            :data:`GLOSH_TIE_ATOL`): the pick among them is by row order.
        """
        super().fit(X, y, knn_graph=knn_graph, **params)
        kept, dropped = self.scores_[self.support_], self.scores_[~self.support_]
        if dropped.size and kept.size:
            self.offset_ = float((dropped.max() + kept.min()) / 2.0)
        elif self.method == "glosh":
            self.offset_ = -1.0
        else:
            self.offset_ = float(np.nextafter(self.scores_.min(), -np.inf))
        return self

    def fit_predict(self, X, y=None, *, knn_graph=None, **params):
        """Fit and label the training rows: -1 for dropped, +1 for kept.

        Exactly ``round(contamination * n_samples)`` rows get -1, matching ``support_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : Ignored
        knn_graph : scipy sparse matrix of shape (n_samples, n_samples), optional
            A precomputed k-NN graph of ``X``, as in :meth:`fit`.
        **params : dict
            Ignored.

        Returns
        -------
        labels : ndarray of shape (n_samples,), int
        """
        return np.where(self.fit(X, y, knn_graph=knn_graph, **params).support_, 1, -1)

    def _train_core_distances(self, rows, device):
        """Core distances of training rows (the min_samples-th other training sample)."""
        k = self.min_samples_ + 1  # the row itself is among its neighbours, at distance 0
        dist, _ = kneighbors(
            self._fit_X, k, query=self._fit_X[rows], device=device, n_jobs=self.n_jobs
        )
        return dist[:, -1]

    def score_samples(self, X):
        """Opposite of the outlier score of new samples against the fitted data.

        GLOSH: each sample joins the cluster of its nearest mutual-reachability
        neighbour among its ``2 * min_samples_`` nearest training samples, at the
        density of that link (``hdbscan.prediction.approximate_predict_scores``); its
        score is ``-(1 - lambda / lambda_max(cluster))``, clipped to [-1, 0]. A row
        identical to a training row gets that row's ``scores_``. ``"knn"``: minus the
        distance to the ``n_neighbors_``-th nearest training sample (a training row
        skips itself, so it scores as in ``fit``). ``"lof"``, ``"isolation"``: the
        scikit-learn detector's ``score_samples`` (for LOF on training rows this is
        not ``-negative_outlier_factor_``: scikit-learn counts the query among its
        own neighbours there). ``"ensemble"``: minus the mean of each member's score of
        the new samples (GLOSH and the k-NN distance as above, LOF as scikit-learn's,
        ECOD against the training columns, a value beyond every training value counting
        as the most extreme one), standardised with the training medians and MADs.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            New samples; must be finite.

        Returns
        -------
        scores : ndarray of shape (n_queries,)
            In [-1, 0]; higher = more typical (the convention of ``scores_``).

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Before ``fit``.
        ValueError
            If ``X`` has NaN / inf or another number of features than in ``fit``.

        Warns
        -----
        UserWarning
            If the filter was fitted on CUDA and no CUDA device is available here
            (e.g. unpickled on another machine): the search runs on the CPU.
        """
        check_is_fitted(self, "outlier_scores_")
        X, _ = self._validate_X(X, reset=False)
        X = self._rows(X)
        if self.method in ("lof", "isolation"):
            return self.estimator_.score_samples(X)
        # where it was fitted; on the CPU, with a warning, when that GPU is gone
        device = resolve_device(self.device_, "knn", fitted=True).device
        if self.method == "ensemble":
            return -self._ensemble_z(X, device).mean(axis=1)
        if self.method == "knn":
            k = self.n_neighbors_
            dist, itself = self._new_rows_neighbours(X, k, device)
            return -np.where(itself, dist[:, -1], dist[:, k - 1])
        return self._glosh_samples(X, device)

    def _glosh_samples(self, X, device):
        """Minus the GLOSH of new samples on the fitted tree (see ``score_samples``)."""
        ms = self.min_samples_
        k = min(2 * ms, self._fit_X.shape[0])
        dist, idx = kneighbors(self._fit_X, k, query=X, device=device, n_jobs=self.n_jobs)
        uniq, inv = np.unique(idx, return_inverse=True)
        core_nb = self._train_core_distances(uniq, device)[inv.reshape(idx.shape)]
        reach = np.maximum(np.maximum(dist, core_nb), dist[:, ms - 1 : ms])
        best = np.argmin(reach, axis=1)
        rows = np.arange(X.shape[0])
        with np.errstate(divide="ignore"):
            lam = 1.0 / reach[rows, best]
        leaf = self._leaf[idx[rows, best]]
        glosh = _glosh(lam, self._lambda_max[leaf - self._root])
        same = dist[:, 0] == 0.0
        glosh[same] = self._fit_glosh_scores[idx[same, 0]]
        return -glosh

    def decision_function(self, X):
        """``score_samples(X) - offset_``: negative for samples the filter would drop.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            New samples.

        Returns
        -------
        decision : ndarray of shape (n_queries,)
        """
        return self.score_samples(X) - self.offset_

    def predict(self, X):
        """-1 for samples scoring below the training threshold ``offset_``, else +1.

        Parameters
        ----------
        X : array-like of shape (n_queries, n_features)
            New samples.

        Returns
        -------
        labels : ndarray of shape (n_queries,), int
        """
        return np.where(self.decision_function(X) < 0, -1, 1)
