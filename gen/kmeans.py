"""One-dimensional k-means for weight sharing (Deep Compression, section 3).

Lloyd's algorithm on sorted values: in one dimension every cluster is an
interval, so assignment is a binary search of the midpoints between centroids
and the cluster means come from prefix sums.  After one sort, an iteration
costs O(k log n), which keeps multi-million-weight layers fast.  The result is
the same as scikit-learn's ``KMeans`` (Lloyd, ``tol=0``) run from the same
initial centroids, except where the two relocate an emptied cluster
differently (``eie bench --suite kmeans`` compares them).
"""

import numpy as np

__all__ = ["kmeans_1d", "linear_init"]


def linear_init(values, k):
    """Linear initialisation: ``k`` centroids spaced evenly over [min, max]."""
    return np.linspace(float(np.min(values)), float(np.max(values)), k)


def kmeans_1d(values, k, *, init=None, max_iter=300):
    """Cluster ``values`` into ``k`` clusters.

    Parameters
    ----------
    values : array_like of float
        The values to cluster (at least one).
    k : int
        Number of clusters.
    init : array_like of float, optional
        Initial centroids; :func:`linear_init` by default.
    max_iter : int
        Upper bound on Lloyd iterations.

    Returns
    -------
    centroids : numpy.ndarray
        ``k`` sorted centroids.  A cluster that empties is moved to the value
        farthest from its centroid, as scikit-learn does.
    labels : numpy.ndarray
        Index of the nearest centroid for each value (ties to the lower one).
    wcss : float
        Within-cluster sum of squares.
    iterations : int
        Lloyd iterations run.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if x.size == 0:
        raise ValueError("kmeans_1d needs at least one value")
    xs = np.sort(x)
    csum = np.concatenate([[0.0], np.cumsum(xs)])
    c = np.sort(np.asarray(linear_init(xs, k) if init is None else init, dtype=np.float64))
    iterations = 0
    for iterations in range(1, max_iter + 1):
        bounds = np.concatenate([[0], np.searchsorted(xs, (c[1:] + c[:-1]) / 2, side="right"),
                                 [xs.size]])
        counts = np.diff(bounds)
        sums = csum[bounds[1:]] - csum[bounds[:-1]]
        new = np.where(counts > 0, sums / np.maximum(counts, 1), c)
        empty = np.flatnonzero(counts == 0)
        if empty.size:
            # As scikit-learn does: move empty clusters to the points farthest from
            # their centroids (with pruned weights, linear initialisation puts
            # centroids in the empty gap around zero).
            dist = np.abs(xs - np.repeat(new, counts))
            n_move = min(empty.size, int(np.count_nonzero(dist > 0)))
            if n_move:
                far = np.argpartition(dist, -n_move)[-n_move:]
                new[empty[:n_move]] = xs[far]
        new.sort()
        if np.array_equal(new, c):
            break
        c = new
    labels = np.searchsorted((c[1:] + c[:-1]) / 2, x, side="left")
    wcss = float(np.sum((x - c[labels]) ** 2))
    return c, labels, wcss, iterations
