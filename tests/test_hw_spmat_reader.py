"""Sparse-matrix read unit: one entry per cycle, no bubble at column or word
boundaries, entries decoded to (codebook index, local row)."""

import numpy as np
import pytest
from hw_helpers import run_sim

from eie.config import HwConfig
from eie.gen.encode import decode_pe, encode_layer, pack_words
from eie.hw.geometry import Geometry
from eie.hw.spmat_reader import SpmatReader


# (first word, memory depth, load): one bank; the column data across the
# boundary of two 512-word banks, in a memory whose last bank is partial, baked
# or written by the host.
@pytest.mark.parametrize("offset, depth, load", [
    (0, 0, "init"), (505, 1100, "init"), (1020, 1100, "host")])
def test_entries_back_to_back_and_decoded(offset, depth, load):
    rng = np.random.default_rng(5)
    n_rows, n_cols = 70, 12
    idx = np.where(rng.random((n_rows, n_cols)) < 0.15, rng.integers(1, 16, (n_rows, n_cols)), 0)
    idx[:, 3] = 0                      # an empty column
    idx[:40, 5] = 0                    # a long zero run (padding)
    r, c = np.nonzero(idx)
    entries, ptr = encode_layer(r, c, idx[r, c], n_rows, n_cols, 1)
    entries, ptr = entries[0], ptr[0]
    words = pack_words(entries, -(-entries.size // 8))
    words = np.concatenate([np.zeros(offset, dtype=words.dtype), words])
    ptr = ptr + 8 * offset
    g = Geometry(HwConfig(n_pe=1, spmat_words=max(8, depth, words.size), ptr_depth=16,
                          act_depth=128))
    dut = SpmatReader(g, init=words if load == "init" else None)
    decoded = []

    async def feeder(ctx):
        if load == "host":
            for a in range(offset, words.size):
                ctx.set(dut.host_we, 1)
                ctx.set(dut.host_addr, a)
                ctx.set(dut.host_data, int(words[a]))
                await ctx.tick()
            ctx.set(dut.host_we, 0)
        # The queue head: all columns available from the start.
        col = 0
        while col < n_cols:
            ctx.set(dut.head_rdy, 1)
            ctx.set(dut.head.start, int(ptr[col]))
            ctx.set(dut.head.length, int(ptr[col + 1] - ptr[col]))
            ctx.set(dut.head.empty, int(ptr[col + 1] == ptr[col]))
            ctx.set(dut.head.value, col + 1)
            await ctx.delay(1e-9)
            if ctx.get(dut.head_pop):
                col += 1
            await ctx.tick()
        ctx.set(dut.head_rdy, 0)

    async def monitor(ctx):
        for t in range(entries.size + words.size + 30):
            await ctx.delay(2e-9)
            if ctx.get(dut.entry_valid):
                decoded.append((t, ctx.get(dut.entry_index), ctx.get(dut.entry_row),
                                ctx.get(dut.entry_value)))
            await ctx.tick()

    run_sim(dut, feeder, monitor)
    assert len(decoded) == entries.size
    t0 = decoded[0][0]
    assert [d[0] for d in decoded] == list(range(t0, t0 + entries.size))   # no bubble
    rows, cols, vals = decode_pe(entries, ptr - 8 * offset, n_rows, "test")
    real = [d for d in decoded if d[1] != 0]
    assert [(d[1], d[2], d[3]) for d in real] == \
        [(int(v), int(r), int(c) + 1) for r, c, v in zip(rows, cols, vals)]
