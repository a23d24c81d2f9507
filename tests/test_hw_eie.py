"""The whole accelerator in Amaranth's simulator: bit-exact and cycle-exact."""

import numpy as np
import pytest
from conftest import random_layers
from hw_helpers import check_against_models, run_eie
from hypothesis import given, settings
from hypothesis import strategies as st

import eie
from eie.config import HwConfig
from eie.hw.bram import uses_lut_ram
from eie.hw.eie import EIE, HOST_READ_LATENCY, host_read_latency
from eie.sim import golden


def _inputs(rng, bundle, batch, density=0.5, scale=1.0):
    x = rng.normal(size=(batch, bundle.n_in)) * scale
    x *= rng.random(x.shape) < density
    return golden.quantize_input(bundle, x)[0]


@pytest.mark.parametrize("act_depth", [None, 64])
def test_three_layers_bias_relu_batch(rng, act_depth):
    # The compiler's rows (16: the accumulators read as LUT RAM) and 64 rows
    # (read as block RAM, two cycles earlier, four results forwarded).
    w, b = random_layers(rng, [37, 29, 21, 11], density=0.35)
    bundle = eie.compress(w, b, n_pe=4, fifo_depth=2, act_depth=act_depth)
    assert uses_lut_ram(bundle.hw.act_depth, bundle.hw.acc_width) == (act_depth is None)
    codes = _inputs(rng, bundle, 4)
    check_against_models(bundle, codes)


def test_baked_model_equals_loaded(rng):
    w, b = random_layers(rng, [20, 16, 6], density=0.5)
    bundle = eie.compress(w, b, n_pe=3, fifo_depth=1)
    codes = _inputs(rng, bundle, 2)
    y_baked = check_against_models(bundle, codes, bake=True)[0]
    y_loaded = run_eie(bundle, codes)[0]
    np.testing.assert_array_equal(y_baked, y_loaded)


def test_all_zero_input_and_empty_columns(rng):
    w, b = random_layers(rng, [24, 12], density=0.3)
    w[0][:, ::3] = 0          # empty columns
    bundle = eie.compress(w, b, n_pe=4)
    codes = np.zeros((2, 24), dtype=np.int64)
    codes[1, ::3] = 100       # only empty columns active
    y = check_against_models(bundle, codes)[0]
    assert (y[0] == golden.forward(bundle, codes)[-1][0]).all()


def test_pes_without_rows_and_ragged_inputs(rng):
    # 5 outputs on 8 PEs (PEs 5..7 own no row), 13 inputs (not a multiple of 8).
    w, b = random_layers(rng, [13, 5, 3], density=0.6)
    bundle = eie.compress(w, b, n_pe=8, fifo_depth=1)
    check_against_models(bundle, _inputs(rng, bundle, 2, density=1.0))


def test_large_array_through_group_registers(rng):
    # Above 16 PEs the host port, the codebook reload and the layer's
    # parameters reach the PEs through a register per group of 8 (here 3
    # groups, the last one partial): reads take two cycles more, and the result
    # and every cycle count are unchanged.  Two layers, loaded and baked.
    w, b = random_layers(rng, [45, 41, 7], density=0.4)
    bundle = eie.compress(w, b, n_pe=19, fifo_depth=2)
    g = EIE(bundle.hw).geometry
    assert g.fanout_stages == 1 and host_read_latency(g) == HOST_READ_LATENCY + 2
    codes = _inputs(rng, bundle, 2)
    y = check_against_models(bundle, codes)[0]
    np.testing.assert_array_equal(check_against_models(bundle, codes, bake=True)[0], y)
    assert EIE(eie.compress(w, b, n_pe=16).hw).geometry.fanout_stages == 0


@pytest.mark.parametrize("bias_depth", [40, 100])
def test_bias_rows_in_the_activation_memory(rng, bias_depth):
    # With 32 rows of 36-bit accumulators the bias rows share the activation
    # files' block RAM (as at 32 PEs on the board), read by the writeback
    # through its read port; 40 rows sit at a power-of-two offset, 100 do not.
    # Three layers with a bias each, loaded by the host and baked.
    w, b = random_layers(rng, [40, 33, 21, 9], density=0.4)
    bundle = eie.compress(w, b, n_pe=3, act_depth=32, acc_width=36, bias_depth=bias_depth,
                          fifo_depth=2)
    assert EIE(bundle.hw).geometry.bias_in_act_file
    codes = _inputs(rng, bundle, 2, density=0.6)
    y = check_against_models(bundle, codes)[0]
    np.testing.assert_array_equal(check_against_models(bundle, codes, bake=True)[0], y)
    assert all((layer.bias != 0).any() for layer in bundle.layers)


def test_padding_chains(rng):
    # Tall sparse columns on one PE: zero runs longer than 15 need padding entries.
    w = np.zeros((200, 6))
    w[0, :] = 1.0
    w[199, :] = -0.5
    w[100, 2] = 0.25
    bundle = eie.compress([w], None, n_pe=1)
    assert any((e & 0xF == 0).any() for e in bundle.layers[0].entries)
    check_against_models(bundle, _inputs(rng, bundle, 2, density=1.0))


def test_saturation_and_relu_off(rng):
    w = [rng.choice([-1.0, 1.0], size=(12, 16))]
    bundle = eie.compress(w, [np.full(12, 3.0)], n_pe=4, relu=[False], act_frac=[8, 8])
    codes = np.full((2, 16), 30000, dtype=np.int64)
    codes[1] *= -1
    y = check_against_models(bundle, codes, bake=True)[0]
    assert (np.abs(y) == 32767).any() or (y == -32768).any()
    assert (y < 0).any()


def test_back_to_back_rows_use_the_bypass():
    # Every column of PE 0 has exactly one entry, on local row 0: the last entry of
    # a column and the first of the next hit the same accumulator back to back.
    w = np.zeros((2, 30))
    w[0, :] = 0.5
    bundle = eie.compress([w], None, n_pe=2)
    codes = np.full((1, 30), 256, dtype=np.int64)
    y = check_against_models(bundle, codes)[0]
    assert y[0, 0] != 0


@pytest.mark.parametrize("n_pe,sizes", [(2, [2, 1]), (5, [5, 4]), (3, [3, 2, 3])])
def test_one_row_layers_on_small_memories(rng, n_pe, sizes):
    # n_in <= n_pe: one activation row; the compiler sizes act_depth to 1, and the
    # writeback counter must still count rows_out + writeback latency (it hung once).
    w, b = random_layers(rng, sizes, density=0.8)
    bundle = eie.compress(w, b, n_pe=n_pe, fifo_depth=1)
    assert bundle.hw.act_depth == 1
    check_against_models(bundle, _inputs(rng, bundle, 2, density=1.0))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), n_pe=st.integers(1, 9), fifo=st.sampled_from([1, 2, 5]),
       n_layers=st.integers(1, 3), density=st.sampled_from([0.05, 0.3, 0.8]),
       act_density=st.sampled_from([0.0, 0.3, 1.0]), bias=st.booleans())
def test_random_models(seed, n_pe, fifo, n_layers, density, act_density, bias):
    rng = np.random.default_rng(seed)
    sizes = [int(s) for s in rng.integers(1, 28, n_layers + 1)]
    w, b = random_layers(rng, sizes, density=density, bias=bias)
    bundle = eie.compress(w, b, n_pe=n_pe, fifo_depth=fifo)
    check_against_models(bundle, _inputs(rng, bundle, 2, density=act_density))


def test_bad_parameters():
    hw = HwConfig(n_pe=2, spmat_words=8, ptr_depth=8, act_depth=4)
    with pytest.raises(TypeError, match="HwConfig"):
        EIE({"n_pe": 2})
    with pytest.raises(ValueError, match="max_layers"):
        EIE(hw, max_layers=0)


def test_lstm_sequences_step_by_step():
    """A model with an LSTM layer runs step by step through FIRST_LAYER and the
    host's gate arithmetic: outputs and every run's counters equal the models."""
    from hw_helpers import check_sequences_against_models
    from test_lstm import lstm_model
    rng = np.random.default_rng(5)
    bundle = eie.compress(lstm_model(rng, sizes=(8, 5, 4, 3)), n_pe=3, fifo_depth=1,
                          density=0.6)
    x = rng.normal(size=(2, 4, 8)) * (rng.random((2, 4, 8)) < 0.5)
    codes = golden.quantize_input(bundle, x)[0]
    check_sequences_against_models(bundle, codes)


@pytest.mark.parametrize("bake", [False, True])
def test_codebook_reload_is_ready_for_the_earliest_decode(rng, bake):
    # Each layer's codebook is reloaded into every PE during its first 18 cycles;
    # the earliest decode (an item fired at scan_start, one PE) reads the entry
    # loaded last.  Layer 1's first entry is made to use index 15, whose weight
    # differs from layer 0's: a late reload would decode with a stale weight.
    w, b = random_layers(rng, [6, 6, 4], density=1.0)
    b[0][:] = 2.0                          # layer 1's inputs are all nonzero
    bundle = eie.compress(w, b, n_pe=1, relu=[True, False])
    layer = bundle.layers[1]
    entries = layer.entries[0]
    v = int(entries[layer.ptr[0][0]] & 0xF)       # PE 0's first column, first entry
    assert v != 0
    if v != 15:
        codes = entries & 0xF
        swapped = np.where(codes == v, 15, np.where(codes == 15, v, codes))
        entries[:] = (entries & 0xF0) | swapped
        layer.codebook[[v, 15]] = layer.codebook[[15, v]]
        layer._coo = layer._matrix = None      # decoded again from the new entries
    assert layer.codebook[15] != bundle.layers[0].codebook[15]
    codes = _inputs(rng, bundle, 1, density=1.0)
    assert (golden.forward(bundle, codes)[1] != 0).all()
    check_against_models(bundle, codes, bake=bake)
