"""Control unit: layer sequencing, writeback walk, counters and the layer table."""

from hw_helpers import run_sim

from eie.config import HwConfig
from eie.hw.arith import WRITEBACK_LATENCY
from eie.hw.control import Control
from eie.hw.geometry import Geometry, Reg, flags_value


def test_layers_writeback_and_counters():
    g = Geometry(HwConfig(n_pe=2, spmat_words=8, ptr_depth=8, act_depth=8), max_layers=4)
    table = {"n_in": [5, 7], "rows_in": [3, 4], "rows_out": [4, 2], "ptr_base": [0, 6],
             "spmat_base": [0, 3], "bias_base": [0, 0],
             "flags": [flags_value(True, False, 3), flags_value(False, False, 0)]}
    dut = Control(g, table_init=table, n_layers_init=2)
    # The datapath: the scan takes `scan[l]` cycles after cycle 0, the PEs are
    # busy `busy[l]` cycles more.
    scan, busy = [4, 2], [3, 0]
    log = []

    async def tb(ctx):
        ctx.set(dut.host_we_ctrl, 1)
        ctx.set(dut.host_offset, Reg.CONTROL)
        ctx.set(dut.host_data, 1)
        await ctx.tick()
        ctx.set(dut.host_we_ctrl, 0)
        assert not ctx.get(dut.busy)        # host writes land a cycle later
        await ctx.tick()
        t = 0
        layer_start = None
        predicted = None
        while ctx.get(dut.busy):
            if ctx.get(dut.layer_go):
                layer_start = t
                index = ctx.get(dut.layer.index)
                log.append(("go", t, index, ctx.get(dut.layer.src), ctx.get(dut.layer.n_in)))
            since = t - layer_start
            ctx.set(dut.scan_done, since > scan[index])
            ctx.set(dut.all_idle, since > scan[index] + busy[index])
            await ctx.delay(1e-9)
            valid = ctx.get(dut.wb_valid)
            if valid:
                log.append(("wb", t, index, ctx.get(dut.wb_row)))
            # The PEs' registers of wb_valid and wb_row take the "next" values.
            if predicted is not None:
                assert predicted[0] == valid
                assert not valid or predicted[1] == ctx.get(dut.wb_row)
            predicted = (ctx.get(dut.wb_valid_next), ctx.get(dut.wb_row_next))
            await ctx.tick()
            t += 1
        assert ctx.get(dut.done)
        ctx.set(dut.host_offset, Reg.CYCLES)
        log.append(("cycles", ctx.get(dut.ctrl_rdata)))
        for l in range(2):
            ctx.set(dut.host_offset, Reg.LAYER_CYCLES + l)
            log.append(("layer", l, ctx.get(dut.ctrl_rdata)))

    run_sim(dut, tb)
    go = [e for e in log if e[0] == "go"]
    assert [(e[2], e[3], e[4]) for e in go] == [(0, 0, 5), (1, 1, 7)]
    # Layer 0: Y = first cycle with scan done and idle = scan + busy + 1 after cycle 0.
    y0 = scan[0] + busy[0] + 1
    wb0 = [e for e in log if e[0] == "wb" and e[2] == 0]
    assert [(e[1], e[3]) for e in wb0] == [(y0 + 1 + r, r) for r in range(4)]
    layer0 = y0 + 1 + 4 + WRITEBACK_LATENCY
    assert go[1][1] == go[0][1] + layer0
    y1 = scan[1] + busy[1] + 1
    layer1 = y1 + 1 + 2 + WRITEBACK_LATENCY
    assert ("layer", 0, layer0) in log and ("layer", 1, layer1) in log
    assert ("cycles", 1 + layer0 + layer1) in log


def test_no_layers_finishes_at_once():
    g = Geometry(HwConfig(n_pe=1, spmat_words=8, ptr_depth=8, act_depth=8))
    dut = Control(g)

    async def tb(ctx):
        ctx.set(dut.host_we_ctrl, 1)
        ctx.set(dut.host_offset, Reg.CONTROL)
        ctx.set(dut.host_data, 1)
        await ctx.tick()
        ctx.set(dut.host_we_ctrl, 0)
        await ctx.tick()
        assert not ctx.get(dut.busy) and ctx.get(dut.done)

    run_sim(dut, tb)


def test_first_layer_register():
    """FIRST_LAYER = 1 of 3 runs layers 1 and 2 only, layer 1 reading file 1
    (layer l reads file l % 2 whatever the run starts from); FIRST_LAYER at or
    past N_LAYERS finishes at once."""
    g = Geometry(HwConfig(n_pe=1, spmat_words=8, ptr_depth=8, act_depth=8), max_layers=4)
    table = {"n_in": [3, 5, 7], "rows_in": [3, 5, 7], "rows_out": [5, 7, 2],
             "ptr_base": [0, 2, 4], "spmat_base": [0, 1, 2], "bias_base": [0, 0, 0],
             "flags": [0, 0, 0]}
    dut = Control(g, table_init=table, n_layers_init=3)
    go = []

    async def write(ctx, reg, value):
        ctx.set(dut.host_we_ctrl, 1)
        ctx.set(dut.host_offset, reg)
        ctx.set(dut.host_data, value)
        await ctx.tick()
        ctx.set(dut.host_we_ctrl, 0)
        await ctx.tick()

    async def tb(ctx):
        await write(ctx, Reg.FIRST_LAYER, 1)
        ctx.set(dut.host_offset, Reg.FIRST_LAYER)
        assert ctx.get(dut.ctrl_rdata) == 1
        await write(ctx, Reg.CONTROL, 1)
        ctx.set(dut.scan_done, 1)
        ctx.set(dut.all_idle, 1)
        while ctx.get(dut.busy):
            if ctx.get(dut.layer_go):
                go.append((ctx.get(dut.layer.index), ctx.get(dut.layer.src),
                           ctx.get(dut.layer.n_in)))
            await ctx.tick()
        assert ctx.get(dut.done)
        await write(ctx, Reg.FIRST_LAYER, 3)
        await write(ctx, Reg.CONTROL, 1)
        assert not ctx.get(dut.busy) and ctx.get(dut.done)

    run_sim(dut, tb)
    assert go == [(1, 1, 5), (2, 0, 7)]
