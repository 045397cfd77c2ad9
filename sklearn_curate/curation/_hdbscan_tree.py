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
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components, minimum_spanning_tree

from ..utils._device import to_numpy
from ..utils.neighbors import kneighbors

__all__ = ["TREE_DTYPE", "glosh_from_condensed_tree"]

#: Row layout of a condensed tree, as hdbscan's ``condensed_tree_.to_numpy()``.
TREE_DTYPE = np.dtype(
    [("parent", np.intp), ("child", np.intp), ("lambda_val", np.float64), ("child_size", np.intp)]
)
# Degree of the k-NN graph whose minimum spanning tree stands in for HDBSCAN's.
_GRAPH_NEIGHBORS = 16


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


# -- HDBSCAN's tree from an exact k-nearest-neighbour graph ----------------------------
def _cheapest_exits(X, core, comp, n_candidates=4, small=64, n_jobs=-1):
    """Cheapest mutual-reachability edge out of every component but the largest.

    Candidates are each member's ``n_candidates`` nearest outside its component: small
    components share one search against all of ``X`` (asking for enough neighbours to
    get past their own members), larger ones search the rest of ``X``.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The samples.
    core : ndarray of shape (n_samples,)
        Core distances.
    comp : ndarray of shape (n_samples,), int
        Component label of each sample.
    n_candidates : int, default=4
        Nearest outside neighbours tried per member.
    small : int, default=64
        Components of at most this many samples share one search.
    n_jobs : int or None, default=-1
        Threads of a k-d tree search (:func:`~sklearn_curate.utils.neighbors.kneighbors`).

    Returns
    -------
    edges : ndarray of shape (n_components - 1, 3)
        Rows (i, j, mutual reachability distance).
    """
    sizes = np.bincount(comp)
    largest = np.argmax(sizes)
    found = []
    small_rows = np.flatnonzero((sizes[comp] <= small) & (comp != largest))
    if small_rows.size:
        k = min(X.shape[0], int(sizes[comp[small_rows]].max()) + n_candidates)
        d, j = kneighbors(X, k, query=X[small_rows], device="cpu", n_jobs=n_jobs)
        d[comp[j] == comp[small_rows, None]] = np.inf
        found.append((np.repeat(small_rows, k), j.ravel(), d.ravel()))
    for c in np.flatnonzero((sizes > small) & (np.arange(sizes.size) != largest)):
        inside = comp == c
        members, others = np.flatnonzero(inside), np.flatnonzero(~inside)
        k = min(n_candidates, others.size)
        d, j = kneighbors(X[others], k, query=X[members], device="cpu", n_jobs=n_jobs)
        found.append((np.repeat(members, k), others[j.ravel()], d.ravel()))
    r, c, d = (np.concatenate(parts) for parts in zip(*found, strict=True))
    ok = np.isfinite(d)
    r, c, d = r[ok], c[ok], d[ok]
    w = np.maximum(np.maximum(d, core[r]), core[c])
    order = np.lexsort((w, comp[r]))
    first = order[np.r_[True, comp[r][order][1:] != comp[r][order][:-1]]]
    return np.column_stack([r[first], c[first], w[first]])


def _spanning_tree(edges, n):
    """Minimum spanning forest of an edge list; keeps zero-weight edges.

    Parameters
    ----------
    edges : ndarray of shape (n_edges, 3)
        Rows (i, j, weight).
    n : int
        Number of nodes.

    Returns
    -------
    forest : ndarray of shape (n_forest_edges, 3)
        Rows (i, j, weight) of the spanning forest.
    mst : scipy.sparse.coo_matrix of shape (n, n)
        The same forest as a sparse graph, for :func:`connected_components`.
    """
    tiny = np.finfo(np.float64).tiny  # csgraph treats explicit zeros as missing edges
    g = coo_matrix(
        (np.maximum(edges[:, 2], tiny), (edges[:, 0].astype(np.intp), edges[:, 1].astype(np.intp))),
        shape=(n, n),
    ).tocsr()
    mst = minimum_spanning_tree(g).tocoo()
    w = np.where(mst.data <= tiny, 0.0, mst.data)
    return np.column_stack([mst.row, mst.col, w]), mst


def _knn_graph_mst(X, min_samples, device, n_jobs=-1):
    """HDBSCAN's minimum spanning tree of mutual reachability, from the k-NN graph.

    The tree of the k-NN graph (k = ``max(16, min_samples)``, mutual-reachability
    weights) is joined across its components by Boruvka steps over each component's
    cheapest exit, as cuML does.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The samples.
    min_samples : int
        Neighbours that define a sample's core distance.
    device : {"cpu", "cuda"}
        Where the k-NN search runs.
    n_jobs : int or None, default=-1
        Threads of a k-d tree search (:func:`~sklearn_curate.utils.neighbors.kneighbors`).

    Returns
    -------
    edges : ndarray of shape (n_samples - 1, 3)
        Rows (i, j, mutual reachability distance).
    """
    n = X.shape[0]
    k = min(n - 1, max(_GRAPH_NEIGHBORS, min_samples))
    dist, idx = kneighbors(X, k, device=device, n_jobs=n_jobs)
    core = dist[:, min_samples - 1]  # hdbscan's: the min_samples-th other sample
    w = np.maximum(np.maximum(core[:, None], core[idx]), dist)
    edges = np.column_stack([np.repeat(np.arange(n), k), idx.ravel(), w.ravel()])
    edges, mst = _spanning_tree(edges, n)
    n_comp, comp = connected_components(mst, directed=False)
    while n_comp > 1:
        exits = _cheapest_exits(X, core, comp, n_jobs=n_jobs)
        edges, mst = _spanning_tree(np.vstack([edges, exits]), n)
        n_comp, comp = connected_components(mst, directed=False)
    return edges


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


def _tree_knn_graph(X, min_cluster_size, min_samples, device, n_jobs=-1):
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

    Returns
    -------
    tree : structured ndarray of shape (n_rows,), dtype :data:`TREE_DTYPE`
        The condensed tree.
    """
    edges = _knn_graph_mst(X, min_samples, device, n_jobs)
    return _condense_tree(_single_linkage(edges, X.shape[0]), min_cluster_size)
