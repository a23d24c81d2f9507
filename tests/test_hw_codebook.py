"""Codebook: every layer's 16 weights in one store, the running layer's in each PE."""

import numpy as np
import pytest
from hw_helpers import run_sim

from eie.config import HwConfig
from eie.hw.codebook import LOAD_CYCLES, Codebook, CodebookStore
from eie.hw.geometry import Geometry


def _geometry():
    return Geometry(HwConfig(n_pe=1, spmat_words=8, ptr_depth=8, act_depth=4), max_layers=3)


@pytest.mark.parametrize("baked", [False, True])
def test_store_reloads_the_running_layer(baked):
    rng = np.random.default_rng(2)
    g = _geometry()
    table = rng.integers(-32768, 32768, (3, 16))
    table[:, 0] = 0
    store = CodebookStore(g, init=table.ravel().tolist() if baked else None)

    async def tb(ctx):
        if not baked:
            for a, w in enumerate(table.ravel()):
                ctx.set(store.host_we, 1)
                ctx.set(store.host_addr, a)
                ctx.set(store.host_data, int(w) & 0xFFFF)
                await ctx.tick()
            ctx.set(store.host_we, 0)
            await ctx.tick()
        for layer in (2, 0, 1):
            ctx.set(store.layer, layer)
            ctx.set(store.layer_go, 1)
            seen = {}
            for cycle in range(LOAD_CYCLES + 4):
                await ctx.tick()
                ctx.set(store.layer_go, 0)
                if ctx.get(store.load_we):
                    seen[ctx.get(store.load_addr)] = (cycle, ctx.get(store.load_data))
            # Entry i is registered at the end of layer cycle i.
            assert seen == {v: (v, int(table[layer, v])) for v in range(16)}

    run_sim(store, tb)


def test_pe_copy_reads_what_was_loaded():
    rng = np.random.default_rng(3)
    dut = Codebook(_geometry())
    weights = rng.integers(-32768, 32768, 16)

    async def tb(ctx):
        for v, w in enumerate(weights):
            ctx.set(dut.load_we, 1)
            ctx.set(dut.load_addr, v)
            ctx.set(dut.load_data, int(w))
            await ctx.tick()
        ctx.set(dut.load_we, 0)
        for v in range(16):
            ctx.set(dut.index, v)
            assert ctx.get(dut.weight) == weights[v]

    run_sim(dut, tb)
