"""Huffman code lengths, for the compressed size Deep Compression reports."""

import heapq

import numpy as np

__all__ = ["huffman_lengths", "huffman_bits"]


def huffman_lengths(counts):
    """Code length of each symbol of an optimal prefix code for ``counts``.

    Symbols with a zero count get length 0; a lone symbol gets length 1.
    """
    counts = np.asarray(counts, dtype=np.int64)
    lengths = np.zeros(counts.size, dtype=np.int64)
    used = [int(s) for s in np.flatnonzero(counts)]
    if len(used) == 1:
        lengths[used[0]] = 1
    if len(used) <= 1:
        return lengths
    heap = [(int(counts[s]), i, [s]) for i, s in enumerate(used)]
    heapq.heapify(heap)
    tie = len(heap)
    while len(heap) > 1:
        c1, _, s1 = heapq.heappop(heap)
        c2, _, s2 = heapq.heappop(heap)
        for s in s1 + s2:
            lengths[s] += 1
        heapq.heappush(heap, (c1 + c2, tie, s1 + s2))
        tie += 1
    return lengths


def huffman_bits(symbols, n_symbols=16):
    """Total bits of ``symbols`` (small non-negative ints) Huffman coded."""
    counts = np.bincount(np.asarray(symbols, dtype=np.int64).ravel(), minlength=n_symbols)
    return int(np.sum(counts * huffman_lengths(counts)))
