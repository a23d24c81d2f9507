"""Scanner: nonzero activations broadcast in ascending order at the documented times."""

import numpy as np
import pytest
from hw_helpers import run_sim

from eie.config import HwConfig
from eie.hw.geometry import Geometry
from eie.hw.scanner import Scanner


@pytest.mark.parametrize("n_pe,n_in", [(1, 7), (4, 13), (5, 40), (17, 50), (70, 150)])
def test_broadcast_order_and_timing(n_pe, n_in):
    rng = np.random.default_rng(n_pe)
    hw = HwConfig(n_pe=n_pe, spmat_words=8, ptr_depth=8, act_depth=16)
    g = Geometry(hw)
    t = g.timing
    acts = np.where(rng.random(n_in) < 0.4, rng.integers(-500, 500, n_in), 0)
    rows = -(-n_in // n_pe)
    memory = np.zeros((rows + 1) * n_pe, dtype=np.int64)
    memory[:n_in] = acts
    memory[n_in:] = 9          # beyond n_in: must be masked out
    dut = Scanner(g)
    fired, seen = [], []
    stall = set(rng.choice(200, 40, replace=False).tolist())

    async def tb(ctx):
        ctx.set(dut.n_in, n_in)
        ctx.set(dut.rows_in, rows)
        ctx.set(dut.layer_go, 1)
        addr = None                    # the block RAM's output (held without a read)
        reg = None                     # the PE's register behind it: act_data
        for cyc in range(200):
            if cyc:
                ctx.set(dut.layer_go, 0)
            if reg is not None:        # data two cycles after the address
                for k in range(n_pe):
                    ctx.set(dut.act_data[k], int(memory[reg * n_pe + k]))
                    ctx.set(dut.act_nz[k], int(memory[reg * n_pe + k] != 0))
            reg = addr
            ctx.set(dut.all_credit, cyc not in stall)
            await ctx.delay(1e-9)
            if ctx.get(dut.fire):
                fired.append(cyc)
            if ctx.get(dut.bcast_valid):
                seen.append((cyc, ctx.get(dut.bcast_col), ctx.get(dut.bcast_value)))
            addr = ctx.get(dut.scan_addr) if ctx.get(dut.scan_en) else addr
            await ctx.tick()
        assert ctx.get(dut.scan_done)

    run_sim(dut, tb)
    nz = np.flatnonzero(acts)
    assert [s[1] for s in seen] == nz.tolist()
    assert [s[2] for s in seen] == acts[nz].tolist()
    assert [s[0] for s in seen] == [f + t.bcast_latency for f in fired]
    assert not set(fired) & stall
