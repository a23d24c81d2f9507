"""LNZD tree: the lowest valid leaf, its value and the tag, ``latency`` cycles later."""

import numpy as np
import pytest
from amaranth.hdl import Module, Signal
from hw_helpers import run_sim

from eie.hw.lnzd import LnzdTree, tree_levels, without_lowest


@pytest.mark.parametrize("onehot", [False, True])
@pytest.mark.parametrize("n,comb", [(1, 0), (2, 0), (4, 0), (5, 0), (16, 0), (17, 0), (64, 0),
                                    (17, 1), (32, 1), (64, 2)])
def test_tree_selects_lowest_valid(n, comb, onehot):
    # ``comb`` root levels without a register (the scanner's above 16 PEs).
    rng = np.random.default_rng(n)
    dut = LnzdTree(n, value_width=16, tag_width=12, onehot=onehot, comb_levels=comb)
    assert tree_levels(n) == max(1, int(np.ceil(np.log(n) / np.log(4) - 1e-9)))
    assert dut.latency == tree_levels(n) - comb
    cycles = 60
    valid = (rng.random((cycles, n)) < rng.choice([0.0, 0.05, 0.3], size=(cycles, 1)))
    if onehot:      # at most one valid leaf, anywhere
        valid &= np.cumsum(valid, axis=1) == 1
        assert valid.sum(axis=1).max() <= 1
    values = rng.integers(-32768, 32768, (cycles, n))
    tags = rng.integers(0, 4096, cycles)
    seen = []

    async def tb(ctx):
        for t in range(cycles + dut.latency):
            if t < cycles:
                ctx.set(dut.valid, int(sum(1 << k for k in range(n) if valid[t, k])))
                for k in range(n):
                    ctx.set(dut.value[k], int(values[t, k]))
                ctx.set(dut.tag, int(tags[t]))
            await ctx.delay(1e-9)
            if t >= dut.latency:
                seen.append((ctx.get(dut.out_valid), ctx.get(dut.out_index),
                             ctx.get(dut.out_value), ctx.get(dut.out_tag)))
            await ctx.tick()

    run_sim(dut, tb)
    for t, (ov, oi, oval, otag) in enumerate(seen):
        assert otag == tags[t]
        hits = np.flatnonzero(valid[t])
        assert ov == (hits.size > 0)
        if hits.size:
            assert (oi, oval) == (hits[0], values[t, hits[0]] & 0xFFFF)


def test_without_lowest():
    m = Module()
    x = Signal(9)
    y = Signal(9)
    m.d.comb += y.eq(without_lowest(x))

    async def tb(ctx):
        for v in range(512):
            ctx.set(x, v)
            assert ctx.get(y) == v - (v & -v)     # the lowest set bit cleared

    from amaranth.sim import Simulator
    sim = Simulator(m)
    sim.add_testbench(tb)
    sim.run()


def test_bad_parameters():
    with pytest.raises(ValueError, match="n_leaves"):
        LnzdTree(0)
    with pytest.raises(ValueError, match="value_width"):
        LnzdTree(4, value_width=0)
    with pytest.raises(ValueError, match=r"comb_levels must be an integer in \[0, 2\]"):
        LnzdTree(32, comb_levels=3)
