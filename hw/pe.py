"""One processing element: its memories and the pipeline from column to accumulator.

::

    broadcast (a, j) ─▶ PtrReader ─▶ ActQueue ─▶ SpmatReader ─▶ Codebook ─▶ ArithUnit
                        (start,end)  (credits)   (entry, row)    (S[v])     (acc += S a)
                                                                               │ writeback
    scanner ◀── ActFile (source bank)              ActFile (destination bank) ◀┘
"""

from amaranth.hdl import Module, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import ACT_BITS
from .act_file import ActFile
from .act_queue import ActQueue
from .arith import ArithUnit
from .codebook import Codebook
from .ptr_reader import PtrReader
from .spmat_reader import SpmatReader

__all__ = ["PE"]


class PE(wiring.Component):
    """A processing element.

    Parameters
    ----------
    geometry : eie.hw.geometry.Geometry
    spmat_init, ptr_init, bias_init : sequence of int, optional
        Memory contents of a baked model.

    Members
    -------
    bcast_valid, bcast_value, bcast_col : In
        The broadcast activation (from the LNZD tree).
    fire : In(1)
        An activation was fired this cycle (takes a credit).
    has_credit, idle : Out(1)
        This PE lets the broadcast fire; this PE has no work in flight.
    credit_if_fire, credit_if_hold : Out(1)
        ``has_credit`` of the next cycle if an activation fires this cycle, and
        if none does (:class:`~eie.hw.act_queue.ActQueue`).
    layer : In(Geometry.layer_layout)
        The running layer's parameters.
    scan_en, scan_addr : In; act_data, act_nz : Out
        Source activation read (scanner), also the host's read data, and its
        nonzero flag (stored with it).
    wb_valid, wb_row : In
        Writeback of a local row.
    cb_we, cb_addr, cb_data : In
        Write of an entry of the PE's copy of the running layer's codebook
        (:class:`~eie.hw.codebook.CodebookStore`).
    host_* : In
        Host writes (and activation reads) selected by the top for this PE;
        ``host_nz`` is ``host_data[:16] != 0`` (an activation's nonzero flag).
    """

    def __init__(self, geometry, spmat_init=None, ptr_init=None, bias_init=None):
        self._g = geometry
        self._inits = (spmat_init, ptr_init, bias_init)
        g = geometry
        super().__init__({
            "bcast_valid": In(1),
            "bcast_value": In(signed(ACT_BITS)),
            "bcast_col": In(g.col_width),
            "fire": In(1),
            "has_credit": Out(1),
            "credit_if_fire": Out(1),
            "credit_if_hold": Out(1),
            "idle": Out(1),
            "layer": In(g.layer_layout),
            "scan_en": In(1),
            "scan_addr": In(g.act_addr_width),
            "act_data": Out(signed(ACT_BITS)),
            "act_nz": Out(1),
            "wb_valid": In(1),
            "wb_row": In(g.act_addr_width),
            "cb_we": In(1),
            "cb_addr": In(4),
            "cb_data": In(g.weight_shape),
            "host_mode": In(1),
            "host_re_act": In(1),
            "host_we_act": In(1),
            "host_we_spmat": In(1),
            "host_we_ptr": In(1),
            "host_we_bias": In(1),
            "host_offset": In(g.host.offset_bits),
            "host_data": In(64),
            "host_nz": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._g
        spmat_init, ptr_init, bias_init = self._inits
        layer = self.layer
        m.submodules.ptr = ptr = PtrReader(g, ptr_init)
        m.submodules.queue = queue = ActQueue(g.item_layout, g.timing.credits)
        m.submodules.spmat = spmat = SpmatReader(g, spmat_init)
        m.submodules.codebook = codebook = Codebook(g)
        shared = g.bias_in_act_file
        m.submodules.arith = arith = ArithUnit(g, None if shared else bias_init)
        m.submodules.acts = acts = ActFile(g, bias_init if shared else None)

        m.d.comb += [
            # Broadcast -> pointer read -> queue.
            ptr.col_valid.eq(self.bcast_valid),
            ptr.col_value.eq(self.bcast_value),
            ptr.col.eq(self.bcast_col),
            ptr.ptr_base.eq(layer.ptr_base),
            ptr.spmat_base.eq(layer.spmat_base),
            queue.fire.eq(self.fire),
            # A column with no entries in this PE is never queued: its credit
            # comes back at once and it costs the PE no cycle.
            queue.w_en.eq(ptr.item_valid),
            queue.drop.eq(ptr.item.empty),
            queue.w_data.eq(ptr.item),
            self.has_credit.eq(queue.has_credit),
            self.credit_if_fire.eq(queue.credit_if_fire),
            self.credit_if_hold.eq(queue.credit_if_hold),
            # Queue -> entries -> codebook -> arithmetic.
            spmat.head_rdy.eq(queue.r_rdy),
            spmat.head.eq(queue.r_data),
            queue.r_en.eq(spmat.head_pop),
            codebook.index.eq(spmat.lookup_index),
            spmat.lookup_weight.eq(codebook.weight),
            arith.entry_valid.eq(spmat.entry_valid),
            arith.entry_row.eq(spmat.entry_row),
            arith.entry_value.eq(spmat.entry_value),
            arith.weight.eq(spmat.entry_weight),
            self.idle.eq(queue.idle & spmat.idle & arith.idle),
            # Writeback.
            arith.wb_valid.eq(self.wb_valid),
            arith.wb_row.eq(self.wb_row),
            arith.shift.eq(layer.flags.shift),
            arith.relu.eq(layer.flags.relu),
            arith.has_bias.eq(layer.flags.has_bias),
            arith.bias_base.eq(layer.bias_base),
            # Activation files.
            acts.src.eq(layer.src),
            acts.rd_en.eq(self.scan_en),
            acts.rd_addr.eq(self.scan_addr),
            self.act_data.eq(acts.rd_data),
            self.act_nz.eq(acts.rd_nz),
            acts.wr_en.eq(arith.y_valid),
            acts.wr_addr.eq(arith.y_row),
            acts.wr_data.eq(arith.y),
            acts.wr_nz.eq(arith.y_nz),
            # Host.
            acts.host_mode.eq(self.host_mode),
            acts.host_re.eq(self.host_re_act),
            acts.host_we.eq(self.host_we_act),
            acts.host_addr.eq(self.host_offset),
            acts.host_data.eq(self.host_data),
            acts.host_nz.eq(self.host_nz),
            spmat.host_we.eq(self.host_we_spmat),
            spmat.host_addr.eq(self.host_offset),
            spmat.host_data.eq(self.host_data),
            ptr.host_we.eq(self.host_we_ptr),
            ptr.host_addr.eq(self.host_offset),
            ptr.host_data.eq(self.host_data),
            *([] if shared else [
                arith.host_we.eq(self.host_we_bias),
                arith.host_addr.eq(self.host_offset),
                arith.host_data.eq(self.host_data),
            ]),
            # The running layer's codebook, reloaded at the start of each layer.
            codebook.load_we.eq(self.cb_we),
            codebook.load_addr.eq(self.cb_addr),
            codebook.load_data.eq(self.cb_data),
        ]
        if shared:
            # The bias rows are the activation files' (eie.hw.act_file).
            m.d.comb += [
                acts.bias_re.eq(self.wb_valid),
                acts.bias_addr.eq(arith.bias_addr),
                arith.bias_data.eq(acts.bias_data),
                acts.host_we_bias.eq(self.host_we_bias),
                acts.host_bias_addr.eq(self.host_offset),
                acts.host_bias_data.eq(self.host_data),
            ]
        return m
