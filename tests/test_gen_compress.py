"""The compression pipeline: pruning, weight sharing, fixed point, capacity."""

import importlib

import numpy as np
import pytest
import scipy.sparse as sp
from conftest import random_layers
from hypothesis import given, settings
from hypothesis import strategies as st

import eie
from eie.bench import _layer_cycles_at
from eie.errors import CapacityError, ModelError
from eie.gen.compress import balance_rows, hardware_rows
from eie.sim import golden


def float_reference(bundle, x_codes):
    """Float forward pass with the bundle's quantized weights and activations."""
    a = x_codes / 2.0 ** bundle.layers[0].in_frac
    col_perm = np.arange(bundle.n_in)
    for layer in bundle.layers:
        # Quantized weights, in the user's row and column order.
        rows, cols, vals = layer.coo()
        wq = np.zeros((layer.n_out, layer.n_in))
        perm = layer.row_perm if layer.row_perm is not None else np.arange(layer.n_out)
        wq[perm[rows], col_perm[cols]] = layer.codebook[vals] / 2.0 ** layer.w_frac
        col_perm = perm
        acc = wq @ a
        if layer.bias is not None:
            acc = acc + layer.bias[:, None] / 2.0 ** (layer.in_frac + layer.w_frac)
        y = np.clip(acc, -32768 / 2.0 ** layer.out_frac, 32767 / 2.0 ** layer.out_frac)
        a = np.maximum(y, 0) if layer.relu else y
    return a


def test_exact_codebook_is_lossless(rng):
    values = [-1.5, -0.25, 0.125, 0.5, 0.75, 2.0]
    w, b = random_layers(rng, [40, 24, 10], density=0.4, values=values)
    b = [np.round(bb * 64) / 64 for bb in b]
    bundle = eie.compress(w, b, n_pe=4, act_frac=6)
    for layer, wl in zip(bundle.layers, w):
        cb = layer.codebook[1:] / 2.0 ** layer.w_frac
        assert set(np.unique(wl[wl != 0])) <= set(cb)
    x = np.round(rng.normal(0, 1, (8, 40)) * 64)
    codes, _ = golden.quantize_input(bundle, x / 64)
    # Integer model with the float weights (exact here): must equal the golden model.
    a = codes
    for layer, wl, bl in zip(bundle.layers, w, b):
        scale = 2 ** (layer.in_frac + layer.w_frac)
        acc = (np.round(wl * 2 ** layer.w_frac).astype(np.int64) @ a.T).T + \
            np.round(bl * scale).astype(np.int64)
        a = golden.output_stage(acc, layer.shift, layer.relu)
    assert np.array_equal(golden.run(bundle, codes), a)


def test_pruning_densities(rng):
    w, b = random_layers(rng, [50, 40, 30], density=1.0)
    bundle = eie.compress(w, b, n_pe=3, density=[0.1, 0.25])
    assert [s["nnz"] for s in bundle.meta["compression"]] == [200, 300]
    layer = bundle.layers[0]
    rows, cols, _ = layer.coo()
    # The kept weights are the largest magnitudes (rows back in the user's order).
    thr = np.sort(np.abs(w[0]).ravel())[-200]
    assert (np.abs(w[0][layer.row_perm[rows], cols]) >= thr).all()
    g = eie.compress(w, b, n_pe=3, density=0.2, prune_scope="global")
    assert sum(s["nnz"] for s in g.meta["compression"]) == round(0.2 * (2000 + 1200))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**31), st.integers(1, 9), st.booleans(), st.booleans())
def test_golden_close_to_float(seed, n_pe, balance, bias):
    """Golden output within half an LSB per layer of the float model with the same numbers."""
    rng = np.random.default_rng(seed)
    sizes = [int(rng.integers(1, 40)) for _ in range(int(rng.integers(2, 5)))]
    w, b = random_layers(rng, sizes, density=float(rng.uniform(0.05, 0.9)), bias=bias)
    x = rng.normal(0, 1, (4, sizes[0]))
    bundle = eie.compress(w, b, n_pe=n_pe, balance=balance, calibration=x)
    codes, _ = golden.quantize_input(bundle, x)
    y = golden.dequantize_output(bundle, golden.run(bundle, codes))
    ref = float_reference(bundle, codes.T.astype(np.float64)).T
    # Rounding error grows through the layers by at most the weights' row norms.
    tol = 0
    for layer in bundle.layers:
        rows, _, vals = layer.coo()
        gain = np.bincount(rows, np.abs(layer.codebook[vals]) / 2.0 ** layer.w_frac,
                           minlength=layer.n_out).max(initial=0)
        tol = tol * gain + 0.5 / 2 ** layer.out_frac
    assert np.abs(y - ref).max() <= tol + 1e-12


def test_balance_permutes_but_preserves_results(rng):
    w, b = random_layers(rng, [30, 37, 11], density=0.3)
    # Skew: some rows much denser than others.
    w[0][::5] = rng.normal(0, 0.2, (8, 30))
    x = rng.normal(0, 1, (5, 30))
    plain = eie.compress(w, b, n_pe=4, act_frac=8, balance=False)
    bal = eie.compress(w, b, n_pe=4, act_frac=8)
    assert bal.layers[0].row_perm is not None
    assert not np.array_equal(bal.layers[0].row_perm, np.arange(37))
    per_pe = [sum(np.count_nonzero(e & 15) for e in [l.entries[k]]) for l in bal.layers[:1]
              for k in range(4)]
    per_pe_plain = [np.count_nonzero(plain.layers[0].entries[k] & 15) for k in range(4)]
    assert max(per_pe) - min(per_pe) <= max(per_pe_plain) - min(per_pe_plain)
    assert np.array_equal(eie.infer(plain, x), eie.infer(bal, x))


def _pe_of(perm, n_pe):
    """PE of every original row under ``perm`` (hardware row r holds perm[r])."""
    pe = np.empty(perm.size, dtype=np.int64)
    pe[perm] = np.arange(perm.size) % n_pe
    return pe


def test_balance_rows_evens_out_the_columns_not_only_the_totals():
    # Rows 0 and 2 have their 10 nonzeros in columns 0-9, rows 1 and 3 in
    # columns 10-19.  Balancing the totals alone (longest processing time
    # first) puts 0 and 2 on PE 0 and 1 and 3 on PE 1: PE 0 works while PE 1
    # waits, then the other way round.  The prefix swaps give each PE one of each.
    rows = np.repeat(np.arange(4), 10)
    cols = np.concatenate([np.arange(10), np.arange(10, 20)] * 2)
    perm = balance_rows(rows, cols, 4, 20, 2)
    assert sorted(perm.tolist()) == [0, 1, 2, 3]
    pe = _pe_of(perm, 2)
    assert pe[0] != pe[2] and pe[1] != pe[3]


@pytest.mark.parametrize("n_out,n_pe", [(600, 16), (37, 5), (5, 8)])
def test_balance_rows_is_a_fixed_permutation_keeping_each_pes_rows(rng, n_out, n_pe):
    n_in = 300
    dense = rng.random((n_out, n_in)) < rng.uniform(0.02, 0.3, (n_out, 1))
    rows, cols = np.nonzero(dense)
    perm = balance_rows(rows, cols, n_out, n_in, n_pe)
    assert np.array_equal(np.sort(perm), np.arange(n_out))
    assert np.array_equal(perm, balance_rows(rows, cols, n_out, n_in, n_pe))  # reproducible
    pe = _pe_of(perm, n_pe)
    assert np.array_equal(np.bincount(pe, minlength=n_pe),
                          np.bincount(np.arange(n_out) % n_pe, minlength=n_pe))
    # Within a PE the rows keep their order (local row i < local row i + 1).
    for k in range(n_pe):
        assert np.all(np.diff(perm[k::n_pe]) > 0)


def test_balance_rows_cuts_the_queue_stalls_of_a_dense_input_layer(rng, monkeypatch):
    """NT-We's shape at a quarter size: 1024 dense inputs, 150 outputs, 10%
    weights, 16 PEs, FIFO 8.  The prefix-balanced order must beat both the
    user's order and the totals-only balance (no swaps) in cycles, and spread
    the prefixes far more evenly than the user's order."""
    n_in, n_out, n_pe = 1024, 150, 16
    dense = rng.random((n_out, n_in)) < 0.1
    rows, cols = np.nonzero(dense)
    act = np.ones(n_in, dtype=np.int64)

    def spread_and_cycles(perm):
        hw_rows = hardware_rows(rows, perm)
        load = np.zeros((n_pe, 64))
        np.add.at(load, (hw_rows % n_pe, cols * 64 // n_in), 1)
        prefix = np.cumsum(load, axis=1)
        cycles = _layer_cycles_at(hw_rows, cols, n_in, n_out, act, n_pe, fifo_depth=8).cycles
        return np.abs(prefix - prefix.mean(axis=0)).max(), cycles

    plain = spread_and_cycles(None)
    prefix = spread_and_cycles(balance_rows(rows, cols, n_out, n_in, n_pe))
    # eie.gen.compress is also the name of the function the package exports.
    monkeypatch.setattr(importlib.import_module("eie.gen.compress"), "BALANCE_PASSES", 0)
    totals = spread_and_cycles(balance_rows(rows, cols, n_out, n_in, n_pe))
    assert prefix[0] < plain[0] / 2
    assert prefix[1] < min(plain[1], totals[1])


def test_odd_shapes(rng):
    # n_out < n_pe, n_in not a multiple of n_pe, an all-zero layer, empty columns.
    w = [np.zeros((3, 7)), rng.normal(size=(5, 3))]
    w[1][:, 1] = 0
    bundle = eie.compress(w, [None, None], n_pe=8)
    assert bundle.layers[0].n_entries == 0
    assert bundle.layers[1].col_lengths[:, 1].sum() == 0
    assert (bundle.layers[1].col_lengths[5:] == 0).all()   # PEs without rows
    x = rng.normal(size=(2, 7))
    assert np.array_equal(eie.infer(bundle, x), np.zeros((2, 5)))


def test_long_zero_runs_padding():
    w = np.zeros((200, 4))
    w[[0, 17, 18, 150, 199], 0] = [1, -1, 0.5, 2, -2]
    bundle = eie.compress([w], None, n_pe=1)
    # Distinct values sorted -2, -1, 0.5, 1, 2 take indices 1..5.  Gaps 0, 16, 0, 131, 48.
    pad = (0, 15)
    expected = [(4, 0), pad, (2, 0), (3, 0)] + [pad] * 8 + [(5, 3)] + [pad] * 3 + [(1, 0)]
    assert [(int(e) & 15, int(e) >> 4) for e in bundle.layers[0].entries[0]] == expected
    rows, _, vals = bundle.layers[0].coo()
    cb = bundle.layers[0].codebook / 2.0 ** bundle.layers[0].w_frac
    assert dict(zip(rows.tolist(), cb[vals].tolist())) == {0: 1, 17: -1, 18: 0.5, 150: 2,
                                                           199: -2}


def test_accumulator_bound_lowers_w_frac_or_refuses(rng):
    w = np.full((2, 4000), 1.0)
    wide = eie.compress([w], None, n_pe=1, acc_width=48)
    narrow = eie.compress([w], None, n_pe=1, acc_width=40)
    assert narrow.layers[0].w_frac < wide.layers[0].w_frac
    with pytest.raises(CapacityError, match="layer fc1: the accumulator bound fails"):
        eie.compress([w * 30000], None, n_pe=1, acc_width=33)


def test_capacity_errors_name_layer_and_pe(rng):
    w, b = random_layers(rng, [64, 64, 10], density=0.5)
    with pytest.raises(CapacityError, match=r"layer fc1: PE \d+ needs sparse-matrix words"):
        eie.compress(w, b, n_pe=4, spmat_words=8)
    with pytest.raises(CapacityError, match="layer fc2: PE 0 needs pointers"):
        eie.compress(w, b, n_pe=4, ptr_depth=80)
    with pytest.raises(CapacityError, match="local inputs, but act_depth is 8"):
        eie.compress(w, b, n_pe=4, act_depth=8)


@pytest.mark.parametrize("bad,msg", [
    (lambda w: [w[0] * np.nan, w[1]], r"layer fc1: weight \[0, 0\] is nan"),
    (lambda w: [w[0], np.full((3, 5), np.inf)], r"layer fc2: weight \[0, 0\] is inf"),
    (lambda w: [w[0], np.ones((3, 4))], "layer fc2: takes 4 inputs but layer fc1 has 5"),
    (lambda w: [np.ones(5)], "non-empty 2-D array"),
])
def test_bad_models(bad, msg):
    w = [np.ones((5, 6)), np.ones((3, 5))]
    with pytest.raises(ModelError, match=msg):
        eie.compress(bad(w), None, n_pe=2)


def test_sparse_input_matches_dense(rng):
    w, b = random_layers(rng, [30, 20], density=0.2)
    dense = eie.compress(w, b, n_pe=3)
    sparse = eie.compress([sp.csr_matrix(w[0])], b, n_pe=3)
    x = rng.normal(size=(3, 30))
    assert np.array_equal(eie.infer(dense, x), eie.infer(sparse, x))
