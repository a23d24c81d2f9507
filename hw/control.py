"""Central control: layer sequencing, start/busy/done, cycle counters, layer table.

A run starts when the host's write of ``start`` lands (host writes are
registered here, a cycle after the port); that cycle loads the parameters of
layer ``FIRST_LAYER`` (0 unless the host sets it; the run's one cycle of
overhead).  A run goes through layers ``FIRST_LAYER .. N_LAYERS - 1``: the
host runs a model with LSTM layers one segment at a time
(:func:`eie.recurrent.segments`), with its gate arithmetic in between, and
nothing is reloaded.  Layer ``l`` reads activation file ``l % 2`` and writes
the other, whichever layer the run starts from.  Each layer then goes through:

* compute, from its cycle 0 (``layer_go``: the scanner reads row 0) until the
  first cycle ``Y`` at which the scan is done and every PE is idle;
* writeback, local rows ``0 .. rows_out - 1`` read at ``Y + 1 ..``, written to
  the destination files ``WRITEBACK_LATENCY`` cycles later.

The layer's last cycle loads the next layer's parameters (source and
destination files swap) or ends the run.  ``cycles`` counts from the start
cycle to the last cycle; ``layer_cycles[l]`` counts layer ``l``.
"""

from amaranth.hdl import Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .arith import WRITEBACK_LATENCY
from .geometry import Geometry, Reg, info_words

__all__ = ["Control"]


class Control(wiring.Component):
    """The central control unit.

    Parameters
    ----------
    geometry : eie.hw.geometry.Geometry
    table_init : dict of str to list of int, optional
        Layer table contents per field (:attr:`Geometry.LAYER_FIELDS`), baked model.
    n_layers_init : int
        Reset value of the layer count.

    Members
    -------
    layer : Out(Geometry.layer_layout)
        The running layer's parameters (registered).
    layer_go : Out(1)
        Cycle 0 of a layer.
    wb_valid, wb_row : Out
        Writeback read of a local row.
    wb_valid_next, wb_row_next : Out
        What ``wb_valid`` and ``wb_row`` are the next cycle, for a top that
        gives each PE registers of its own (the PEs drive their accumulator
        block RAMs' addresses with them).
    scan_done, all_idle : In(1)
        From the scanner and the PEs.
    busy, done : Out(1)
        A run is in progress; the last run has finished (until the next start).
    host_we_ctrl, host_re_ctrl, host_we_layer, host_offset, host_data : In
        Host access to the registers (:class:`~eie.hw.geometry.Reg`) and the
        table.  A write takes effect a cycle later (it is registered first).
    ctrl_rdata : Out(64)
        Register read data (combinational from ``host_offset``).
    """

    def __init__(self, geometry, table_init=None, n_layers_init=0):
        self._g = geometry
        self._table_init = table_init or {}
        self._n_layers_init = n_layers_init
        g = geometry
        super().__init__({
            "layer": Out(g.layer_layout),
            "layer_go": Out(1),
            "wb_valid": Out(1),
            "wb_row": Out(g.act_addr_width),
            "wb_valid_next": Out(1),
            "wb_row_next": Out(g.act_addr_width),
            "scan_done": In(1),
            "all_idle": In(1),
            "busy": Out(1),
            "done": Out(1),
            "host_we_ctrl": In(1),
            "host_we_layer": In(1),
            "host_offset": In(g.host.offset_bits),
            "host_data": In(64),
            "ctrl_rdata": Out(64),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._g
        hw = g.hw

        # Host writes are registered here first (the host port comes from the
        # far side of the device, and a start fans out to every layer
        # register): they land a cycle later.  Reads use the port as it is.
        we_ctrl, we_layer = Signal(), Signal()
        offset = Signal.like(self.host_offset)
        wdata = Signal.like(self.host_data)
        m.d.sync += [we_ctrl.eq(self.host_we_ctrl), we_layer.eq(self.host_we_layer),
                     offset.eq(self.host_offset), wdata.eq(self.host_data)]
        # The start write is decoded before its register: a start loads every
        # layer register, and at 2 PEs its decode behind the register was the
        # critical path (6 LUT levels into the layer registers' enable).
        start_write = Signal()
        m.d.sync += start_write.eq(self.host_we_ctrl & (self.host_offset == Reg.CONTROL)
                                   & self.host_data[0])

        # Layer table: one small memory per field, read asynchronously.
        busy = self.busy
        table_addr = Signal(g.layer_width)
        first_layer = Signal(g.layer_width)     # a run goes from here to n_layers - 1
        m.d.comb += table_addr.eq(Mux(busy, self.layer.index + 1, first_layer))
        entry = {}
        n_fields = len(Geometry.LAYER_FIELDS)
        for f, name in enumerate(Geometry.LAYER_FIELDS):
            m.submodules[f"table_{name}"] = mem = Memory(
                shape=g.layer_field_width(name), depth=g.max_layers,
                init=self._table_init.get(name, []))
            wp = mem.write_port()
            rp = mem.read_port(domain="comb")
            m.d.comb += [
                wp.addr.eq(offset[3:]),
                wp.data.eq(wdata),
                wp.en.eq(we_layer & (offset[:3] == f)),
                rp.addr.eq(table_addr),
            ]
            entry[name] = rp.data
        assert n_fields <= 8

        n_layers = Signal(g.layer_width + 1, init=self._n_layers_init)
        phase_wb = Signal()
        t = Signal(g.cycle_width)
        total = Signal(g.cycle_width)
        runs = Signal(32)
        # Counts past the last row by the writeback latency: sized for both.
        wb_i = Signal(range(hw.act_depth + WRITEBACK_LATENCY + 1))
        # Registered facts, each computed the cycle before it is used (the
        # decisions below fan out to every PE and to the layer registers):
        # ``wb_on`` is ``wb_i < rows_out``, ``wb_end`` is ``wb_i == rows_out +
        # WRITEBACK_LATENCY - 1``, ``more`` is ``layer.index + 1 < n_layers``.
        wb_on = Signal()
        # What the PEs' registers of wb_valid and wb_row take comes from
        # registers too: ``wb_more`` is ``wb_i + 1 < rows_out``, ``wb_next``
        # is ``wb_i + 1``; ``rows_out_nz`` and ``rows_out_many`` are
        # ``rows_out != 0`` and ``rows_out > 1`` (a cycle after the layer's
        # parameters; the writeback starts at cycle 1 or later).
        wb_more = Signal()
        wb_next = Signal.like(wb_i)
        rows_out_nz = Signal()
        rows_out_many = Signal()
        m.d.sync += [rows_out_nz.eq(self.layer.rows_out != 0),
                     rows_out_many.eq(self.layer.rows_out > 1)]
        first = Signal()            # t == 0
        wb_end = Signal()
        more = Signal()
        m.submodules.layer_cycles = lc_mem = Memory(shape=g.cycle_width, depth=g.max_layers,
                                                    init=[])
        lc_wp = lc_mem.write_port()
        lc_rp = lc_mem.read_port(domain="comb")

        def load_layer(index, src):
            stmts = [self.layer.index.eq(index), self.layer.src.eq(src)]
            for name in Geometry.LAYER_FIELDS:
                if name == "flags":
                    stmts.append(self.layer.flags.eq(entry[name]))
                else:
                    stmts.append(getattr(self.layer, name).eq(entry[name]))
            return stmts

        start = Signal()
        m.d.comb += [
            start.eq(start_write & ~busy),
            # ``first`` is set only with busy and the compute phase.
            self.layer_go.eq(first),
            lc_wp.addr.eq(self.layer.index),
            lc_wp.data.eq(t + 1),
        ]
        with m.If(start):
            with m.If(n_layers <= first_layer):
                m.d.sync += [self.done.eq(1), total.eq(1)]
            with m.Else():
                m.d.sync += [busy.eq(1), self.done.eq(0), t.eq(0), first.eq(1), total.eq(1),
                             phase_wb.eq(0), more.eq(first_layer + 1 < n_layers)]
                # Layer l reads file l % 2 and writes the other, whichever layer
                # the run starts from.
                m.d.sync += load_layer(first_layer, first_layer[0])
        with m.Elif(busy):
            m.d.sync += [total.eq(total + 1), t.eq(t + 1), first.eq(0)]
            with m.If(~phase_wb):
                with m.If(~self.layer_go & self.scan_done & self.all_idle):
                    m.d.sync += [phase_wb.eq(1), wb_i.eq(0), wb_next.eq(1), wb_on.eq(rows_out_nz),
                                 wb_more.eq(rows_out_many),
                                 wb_end.eq(0)]      # WRITEBACK_LATENCY > 1
                    m.d.comb += self.wb_valid_next.eq(rows_out_nz)
            with m.Else():
                m.d.sync += [
                    wb_i.eq(wb_next),
                    wb_next.eq(wb_next + 1),
                    wb_on.eq(wb_more),
                    wb_more.eq(wb_next + 1 < self.layer.rows_out),
                    wb_end.eq(wb_i == self.layer.rows_out + (WRITEBACK_LATENCY - 2)),
                ]
                m.d.comb += [
                    self.wb_valid.eq(wb_on),
                    self.wb_row.eq(wb_i),
                    # wb_end comes after the last row: wb_more is already low.
                    self.wb_valid_next.eq(wb_more),
                    self.wb_row_next.eq(wb_next),
                ]
                with m.If(wb_end):
                    m.d.comb += lc_wp.en.eq(1)
                    with m.If(more):
                        m.d.sync += [t.eq(0), first.eq(1), phase_wb.eq(0),
                                     more.eq(self.layer.index + 2 < n_layers)]
                        m.d.sync += load_layer(self.layer.index + 1, ~self.layer.src)
                    with m.Else():
                        m.d.sync += [busy.eq(0), self.done.eq(1), runs.eq(runs + 1)]

        # Registers.
        with m.If(we_ctrl & (offset == Reg.N_LAYERS) & ~busy):
            m.d.sync += n_layers.eq(wdata)
        with m.If(we_ctrl & (offset == Reg.FIRST_LAYER) & ~busy):
            m.d.sync += first_layer.eq(wdata)
        info = info_words(hw, g.max_layers)
        m.d.comb += lc_rp.addr.eq(self.host_offset - Reg.LAYER_CYCLES)
        with m.Switch(self.host_offset):
            with m.Case(Reg.CONTROL):
                m.d.comb += self.ctrl_rdata.eq(busy | self.done << 1)
            with m.Case(Reg.N_LAYERS):
                m.d.comb += self.ctrl_rdata.eq(n_layers)
            with m.Case(Reg.FIRST_LAYER):
                m.d.comb += self.ctrl_rdata.eq(first_layer)
            with m.Case(Reg.CYCLES):
                m.d.comb += self.ctrl_rdata.eq(total)
            for reg, value in info.items():
                with m.Case(reg):
                    m.d.comb += self.ctrl_rdata.eq(value)
            with m.Case(Reg.RUNS):
                m.d.comb += self.ctrl_rdata.eq(runs)
            with m.Default():
                m.d.comb += self.ctrl_rdata.eq(lc_rp.data)
        return m
