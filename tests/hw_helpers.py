"""Helpers shared by the gateware tests (Amaranth's simulator)."""

import numpy as np
from amaranth.sim import Simulator

from eie.gen.verilog import default_max_layers
from eie.hw.eie import EIE
from eie.sim import cycle_model, golden
from eie.sim.amaranth_port import AmaranthPort
from eie.sim.host import HostDriver


def run_sim(dut, *testbenches, background=()):
    """Run ``testbenches`` (async functions of ctx) on ``dut`` with a clock."""
    sim = Simulator(dut)
    sim.add_clock(1e-8, if_exists=True)
    for tb in background:
        sim.add_process(tb)
    for tb in testbenches:
        sim.add_testbench(tb)
    sim.run()


def run_eie(bundle, codes, bake=False, max_layers=None):
    """Run input codes (batch, n_in) on the gateware through the host driver.

    Returns outputs (hardware order), per-input cycles and per-layer cycles.
    """
    max_layers = max_layers or default_max_layers(len(bundle.layers))
    dut = EIE(bundle.hw, max_layers=max_layers, bundle=bundle if bake else None)
    results = []

    async def testbench(ctx):
        driver = HostDriver(AmaranthPort(ctx, dut), bundle, dut.geometry)
        await driver.check_info()
        if not bake:
            await driver.load_model()
        run = driver.run_sequence if bundle.recurrent else driver.run
        for b in range(codes.shape[0]):
            results.append(await run(codes[b]))

    run_sim(dut, testbench)
    y = np.array([r[0] for r in results])
    return y, np.array([r[1] for r in results]), np.array([r[2] for r in results])


def check_against_models(bundle, codes, bake=False):
    """The gateware's outputs and counters equal the golden and cycle models."""
    acts = golden.forward(bundle, codes)
    y, cycles, layer_cycles = run_eie(bundle, codes, bake=bake)
    np.testing.assert_array_equal(y, acts[-1])
    per_item = cycle_model.run_cycles(bundle, acts)
    for b, items in enumerate(per_item):
        assert [i.cycles for i in items] == layer_cycles[b].tolist()
        assert sum(i.cycles for i in items) + cycle_model.RUN_OVERHEAD == cycles[b]
    return y, cycles, layer_cycles


def check_sequences_against_models(bundle, codes):
    """A model with LSTM layers: the gateware equals the models on every step."""
    y_model, acts = golden.forward_sequence(bundle, codes)
    y, cycles, layer_cycles = run_eie(bundle, codes)
    np.testing.assert_array_equal(y, y_model)
    for b in range(codes.shape[0]):
        steps = cycle_model.sequence_cycles(bundle, acts, b)
        assert cycles[b].tolist() == [cycle_model.step_cycles(bundle, s) for s in steps]
        assert layer_cycles[b].tolist() == [sum(s[l].cycles for s in steps)
                                            for l in range(len(bundle.layers))]
    return y, cycles, layer_cycles
