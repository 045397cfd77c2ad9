"""HDBSCAN's condensed cluster tree: build it from a k-NN graph, score it by GLOSH.

The machinery behind :class:`sklearn_curate.curation.outliers.OutlierFilter`, which picks the
backend. From an exact k-nearest-neighbour graph: its minimum spanning tree of mutual
reachability (:func:`_knn_graph_mst`), the single-linkage tree of that
(:func:`_single_linkage`) and HDBSCAN's condensed tree (:func:`_condense_tree`). For any
condensed tree, including hdbscan's and cuML's: GLOSH outlier scores
(:func:`glosh_from_condensed_tree`, re-exported by :mod:`sklearn_curate.curation.outliers`).
"""

from __future__ import annotations

from collections import deque

import numpy as np
from scipy.cluster.hierarchy import leaves_list

from ..utils._device import resolve_device, to_numpy
from ..utils.neighbors import _exact_sq, kneighbors

__all__ = ["TREE_DTYPE", "glosh_from_condensed_tree"]

#: Row layout of a condensed tree, as hdbscan's ``condensed_tree_.to_numpy()``.
TREE_DTYPE = np.dtype(
    [("parent", np.intp), ("child", np.intp), ("lambda_val", np.float64), ("child_size", np.intp)]
)
# Length of every sample's candidate list (the k-NN graph's degree, k = max(16, min_samples)).
_GRAPH_NEIGHBORS = 16
# Components of at most these many samples are searched together, one size class at a
# time, against all of X (their own members masked out of the answers); larger ones each
# against the rest of X.
_MASKED_SEARCH_SIZES = (64, 512)
# Answers per masked search call (rows x neighbours), bounding its memory.
_MASKED_SEARCH_ENTRIES = 1 << 21
# Repair searches use a k-d tree up to this many features, brute force above.
_TREE_REPAIR_FEATURES = 8


# -- GLOSH from a condensed tree -------------------------------------------------------
def _column(tree, name):
    """One field of a condensed-tree container as a NumPy array.

    Parameters
    ----------
    tree : structured ndarray, DataFrame (pandas or cuDF) or dict of arrays
        The condensed tree.
    name : str
        Field name, one of ``TREE_DTYPE.names``.

    Returns
    -------
    col : ndarray of shape (n_rows,)
        The field's values on the host.
    """
    col = tree[name]
    if hasattr(col, "to_numpy"):  # pandas / cuDF series
        col = col.to_numpy()
    return to_numpy(col)


def _as_tree(condensed_tree):
    """Any condensed-tree container as a structured array of :data:`TREE_DTYPE`.

    Parameters
    ----------
    condensed_tree : structured ndarray, DataFrame, dict of arrays, or tree object
        See :func:`glosh_from_condensed_tree`.

    Returns
    -------
    tree : structured ndarray of shape (n_rows,), dtype :data:`TREE_DTYPE`
        A copy with the four fields.

    Raises
    ------
    ValueError
        If a field is missing or the tree is empty.
    """
    tree = condensed_tree
    if hasattr(tree, "to_numpy") and not hasattr(tree, "columns"):  # hdbscan / cuML object
        tree = tree.to_numpy()
    try:
        cols = {name: _column(tree, name) for name in TREE_DTYPE.names}
    except (KeyError, ValueError, IndexError, TypeError) as exc:
        raise ValueError(
            "condensed_tree must have the fields parent, child, lambda_val and child_size "
            "(like hdbscan's condensed_tree_.to_numpy() or cuML's condensed_tree_); got "
            f"{type(condensed_tree).__name__}."
        ) from exc
    out = np.empty(cols["parent"].shape[0], dtype=TREE_DTYPE)
    if out.shape[0] == 0:
        raise ValueError("condensed_tree is empty; it must hold one row per sample.")
    for name, col in cols.items():
        out[name] = col
    return out


def _glosh_parts(condensed_tree):
    """GLOSH scores plus what scoring new samples needs.

    Parameters
    ----------
    condensed_tree : structured ndarray, DataFrame, dict of arrays, or tree object
        See :func:`glosh_from_condensed_tree`.

    Returns
    -------
    scores : ndarray of shape (n_samples,)
        GLOSH scores in [0, 1].
    leaf : ndarray of shape (n_samples,), int
        The cluster each sample leaves.
    lambda_max : ndarray of shape (n_clusters,)
        Per cluster id minus ``root``: the largest finite lambda in its subtree.
    root : int
        Id of the root cluster, equal to ``n_samples``.
    """
    tree = _as_tree(condensed_tree)
    parent, child, lam = tree["parent"], tree["child"], tree["lambda_val"]
    root = int(parent.min())  # samples are 0 .. root - 1, clusters root .. end
    lambda_max = np.zeros(int(max(parent.max(), child.max())) - root + 1)
    # infinite lambdas are exact duplicates (distance 0), not a density to compare with
    np.maximum.at(lambda_max, parent - root, np.where(np.isfinite(lam), lam, 0.0))
    kids = {}
    for r in np.flatnonzero(child >= root):
        kids.setdefault(int(parent[r]), []).append(r)
    order, queue = [], deque([root])
    while queue:  # parents before children, whatever the numbering
        for r in kids.get(queue.popleft(), ()):
            order.append(r)
            queue.append(int(child[r]))
    for r in reversed(order):  # fold subtree maxima upwards
        p, c = parent[r] - root, child[r] - root
        lambda_max[p] = max(lambda_max[p], lambda_max[c])

    rows = np.flatnonzero(child < root)
    leaf = np.full(root, root, dtype=np.intp)
    leaf[child[rows]] = parent[rows]
    scores = np.zeros(root)
    scores[child[rows]] = _glosh(lam[rows], lambda_max[parent[rows] - root])
    return scores, leaf, lambda_max, root


def _glosh(lam, lam_max):
    """GLOSH score ``1 - lam / lam_max`` (= ``1 - eps_max / eps``).

    Parameters
    ----------
    lam : ndarray of shape (n,)
        Density level (1 / distance) at which each sample leaves its cluster.
    lam_max : ndarray of shape (n,)
        Largest finite lambda of that cluster's subtree.

    Returns
    -------
    scores : ndarray of shape (n,)
        In [0, 1]; 0 where undefined (``lam_max == 0`` or ``lam`` infinite).
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        s = (lam_max - lam) / lam_max
    s = np.where((lam_max == 0) | ~np.isfinite(lam), 0.0, s)
    return np.clip(s, 0.0, 1.0)


def glosh_from_condensed_tree(condensed_tree):
    """GLOSH outlier scores from an HDBSCAN condensed tree.

    For sample ``i`` leaving cluster ``C`` at density level ``lambda_i = 1 / eps_i``,
    ``GLOSH_i = 1 - lambda_i / lambda_max(C)``, where ``lambda_max(C)`` is the largest
    finite lambda of any sample in ``C`` or its sub-clusters: 0 for the densest samples, towards
    1 for samples far sparser than their cluster's core. This is what hdbscan returns as
    ``outlier_scores_``; cuML's HDBSCAN has a condensed tree but no outlier scores.

    Parameters
    ----------
    condensed_tree : structured ndarray, DataFrame, dict of arrays, or tree object
        One row per edge of the condensed tree with the fields ``parent``, ``child``,
        ``lambda_val`` (1 / distance) and ``child_size``, as hdbscan's
        ``condensed_tree_.to_numpy()`` or cuML's ``condensed_tree_``. Objects with a
        ``to_numpy()`` method (hdbscan's and cuML's ``CondensedTree``) are accepted.
        Samples are numbered ``0 .. n_samples - 1`` and the root is ``n_samples``.

    Returns
    -------
    scores : ndarray of shape (n_samples,), float64
        GLOSH scores in [0, 1]; higher = more outlying.

    Raises
    ------
    ValueError
        If the tree lacks one of the fields or is empty.

    Notes
    -----
    Agrees with hdbscan's ``outlier_scores_`` to rounding, except where hdbscan returns
    NaN: when ``min_cluster_size`` or more identical rows form a (sub)cluster, their
    density is infinite (distance 0) and hdbscan divides by it. Here infinite lambdas
    are left out of ``lambda_max``, so the other members are compared with the densest
    finite level, and the identical rows themselves score 0. Cost: ``O(n_rows)``.

    References
    ----------
    .. [1] R. J. G. B. Campello, D. Moulavi, A. Zimek, J. Sander. "Hierarchical density
       estimates for data clustering, visualization, and outlier detection". ACM TKDD
       10(1), 2015.

    Examples
    --------
    >>> import hdbscan, numpy as np
    >>> X = np.random.RandomState(0).normal(size=(200, 2))
    >>> h = hdbscan.HDBSCAN(min_cluster_size=10).fit(X)
    >>> scores = glosh_from_condensed_tree(h.condensed_tree_.to_numpy())
    >>> bool(np.allclose(scores, h.outlier_scores_))
    True
    """
    return _glosh_parts(condensed_tree)[0]


# -- HDBSCAN's exact minimum spanning tree from k-nearest-neighbour lists ---------------
def _mutual_reachability(core, rows, idx, dist):
    """Mutual-reachability weights ``max(core[p], core[q], d(p, q))`` of list entries."""
    return np.maximum(np.maximum(core[rows, None], core[idx]), dist)


class _CandidateLists:
    """Each sample's nearest samples outside its component, with a certified horizon.

    Row ``p`` holds up to ``width`` samples (``idx``, ``dist``, in no order) and a horizon
    ``h[p]``: every sample outside the component ``p`` had when its list was last
    searched (a subset of its component now, as components only grow) that is closer
    than ``h[p]`` is in the list. So any edge from ``p`` that is not listed weighs at
    least ``max(core[p], h[p])``, the bound that certifies a listed edge as the
    cheapest one leaving a component (the cut property). Empty slots hold ``p``
    itself at distance ``inf``.
    """

    def __init__(self, dist, idx, core, h):
        n, self.width = idx.shape
        self.idx, self.dist, self.core, self.h = idx, dist, core, h
        self.w = _mutual_reachability(core, np.arange(n), idx, dist)

    def replace(self, rows, dist, idx, h):
        """Give ``rows`` new lists from a search (``dist``, ``idx``; inf where masked out).

        ``h`` is the search's horizon per row. A search longer than ``width`` keeps the
        ``width`` entries of least weight; the horizon then drops to the least weight
        left out, so it still bounds every unlisted edge.
        """
        w = _mutual_reachability(self.core, rows, idx, dist)
        if idx.shape[1] > self.width:
            keep = np.argpartition(w, self.width - 1, axis=1)
            left_out = np.take_along_axis(w, keep[:, self.width :], axis=1).min(axis=1)
            h = np.minimum(h, left_out)
            keep = keep[:, : self.width]
            idx, dist, w = (np.take_along_axis(a, keep, axis=1) for a in (idx, dist, w))
        m = idx.shape[1]
        self.idx[rows], self.dist[rows], self.w[rows] = rows[:, None], np.inf, np.inf
        self.idx[rows, :m], self.dist[rows, :m], self.w[rows, :m] = idx, dist, w
        self.h[rows] = h

    def cheapest_exits(self, labels):
        """Each component's cheapest listed exit and its certified lower bound.

        Returns, indexed by component label: ``best_w``, ``best_p``, ``best_q``, the
        cheapest listed edge to another component (``inf``, ``-1``, ``-1`` when none),
        and ``bound``, the least weight an unlisted exit of the component can have.
        """
        n = labels.size
        w = np.where(labels[self.idx] != labels[:, None], self.w, np.inf)
        j = np.argmin(w, axis=1)
        rows = np.arange(n)
        w_p, q_p = w[rows, j], self.idx[rows, j]
        bound = np.full(n, np.inf)
        np.minimum.at(bound, labels, np.maximum(self.core, self.h))
        best_w = np.full(n, np.inf)
        best_p = np.full(n, -1, dtype=np.intp)
        order = np.lexsort((w_p, labels))
        first = order[np.r_[True, labels[order][1:] != labels[order][:-1]]]
        best_w[labels[first]] = w_p[first]
        best_p[labels[first]] = first
        best_q = np.full(n, -1, dtype=np.intp)
        best_q[labels[first]] = q_p[first]
        return best_w, best_p, best_q, bound


def _distances64(X, rows, idx):
    """Float64 distances from each of ``rows`` to its listed samples ``idx[i]``.

    The searches run in float32 (distances good to about 1e-5 relative at 64 features);
    the tree's weights are recomputed from the difference vectors, summed in float64.
    """
    return np.sqrt(_exact_sq(X[rows], X, idx))


def _find_roots(parent):
    """Root of every node of a union-find forest (full path compression, in place)."""
    while True:
        up = parent[parent]
        if np.array_equal(up, parent):
            return parent
        parent[:] = up


def graph_neighbors(n_samples, min_samples):
    """Length of the first k-NN lists of :func:`_exact_mst`: ``max(16, min_samples)``, capped."""
    return min(n_samples - 1, max(_GRAPH_NEIGHBORS, min_samples))


def _exact_mst(
    X,
    min_samples,
    device,
    n_jobs=-1,
    return_stats=False,
    neighbors="exact",
    random_state=None,
    knn=None,
):
    """HDBSCAN's minimum spanning tree of mutual reachability, exact at any dimension.

    Boruvka's algorithm on candidate lists: every component takes its cheapest exit
    (the cut property makes it a tree edge) when a listed edge is certified cheapest,
    i.e. weighs no more than the bound ``max(core[p], h[p])`` that every unlisted edge
    of each member ``p`` respects (``h``: the list's horizon). The lists start as the
    exact k-nearest-neighbour graph (k = ``max(16, min_samples)``,
    :func:`~sklearn_curate.utils.neighbors.kneighbors`); where a component cannot be
    certified, the members whose bound is below its cheapest listed exit get new lists:
    their nearest samples outside the component, by an exact search against the rest
    of ``X`` (4x longer on each repeat; components of up to 512 samples share one
    search against all of ``X`` per size class, their own members masked out). The
    largest component is never searched (its exit is some other component's). The
    result has the total weight of the minimum spanning tree of the dense
    mutual-reachability graph (tested against scipy), as hdbscan's Boruvka with
    ``approx_min_span_tree=False``; the searches are matrix products, so unlike
    kd-tree Boruvka it stays fast with many features. Weights are float64 distances
    recomputed from the difference vectors; which samples a list holds comes from the
    float32 search, so a sample beyond a list's horizon by less than that search's
    rounding (about 1e-5 of the squared norms) counts as beyond it, and ties between
    equal weights may pick a different but equally minimal tree.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The samples, ``n_samples >= 2``.
    min_samples : int
        Neighbours that define a sample's core distance (the ``min_samples``-th nearest
        other sample, as hdbscan).
    device : {"cpu", "cuda"}
        Where the neighbour searches run.
    n_jobs : int or None, default=-1
        Threads of a k-d tree search (:func:`~sklearn_curate.utils.neighbors.kneighbors`).
    return_stats : bool, default=False
        Also return a dict of counts (rounds, rows searched), for the benchmarks.
    neighbors : {"exact", "approximate", "auto"}, default="exact"
        The first k-NN graph's search (:func:`~sklearn_curate.utils.neighbors.kneighbors`);
        the repair searches are always exact. An approximate graph breaks the
        certificate's premise (no unlisted sample is nearer than the list's horizon)
        where it missed a true neighbour: the core distance of that sample can be
        too large and an edge can be certified that a missed one undercuts, so the
        tree is a spanning tree of mutual reachability close to, not always equal to,
        the minimum one.
    random_state : int or None, default=None
        Seed of an approximate search (see :func:`~sklearn_curate.utils.neighbors.kneighbors`).
    knn : tuple of two ndarrays of shape (n_samples, k), optional
        The first k-NN lists (distances, indices; ``k = graph_neighbors(n_samples,
        min_samples)``), computed elsewhere, instead of the first search; the
        distances are recomputed from ``X``, only the indices are used. They must be
        each row's true nearest neighbours for the tree to be the exact one (as with
        ``neighbors``); the repair searches still run on ``X``.

    Returns
    -------
    edges : ndarray of shape (n_samples - 1, 3)
        Rows (i, j, mutual reachability distance).
    stats : dict
        Only with ``return_stats=True``.
    """
    n = X.shape[0]
    k = graph_neighbors(n, min_samples)
    if knn is None:
        dist, idx = kneighbors(
            X, k, device=device, n_jobs=n_jobs, neighbors=neighbors, random_state=random_state
        )
    else:
        idx = np.asarray(knn[1], dtype=np.int64)[:, :k]
    X = np.asarray(to_numpy(X), dtype=np.float64)
    dist = _distances64(X, np.arange(n), idx)
    order = np.argsort(dist, axis=1, kind="stable")
    dist, idx = np.take_along_axis(dist, order, 1), np.take_along_axis(idx, order, 1)
    h = np.full(n, np.inf) if k == n - 1 else dist[:, -1].copy()
    core = dist[:, min_samples - 1].copy()  # hdbscan's: the min_samples-th other sample
    lists = _CandidateLists(dist, idx, core, h)
    # A repair search asks for samples far from the query (outside its component),
    # where a k-d tree prunes little except in very few dimensions.
    backend = "kdtree" if X.shape[1] <= _TREE_REPAIR_FEATURES and device == "cpu" else "auto"
    if backend == "auto":
        backend = resolve_device(device, "knn", n).backend
    labels = np.arange(n)
    parent = np.arange(n)
    repeats = np.zeros(n, dtype=np.intp)  # searches of a row, for the growing list length
    found, n_comp = [], n
    stats = {"rounds": 0, "searches": 0, "rows_searched": 0}
    while n_comp > 1:
        stats["rounds"] += 1
        best_w, best_p, best_q, bound = lists.cheapest_exits(labels)
        roots = np.flatnonzero(labels == np.arange(n))  # one label per component
        certified = roots[np.isfinite(best_w[roots]) & (best_w[roots] <= bound[roots])]
        if certified.size:
            # join along the certified exits in weight order; a tie can offer the same
            # cut twice, so skip an edge whose ends are already joined
            for c in certified[np.argsort(best_w[certified], kind="stable")]:
                a, b = c, labels[best_q[c]]
                while parent[a] != a:
                    a = parent[a]
                while parent[b] != b:
                    b = parent[b]
                if a != b:
                    parent[max(a, b)] = min(a, b)
                    found.append((best_p[c], best_q[c], best_w[c]))
                    n_comp -= 1
            labels = _find_roots(parent)[labels]
            continue
        # nothing certified: new lists for the rows that hold their component back,
        # except in the largest component (its exit is another component's)
        sizes = np.bincount(labels, minlength=n)
        need = np.maximum(core, lists.h) < best_w[labels]
        need &= labels != np.argmax(sizes)
        rows = np.flatnonzero(need)
        stats["rows_searched"] += rows.size
        lower = 0
        for upper in _MASKED_SEARCH_SIZES:  # one search against all of X per size class,
            batch = rows[(sizes[labels[rows]] > lower) & (sizes[labels[rows]] <= upper)]
            lower = upper  # the own component masked out of the answers
            if not batch.size:
                continue
            m = min(n, int(sizes[labels[batch]].max()) + k * 4 ** int(repeats[batch].max()))
            step = max(1, _MASKED_SEARCH_ENTRIES // m)
            for start in range(0, batch.size, step):
                part = batch[start : start + step]
                _, j = kneighbors(
                    X, m, query=X[part], device=device, backend=backend, n_jobs=n_jobs
                )
                d = _distances64(X, part, j)
                h = np.full(part.size, np.inf) if m == n else d.max(axis=1)
                inside = labels[j] == labels[part, None]
                d[inside] = np.inf
                j[inside] = np.broadcast_to(part[:, None], j.shape)[inside]
                lists.replace(part, d, j, h)
                stats["searches"] += 1
            repeats[batch] += 1
        large = rows[sizes[labels[rows]] > _MASKED_SEARCH_SIZES[-1]]
        for c in np.unique(labels[large]):  # each against the rest of X
            members = large[labels[large] == c]
            others = np.flatnonzero(labels != c)
            m = min(others.size, k * 4 ** int(repeats[members].max()))
            d, j = kneighbors(
                X[others], m, query=X[members], device=device, backend=backend, n_jobs=n_jobs
            )
            d = _distances64(X, members, others[j])
            h = np.full(members.size, np.inf) if m == others.size else d.max(axis=1)
            lists.replace(members, d, others[j], h)
            repeats[members] += 1
            stats["searches"] += 1
    edges = np.array(found, dtype=np.float64).reshape(-1, 3)
    return (edges, stats) if return_stats else edges


def _single_linkage(edges, n):
    """Single-linkage tree of a minimum spanning tree, as a scipy linkage matrix.

    Parameters
    ----------
    edges : ndarray of shape (n - 1, 3)
        Spanning-tree rows (i, j, distance).
    n : int
        Number of samples.

    Returns
    -------
    Z : ndarray of shape (n - 1, 4)
        Rows (node a, node b, distance, size of the merged node); merged node
        ``n + i`` is row ``i``, as :func:`scipy.cluster.hierarchy.linkage`.
    """
    edges = edges[np.argsort(edges[:, 2], kind="stable")]
    top = np.arange(2 * n - 1)  # union-find over nodes; merged node n + i is row i
    size = np.ones(2 * n - 1, dtype=np.intp)
    Z = np.empty((n - 1, 4))
    ends = edges[:, :2].astype(np.intp)
    for i in range(n - 1):
        a, b = ends[i]
        while top[a] != a:
            top[a] = a = top[top[a]]
        while top[b] != b:
            top[b] = b = top[top[b]]
        top[a] = top[b] = n + i
        size[n + i] = size[a] + size[b]
        Z[i] = (a, b, edges[i, 2], size[n + i])
    return Z


def _condense_tree(Z, min_cluster_size):
    """HDBSCAN's condensed tree of a single-linkage tree (as hdbscan's condense_tree).

    Parameters
    ----------
    Z : ndarray of shape (n_samples - 1, 4)
        Linkage matrix from :func:`_single_linkage`.
    min_cluster_size : int
        Smallest group of samples that counts as a cluster.

    Returns
    -------
    tree : structured ndarray of shape (n_rows,), dtype :data:`TREE_DTYPE`
        Samples are ``0 .. n_samples - 1``, the root is ``n_samples``.
    """
    n = Z.shape[0] + 1
    left, right = Z[:, 0].astype(np.intp), Z[:, 1].astype(np.intp)
    order = leaves_list(Z)  # every subtree's samples are contiguous in this order
    first = np.empty(2 * n - 1, dtype=np.intp)
    first[order] = np.arange(n)
    for i in range(n - 1):
        first[n + i] = min(first[left[i]], first[right[i]])
    count = np.ones(2 * n - 1, dtype=np.intp)
    count[n:] = Z[:, 3]
    with np.errstate(divide="ignore"):
        lambdas = 1.0 / Z[:, 2]

    rows = []  # (parent, child array, lambda, size array)
    next_label = n + 1
    queue = deque([(2 * n - 2, n)])  # (node, the cluster it belongs to)
    while queue:
        node, label = queue.popleft()
        if node < n:  # a lone sample left of a cluster (min_cluster_size=1 only)
            rows.append((label, np.array([node]), np.inf, np.ones(1, np.intp)))
            continue
        i = node - n
        kids = ((left[i], count[left[i]]), (right[i], count[right[i]]))
        if all(cnt >= min_cluster_size for _, cnt in kids):  # a true split: two clusters
            for c, cnt in kids:
                rows.append((label, np.array([next_label]), lambdas[i], np.array([cnt])))
                queue.append((c, next_label))
                next_label += 1
            continue
        for c, cnt in kids:
            if cnt >= min_cluster_size:  # the cluster goes on, smaller
                queue.append((c, label))
            else:  # its samples fall out of the cluster at this level
                pts = order[first[c] : first[c] + cnt]
                rows.append((label, pts, lambdas[i], np.ones(cnt, np.intp)))
    lengths = [r[1].shape[0] for r in rows]
    tree = np.empty(sum(lengths), dtype=TREE_DTYPE)
    tree["parent"] = np.repeat([r[0] for r in rows], lengths)
    tree["child"] = np.concatenate([r[1] for r in rows])
    tree["lambda_val"] = np.repeat([r[2] for r in rows], lengths)
    tree["child_size"] = np.concatenate([r[3] for r in rows])
    return tree


def _tree_knn_graph(
    X,
    min_cluster_size,
    min_samples,
    device,
    n_jobs=-1,
    neighbors="exact",
    random_state=None,
    knn=None,
):
    """HDBSCAN's condensed tree built from the exact k-nearest-neighbour graph.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The samples.
    min_cluster_size : int
        Smallest group of samples that counts as a cluster.
    min_samples : int
        Neighbours that define a sample's core distance.
    device : {"cpu", "cuda"}
        Where the k-NN search runs.
    n_jobs : int or None, default=-1
        Threads of a k-d tree search (:func:`~sklearn_curate.utils.neighbors.kneighbors`).

    neighbors : {"exact", "approximate", "auto"}, default="exact"
        The first k-NN graph's search (see :func:`_exact_mst`).
    random_state : int or None, default=None
        Seed of an approximate search.
    knn : tuple of two ndarrays of shape (n_samples, k), optional
        Precomputed first k-NN lists (see :func:`_exact_mst`).

    Returns
    -------
    tree : structured ndarray of shape (n_rows,), dtype :data:`TREE_DTYPE`
        The condensed tree.
    """
    edges = _exact_mst(
        X, min_samples, device, n_jobs, neighbors=neighbors, random_state=random_state, knn=knn
    )
    return _condense_tree(_single_linkage(edges, X.shape[0]), min_cluster_size)
