"""The cycle model against a cycle-by-cycle state machine of the microarchitecture."""

import numpy as np
import reference
from conftest import random_layers
from hypothesis import given, settings
from hypothesis import strategies as st

import eie
from eie.config import HwConfig, Timing
from eie.sim import cycle_model, golden


def _check_layer(layer, hw, act):
    model = cycle_model.layer_cycles(layer, hw, act)
    ref = reference.simulate_layer(layer.col_lengths.tolist(), act.tolist(), hw.n_pe,
                                   layer.n_out, Timing(hw))
    assert model.cycles == ref
    return model


@settings(max_examples=120, deadline=None)
@given(seed=st.integers(0, 2**31), n_pe=st.integers(1, 20), fifo=st.sampled_from([1, 2, 3, 8]),
       act_density=st.sampled_from([0.0, 0.1, 0.4, 1.0]), w_density=st.sampled_from(
           [0.0, 0.05, 0.3, 0.9]))
def test_model_equals_state_machine(seed, n_pe, fifo, act_density, w_density):
    rng = np.random.default_rng(seed)
    n_in, n_out = int(rng.integers(1, 60)), int(rng.integers(1, 70))
    w, _ = random_layers(rng, [n_in, n_out], density=w_density, bias=False)
    bundle = eie.compress(w, None, n_pe=n_pe, fifo_depth=fifo)
    act = np.where(rng.random(n_in) < act_density, rng.integers(1, 100, n_in), 0)
    _check_layer(bundle.layers[0], bundle.hw, act)


def test_long_columns_stall_the_broadcast(rng):
    # Few PEs, dense columns, a shallow queue: the broadcast must wait on credits.
    w = rng.normal(size=(64, 40))
    bundle = eie.compress([w], None, n_pe=2, fifo_depth=1)
    act = np.ones(40, dtype=np.int64)
    m = _check_layer(bundle.layers[0], bundle.hw, act)
    assert m.cycles >= m.ideal
    # One entry per PE per cycle: compute takes the busier PE's work plus fixed latency.
    t = Timing(bundle.hw)
    assert m.compute_cycles <= max(m.work) + t.scan_start + t.queue_latency + t.arith_drain + 1


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**31), n_pe=st.integers(1, 20), fifo=st.sampled_from([1, 2, 8]),
       act_density=st.sampled_from([0.1, 0.4, 1.0]), w_density=st.sampled_from([0.05, 0.3, 0.9]))
def test_empty_skips_credit_study_is_never_slower(seed, n_pe, fifo, act_density, w_density):
    """The study drops constraints only: it never costs a cycle, and it changes
    nothing where no active column is empty in any PE."""
    rng = np.random.default_rng(seed)
    n_in, n_out = int(rng.integers(1, 60)), int(rng.integers(1, 70))
    w, _ = random_layers(rng, [n_in, n_out], density=w_density, bias=False)
    bundle = eie.compress(w, None, n_pe=n_pe, fifo_depth=fifo)
    layer = bundle.layers[0]
    act = np.where(rng.random(n_in) < act_density, rng.integers(1, 100, n_in), 0)
    base = cycle_model.layer_cycles(layer, bundle.hw, act)
    study = cycle_model.layer_cycles(layer, bundle.hw, act, empty_skips_credit=True)
    assert study.cycles <= base.cycles
    if (layer.col_lengths[:, act != 0] > 0).all():
        assert study.cycles == base.cycles


def test_empty_skips_credit_study_lets_an_idle_pe_start():
    # PE 0 (even rows) has 40 entries in each of columns 0-9, PE 1 five in each
    # of columns 10-89: 400 cycles of work each.  With one queue slot, PE 0's
    # backlog holds back columns 10 on, which it will only drop, and PE 1
    # starts slowly; in the study PE 1 starts as soon as column 10 fires.
    w = np.zeros((80, 90))
    w[0::2, :10] = 1
    w[1:11:2, 10:] = 1
    bundle = eie.compress([w], None, n_pe=2, fifo_depth=1, balance=False)
    act = np.ones(90, dtype=np.int64)
    base = _check_layer(bundle.layers[0], bundle.hw, act)
    study = cycle_model.layer_cycles(bundle.layers[0], bundle.hw, act, empty_skips_credit=True)
    assert list(base.work) == [400, 400]
    assert study.cycles < base.cycles - 40
    assert study.compute_cycles < 400 + 40


def test_all_zero_input_costs_scan_and_writeback():
    w = np.ones((10, 33))
    hw_bundle = eie.compress([w], None, n_pe=4)
    t = Timing(hw_bundle.hw)
    m = _check_layer(hw_bundle.layers[0], hw_bundle.hw, np.zeros(33, dtype=np.int64))
    rows_in, rows_out = 9, 3
    assert m.cycles == t.scan_start + rows_in + 1 + rows_out + t.writeback_latency
    assert m.broadcasts == 0 and m.ideal == 0


def test_timing_constants():
    t = Timing(HwConfig(n_pe=64, spmat_words=8, ptr_depth=8, act_depth=8, fifo_depth=8))
    assert (t.tree_stages, t.bcast_latency, t.queue_latency, t.credits) == (3, 4, 9, 18)
    assert Timing(HwConfig(n_pe=1, spmat_words=8, ptr_depth=8, act_depth=8)).tree_stages == 1
    assert Timing(HwConfig(n_pe=5, spmat_words=8, ptr_depth=8, act_depth=8)).tree_stages == 2
    # The idle flags' AND takes a group register above 16 PEs.
    assert t.idle_latency == 2
    assert Timing(HwConfig(n_pe=16, spmat_words=8, ptr_depth=8, act_depth=8)).idle_latency == 1


def test_report_sums_over_batch(rng):
    w, b = random_layers(rng, [24, 16, 8], density=0.4)
    bundle = eie.compress(w, b, n_pe=3)
    x = rng.normal(size=(4, 24))
    _, rep = eie.simulate(bundle, x)
    codes, _ = golden.quantize_input(bundle, x)
    acts = golden.forward(bundle, codes)
    singles = []
    for i in range(4):
        _, r = eie.simulate(bundle, x[i])
        singles.append(r["cycles"])
        for l, layer in enumerate(bundle.layers):
            _check_layer(layer, bundle.hw, acts[l][i])
    assert rep["cycles"] == sum(singles) == sum(rep["per_input"])
    assert rep["cycles"] == sum(l["cycles"] for l in rep["layers"]) + \
        4 * cycle_model.RUN_OVERHEAD
    assert [l["name"] for l in rep["layers"]] == ["fc1", "fc2"]
