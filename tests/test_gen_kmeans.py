"""Weight sharing: 1-D k-means with linear initialisation, and Huffman sizes."""

import numpy as np
import pytest

from eie.gen.huffman import huffman_bits, huffman_lengths
from eie.gen.kmeans import kmeans_1d, linear_init


@pytest.mark.parametrize("seed", range(4))
def test_matches_scikit_learn(seed):
    sklearn = pytest.importorskip("sklearn.cluster")
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(0, 0.05, 3000), rng.laplace(0, 0.02, 2000)])
    c, labels, wcss, _ = kmeans_1d(x, 15)
    km = sklearn.KMeans(n_clusters=15, init=linear_init(x, 15).reshape(-1, 1), n_init=1,
                        max_iter=300, tol=0, algorithm="lloyd").fit(x.reshape(-1, 1))
    ref = np.sort(km.cluster_centers_.ravel())
    assert np.allclose(c, ref, rtol=0, atol=1e-9)
    assert wcss == pytest.approx(km.inertia_, rel=1e-9)
    assert np.array_equal(np.argmin(np.abs(x[:, None] - c[None, :]), axis=1), labels)


def test_few_values_and_constant():
    c, labels, wcss, _ = kmeans_1d(np.array([1.0, 1.0, 1.0]), 15)
    assert np.all(c[labels] == 1.0) and wcss == 0.0
    x = np.array([-1.0, 0.5, 2.0])
    c, labels, wcss, _ = kmeans_1d(x, 15)
    assert np.array_equal(c[labels], x) and wcss == 0.0


def test_huffman():
    assert huffman_lengths([0, 5, 0]).tolist() == [0, 1, 0]
    assert huffman_lengths([1, 1]).tolist() == [1, 1]
    lengths = huffman_lengths([45, 13, 12, 16, 9, 5])   # textbook example
    assert int(np.dot(lengths, [45, 13, 12, 16, 9, 5])) == 224
    # Kraft equality for a full binary code.
    assert sum(2.0 ** -lengths) == pytest.approx(1.0)
    assert huffman_bits(np.array([3] * 10 + [4] * 10)) == 20


def test_pruned_weights_use_every_cluster():
    """Linear init spans the pruning gap around 0; no centroid may stay stranded there."""
    sklearn = pytest.importorskip("sklearn.cluster")
    rng = np.random.default_rng(7)
    w = rng.normal(0, 1, 100_000)
    x = w[np.abs(w) > np.quantile(np.abs(w), 0.9)]
    c, labels, wcss, _ = kmeans_1d(x, 15)
    assert np.bincount(labels, minlength=15).min() > 0
    km = sklearn.KMeans(n_clusters=15, init=linear_init(x, 15).reshape(-1, 1), n_init=1,
                        max_iter=300, algorithm="lloyd").fit(x.reshape(-1, 1))
    assert wcss <= 1.15 * km.inertia_
