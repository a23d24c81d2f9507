"""The compressed layout of DESIGN.md section 3."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eie.errors import BundleError
from eie.gen.encode import decode_pe, encode_layer, local_rows, pack_words, unpack_entries


def reference_encode_column(column):
    """Entries (v, z) of one PE's column from the contract, one row at a time."""
    out, gap = [], 0
    for value in column:
        if value == 0:
            gap += 1
            continue
        while gap >= 16:
            out.append((0, 15))
            gap -= 16
        out.append((value, gap))
        gap = 0
    return out


def test_seed_example():
    column = [0, 0, 1, 2] + [0] * 18 + [3]
    rows = [i for i, v in enumerate(column) if v]
    entries, ptr = encode_layer(rows, [0] * len(rows), [column[i] for i in rows],
                                len(column), 1, 1)
    assert [int(e) & 15 for e in entries[0]] == [1, 2, 0, 3]
    assert [int(e) >> 4 for e in entries[0]] == [2, 0, 15, 2]
    assert ptr.tolist() == [[0, 4]]


@pytest.mark.parametrize("gap,expected", [
    (0, [(5, 0)]), (15, [(5, 15)]), (16, [(0, 15), (5, 0)]), (31, [(0, 15), (5, 15)]),
    (32, [(0, 15), (0, 15), (5, 0)]), (100, [(0, 15)] * 6 + [(5, 4)]),
])
def test_minimal_padding(gap, expected):
    entries, _ = encode_layer([gap], [0], [5], gap + 1, 1, 1)
    assert [(int(e) & 15, int(e) >> 4) for e in entries[0]] == expected
    assert reference_encode_column([0] * gap + [5]) == expected


def test_interleaving_and_pointers():
    # 5 rows over 2 PEs: PE 0 has rows 0, 2, 4 (local 0, 1, 2), PE 1 rows 1, 3.
    w = np.array([[1, 0, 0], [0, 2, 0], [0, 0, 0], [3, 0, 4], [5, 6, 0]])
    r, c = np.nonzero(w)
    entries, ptr = encode_layer(r, c, w[r, c], 5, 3, 2)
    assert ptr[0].tolist() == [0, 2, 3, 3]      # col 0: local 0 and 2; col 1: local 2
    assert ptr[1].tolist() == [0, 1, 2, 3]      # col 0: local 1; col 1: local 0; col 2: 1
    assert [(int(e) & 15, int(e) >> 4) for e in entries[0]] == [(1, 0), (5, 1), (6, 2)]
    assert [(int(e) & 15, int(e) >> 4) for e in entries[1]] == [(3, 1), (2, 0), (4, 1)]


def test_word_packing_low_byte_first():
    entries = np.arange(1, 11, dtype=np.uint8)
    words = pack_words(entries, 2)
    assert int(words[0]) == 0x0807060504030201
    assert int(words[1]) == 0x0A09
    assert unpack_entries(words, 3, 6).tolist() == [4, 5, 6, 7, 8, 9]


@st.composite
def sparse_layers(draw):
    n_out = draw(st.integers(1, 70))
    n_in = draw(st.integers(1, 12))
    n_pe = draw(st.integers(1, 9))
    density = draw(st.sampled_from([0.0, 0.02, 0.1, 0.5, 1.0]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    w = np.where(rng.random((n_out, n_in)) < density, rng.integers(1, 16, (n_out, n_in)), 0)
    return w, n_pe


@settings(max_examples=150, deadline=None)
@given(sparse_layers())
def test_round_trip_and_reference(layer):
    w, n_pe = layer
    n_out, n_in = w.shape
    r, c = np.nonzero(w)
    entries, ptr = encode_layer(r, c, w[r, c], n_out, n_in, n_pe)
    back = np.zeros_like(w)
    for k in range(n_pe):
        rows = local_rows(n_out, n_pe, k)
        assert rows == len(range(k, n_out, n_pe))
        lrow, col, v = decode_pe(entries[k], ptr[k], rows, f"PE {k}")
        back[lrow * n_pe + k, col] = v
        # Byte-exact against the one-row-at-a-time reference encoder.
        expected = []
        for j in range(n_in):
            column = w[k::n_pe, j].tolist()
            expected += [(z << 4) | v for v, z in reference_encode_column(column)]
            assert ptr[k, j + 1] - ptr[k, j] == len(reference_encode_column(column))
        assert entries[k].tolist() == expected
    assert np.array_equal(back, w)


def test_decode_rejects_bad_encodings():
    ok = np.array([0x21], dtype=np.uint8)
    decode_pe(ok, [0, 1], 3, "x")
    with pytest.raises(BundleError, match="padding entry with z=3"):
        decode_pe(np.array([0x30, 0x01], np.uint8), [0, 2], 40, "layer a: PE 1")
    with pytest.raises(BundleError, match="ends with a padding"):
        decode_pe(np.array([0x01, 0xF0], np.uint8), [0, 2], 40, "x")
    with pytest.raises(BundleError, match="local row 2, but the PE has 2 rows"):
        decode_pe(np.array([0x21], np.uint8), [0, 1], 2, "x")
    with pytest.raises(BundleError, match="pointers decrease at column 1"):
        decode_pe(np.array([0x01], np.uint8), [0, 1, 0, 1], 2, "x")
    with pytest.raises(BundleError, match="first pointer"):
        decode_pe(np.array([0x01], np.uint8), [1, 1], 2, "x")
