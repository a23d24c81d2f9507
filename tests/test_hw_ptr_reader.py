"""Pointer read unit: start and length of a column from one memory read twice."""

import numpy as np
from hw_helpers import run_sim

from eie.config import HwConfig
from eie.hw.geometry import Geometry
from eie.hw.ptr_reader import PtrReader


def test_start_and_length_from_one_read():
    rng = np.random.default_rng(3)
    g = Geometry(HwConfig(n_pe=2, spmat_words=64, ptr_depth=40, act_depth=16))
    ptrs = np.concatenate([[0], np.cumsum(rng.integers(0, 9, 39))])
    dut = PtrReader(g)
    got = []

    async def tb(ctx):
        for p, v in enumerate(ptrs):                  # host load
            ctx.set(dut.host_we, 1)
            ctx.set(dut.host_addr, p)
            ctx.set(dut.host_data, int(v))
            await ctx.tick()
        ctx.set(dut.host_we, 0)
        ctx.set(dut.spmat_base, 5)
        for base, col in [(0, 0), (0, 1), (3, 4), (10, 28), (6, 32), (0, 38), (1, 0)]:
            ctx.set(dut.ptr_base, base)
            ctx.set(dut.col, col)
            ctx.set(dut.col_value, -col)
            ctx.set(dut.col_valid, 1)
            await ctx.tick()
            ctx.set(dut.col_valid, 0)
            # Registered memory outputs (twice).
            await ctx.tick().repeat(PtrReader.LATENCY - 1)
            assert ctx.get(dut.item_valid)
            got.append((base + col, ctx.get(dut.item.start), ctx.get(dut.item.length),
                        ctx.get(dut.item.empty), ctx.get(dut.item.value)))

    run_sim(dut, tb)
    for p, start, length, empty, value in got:
        assert start == 5 * 8 + ptrs[p]
        assert length == ptrs[p + 1] - ptrs[p]
        assert empty == (length == 0)


def test_baked_init():
    g = Geometry(HwConfig(n_pe=1, spmat_words=8, ptr_depth=8, act_depth=4))
    ptrs = [0, 2, 2, 7, 9, 9, 12, 20]
    dut = PtrReader(g, init=ptrs)

    async def tb(ctx):
        for col in range(7):
            ctx.set(dut.col, col)
            ctx.set(dut.col_valid, 1)
            await ctx.tick().repeat(PtrReader.LATENCY)
            assert (ctx.get(dut.item.start), ctx.get(dut.item.length)) == \
                (ptrs[col], ptrs[col + 1] - ptrs[col])

    run_sim(dut, tb)
