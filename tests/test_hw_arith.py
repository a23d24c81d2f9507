"""Arithmetic unit and output stage against the golden model's numerics."""

import numpy as np
import pytest
from hw_helpers import run_sim

from eie.config import HwConfig
from eie.hw.arith import WRITEBACK_LATENCY, ArithUnit, OutputStage
from eie.hw.bram import uses_lut_ram
from eie.hw.geometry import Geometry
from eie.sim.golden import output_stage


@pytest.mark.parametrize("width", [33, 49, 65])
def test_output_stage(width):
    rng = np.random.default_rng(width)
    dut = OutputStage(width)
    lim = 1 << min(width - 2, 62)
    xs = np.concatenate([rng.integers(-lim, lim, 300), [0, 1, -1, 32767, -32768, 32768,
                                                        -32769, lim - 1, -lim]])
    shifts = [int(rng.integers(0, width - 2)) if i % 3 else i % 2 for i in range(xs.size)]
    relus = [bool(i % 2) for i in range(xs.size)]
    got = []

    async def tb(ctx):
        # One value per cycle; shift and ReLU change every cycle.
        for t in range(xs.size + OutputStage.LATENCY):
            if t < xs.size:
                ctx.set(dut.valid, 1)
                ctx.set(dut.x, int(xs[t]))
                ctx.set(dut.shift, shifts[t])
                ctx.set(dut.relu, relus[t])
            else:
                ctx.set(dut.valid, 0)
            await ctx.tick()
            if ctx.get(dut.y_valid):
                got.append(ctx.get(dut.y))
                assert ctx.get(dut.y_nz) == (got[-1] != 0)

    run_sim(dut, tb)
    want = [int(output_stage(np.array([x]), s, r)[0]) for x, s, r in zip(xs, shifts, relus)]
    assert got == want


@pytest.mark.parametrize("width", [33, 49])
def test_output_stage_boundaries(width):
    """Every shift, around each value where rounding or saturation changes:
    the int16 limits shifted, and the rounding bit on either side."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    cases = []
    for s in range(width - 2):
        half = 1 << (s - 1) if s else 0
        for base in (32767 << s, 32768 << s, -(32768 << s), -(32769 << s), 0, 1 << s):
            for d in (-half - 1, -half, -1, 0, 1, half - 1, half, half + 1):
                x = base + d
                if lo <= x <= hi:
                    cases += [(x, s, False), (x, s, True)]
    dut = OutputStage(width)
    got = []

    async def tb(ctx):
        for t in range(len(cases) + OutputStage.LATENCY):
            ctx.set(dut.valid, t < len(cases))
            if t < len(cases):
                x, s, r = cases[t]
                ctx.set(dut.x, x)
                ctx.set(dut.shift, s)
                ctx.set(dut.relu, r)
            await ctx.tick()
            if ctx.get(dut.y_valid):
                got.append((ctx.get(dut.y), ctx.get(dut.y_nz)))

    run_sim(dut, tb)
    want = [int(output_stage(np.array([x]), s, r)[0]) for x, s, r in cases]
    assert [y for y, _ in got] == want
    assert [nz for _, nz in got] == [y != 0 for y in want]


async def writeback(ctx, dut, rows):
    """Walk ``rows`` local rows through writeback; returns {row: output}."""
    out = {}
    for r in range(rows + WRITEBACK_LATENCY):
        ctx.set(dut.wb_valid, r < rows)
        ctx.set(dut.wb_row, r % rows)
        await ctx.tick()
        if ctx.get(dut.y_valid):
            out[ctx.get(dut.y_row)] = ctx.get(dut.y)
    ctx.set(dut.wb_valid, 0)
    return out


@pytest.mark.parametrize("act_depth", [8, 64])
def test_accumulate_bypass_bias_and_writeback(act_depth):
    rng = np.random.default_rng(1)
    hw = HwConfig(n_pe=1, spmat_words=8, ptr_depth=8, act_depth=act_depth, bias_depth=8,
                  acc_width=40)
    # 8 rows are LUT RAM on the ECP5, read two cycles later than block RAM
    # (64 rows): two results are forwarded instead of four.
    assert uses_lut_ram(act_depth, 40) == (act_depth == 8)
    bias = [int(b) for b in rng.integers(-1000, 1000, 8)]
    dut = ArithUnit(Geometry(hw), bias_init=bias)
    # Back-to-back entries on the same row, rows revisited one to four cycles
    # apart (forwarded from the result registers, then read from memory).
    rows = [0, 0, 0, 1, 0, 1, 2, 2, 7, 7, 3, 7, 4, 5, 6, 4, 5, 4, 1, 3, 2, 6, 1]
    weights = [int(w) for w in rng.integers(-30000, 30000, len(rows))]
    values = [int(v) for v in rng.integers(-30000, 30000, len(rows))]
    acc = np.zeros(8, dtype=np.int64)
    for r, w, v in zip(rows, weights, values):
        acc[r] += w * v
    out = {}

    async def tb(ctx):
        for r, w, v in zip(rows, weights, values):
            ctx.set(dut.entry_valid, 1)
            ctx.set(dut.entry_row, r)
            ctx.set(dut.weight, w)
            ctx.set(dut.entry_value, v)
            await ctx.tick()
        ctx.set(dut.entry_valid, 0)
        await ctx.tick().repeat(3)
        assert ctx.get(dut.idle)
        ctx.set(dut.shift, 20)
        ctx.set(dut.has_bias, 1)
        out.update(await writeback(ctx, dut, 8))
        # Accumulators were cleared: a second writeback without bias gives zeros.
        ctx.set(dut.has_bias, 0)
        assert set((await writeback(ctx, dut, 8)).values()) == {0}

    run_sim(dut, tb)
    want = output_stage(acc + np.array(bias), 20, False)
    assert [out[r] for r in range(8)] == want.tolist()
