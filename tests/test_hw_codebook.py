"""Codebook lookup: per layer 16 weights, loaded by the host or baked."""

import numpy as np
import pytest
from hw_helpers import run_sim

from eie.config import HwConfig
from eie.hw.codebook import Codebook
from eie.hw.geometry import Geometry


@pytest.mark.parametrize("baked", [False, True])
def test_lookup_loaded_and_baked(baked):
    rng = np.random.default_rng(2)
    g = Geometry(HwConfig(n_pe=1, spmat_words=8, ptr_depth=8, act_depth=4), max_layers=3)
    table = rng.integers(-32768, 32768, (3, 16))
    table[:, 0] = 0
    dut = Codebook(g, init=table.ravel().tolist() if baked else None)

    async def tb(ctx):
        if not baked:
            for a, w in enumerate(table.ravel()):
                ctx.set(dut.host_we, 1)
                ctx.set(dut.host_addr, a)
                ctx.set(dut.host_data, int(w) & 0xFFFF)
                await ctx.tick()
            ctx.set(dut.host_we, 0)
        for layer in range(3):
            for v in range(16):
                ctx.set(dut.layer, layer)
                ctx.set(dut.index, v)
                assert ctx.get(dut.weight) == table[layer, v]

    run_sim(dut, tb)
