"""Activation files: source and destination banks swap with ``src``; host access."""

import pytest
from hw_helpers import run_sim

from eie.config import HwConfig
from eie.hw.act_file import ActFile
from eie.hw.geometry import Geometry


async def _registered_read(ctx, en, addr_port, addr):
    """Read ``addr`` through one of the memory's read ports (enable ``en``,
    address ``addr_port``): the word is on the output register a cycle later."""
    ctx.set(en, 1)
    ctx.set(addr_port, addr)
    await ctx.tick()
    ctx.set(en, 0)
    await ctx.tick()


@pytest.mark.parametrize("depth", [8, 6])   # power of two and not
def test_banks_swap_and_host_access(depth):
    g = Geometry(HwConfig(n_pe=1, spmat_words=8, ptr_depth=8, act_depth=depth))
    dut = ActFile(g)

    async def tb(ctx):
        ctx.set(dut.host_mode, 1)
        for a in range(2 * depth):            # host fills both banks
            ctx.set(dut.host_we, 1)
            ctx.set(dut.host_addr, a)
            ctx.set(dut.host_data, 100 + a if a % 3 else 0)
            ctx.set(dut.host_nz, bool(a % 3))
            await ctx.tick()
        ctx.set(dut.host_we, 0)
        ctx.set(dut.host_mode, 0)
        for src in (0, 1):
            ctx.set(dut.src, src)
            await _registered_read(ctx, dut.rd_en, dut.rd_addr, 3)
            a = src * depth + 3
            assert ctx.get(dut.rd_data) == (100 + a if a % 3 else 0)
            assert ctx.get(dut.rd_nz) == bool(a % 3)      # the stored nonzero flag
            ctx.set(dut.wr_en, 1)                 # writes go to the other bank
            ctx.set(dut.wr_addr, 2)
            ctx.set(dut.wr_data, -7 - src)
            ctx.set(dut.wr_nz, 1)
            await ctx.tick()
            ctx.set(dut.wr_en, 0)
        ctx.set(dut.host_mode, 1)
        for bank in (0, 1):
            await _registered_read(ctx, dut.host_re, dut.host_addr, bank * depth + 2)
            assert ctx.get(dut.rd_data) == -7 - (1 - bank)
            assert ctx.get(dut.rd_nz) == 1

    run_sim(dut, tb)


@pytest.mark.parametrize("bias_depth", [20, 90])   # at 2 * depth by its bits, and by a sum
def test_bias_rows_above_the_banks(bias_depth):
    # 32 rows of 36-bit accumulators: the bias rows share the block RAM.  The
    # host writes activations and bias rows; the writeback's reads of bias rows
    # (bias_re) and the scanner's reads of activations see their own words.
    hw = HwConfig(n_pe=1, spmat_words=8, ptr_depth=8, act_depth=32, acc_width=36,
                  bias_depth=bias_depth)
    g = Geometry(hw)
    assert g.bias_in_act_file
    dut = ActFile(g)
    biases = [(-1) ** r * (r * 0x12345 + 0x40000) for r in range(bias_depth)]

    async def tb(ctx):
        ctx.set(dut.host_mode, 1)
        for a in range(64):
            ctx.set(dut.host_we, 1)
            ctx.set(dut.host_addr, a)
            ctx.set(dut.host_data, a + 1)
            ctx.set(dut.host_nz, 1)
            await ctx.tick()
        ctx.set(dut.host_we, 0)
        for r, bias in enumerate(biases):
            word = bias & ((1 << 64) - 1)
            ctx.set(dut.host_we_bias, 1)
            ctx.set(dut.host_bias_addr, r)
            ctx.set(dut.host_data, (word & 0xFFFF) - ((word & 0x8000) << 1))
            ctx.set(dut.host_bias_data, word & ((1 << 36) - 1))
            ctx.set(dut.host_nz, 0)
            await ctx.tick()
        ctx.set(dut.host_we_bias, 0)
        ctx.set(dut.host_mode, 0)
        for r in (0, 1, bias_depth - 1):
            await _registered_read(ctx, dut.bias_re, dut.bias_addr, 64 + r)
            assert ctx.get(dut.bias_data) == biases[r]
        for src in (0, 1):
            ctx.set(dut.src, src)
            await _registered_read(ctx, dut.rd_en, dut.rd_addr, 31)
            assert ctx.get(dut.rd_data) == src * 32 + 32
            assert ctx.get(dut.rd_nz) == 1

    run_sim(dut, tb)
