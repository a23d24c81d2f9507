"""Pointer read unit: a column's start and end pointer in one cycle.

For pointer address ``p = ptr_base + j`` the pointer memory is read at ``p``
and ``p + 1`` in the same cycle: one memory with two read ports (on the ECP5
true dual port block RAMs, whose second port also takes the host's writes).
Two banks, even and odd addresses, would do the same with two memories of
half the depth, but a bank that fills half a block RAM still takes a whole
one: at 32 PEs (1024 pointers of 13 bits) that is 2 block RAMs per PE instead
of 1.
"""

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import ACT_BITS, ENTRIES_PER_WORD
from .bram import BlockRAM

__all__ = ["PtrReader"]


class PtrReader(wiring.Component):
    """The pointer memory and the read that turns a column into a queue item.

    Parameters
    ----------
    geometry : eie.hw.geometry.Geometry
    init : sequence of int, optional
        Initial pointer memory contents (``ptr_depth`` pointers, baked model).

    Members
    -------
    col_valid, col_value, col, ptr_base, spmat_base : In
        A broadcast activation ``(value, column)`` and the layer's bases.
    item_valid, item : Out
        Four cycles later (the read address is registered, the memory's outputs
        twice): the queue item (value, absolute start entry, length).
    host_we, host_addr, host_data : In
        Host write of pointer ``host_addr``.

    Latency :attr:`LATENCY` (4), one column per cycle.
    """

    LATENCY = 4

    def __init__(self, geometry, init=None):
        self._g = geometry
        self._init = init
        g = geometry
        super().__init__({
            "col_valid": In(1),
            "col_value": In(signed(ACT_BITS)),
            "col": In(g.col_width),
            "ptr_base": In(g.ptr_addr_width),
            "spmat_base": In(g.word_addr_width),
            "item_valid": Out(1),
            "item": Out(g.item_layout),
            "host_we": In(1),
            "host_addr": In(g.ptr_addr_width),
            "host_data": In(g.ptr_width),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._g
        init = list(self._init) if self._init is not None else []
        m.submodules.mem = mem = BlockRAM(g.ptr_width, g.hw.ptr_depth, init=init,
                                          name="ptrs", read_ports=2)
        m.d.comb += [
            mem.wr_addr.eq(self.host_addr),
            mem.wr_data.eq(self.host_data),
            mem.wr_en.eq(self.host_we),
        ]

        # Cycle +1: the read addresses are registers (the sums are done the
        # cycle before), so the route to block RAMs anywhere on the device has
        # a whole cycle.
        p = Signal(g.ptr_addr_width + 1)
        m.d.comb += p.eq(self.ptr_base + self.col)
        addr_start = Signal.like(mem.rd_addr)
        addr_end = Signal.like(mem.rd2_addr)
        valid0 = Signal()
        value0 = Signal(signed(ACT_BITS))
        m.d.sync += [addr_start.eq(p), addr_end.eq(p + 1),
                     valid0.eq(self.col_valid), value0.eq(self.col_value)]
        m.d.comb += [mem.rd_addr.eq(addr_start), mem.rd2_addr.eq(addr_end)]
        # Cycle +2: the pointers (block RAM clock-to-output), registered
        # twice: the block RAM's own output registers (cycle +3), whose only
        # load is the register below, so nothing has to sit next to the block
        # RAM however far the PE's logic is.
        valid1 = Signal()
        value1 = Signal(signed(ACT_BITS))
        m.d.sync += [valid1.eq(valid0), value1.eq(value0)]
        valid2 = Signal()
        value2 = Signal(signed(ACT_BITS))
        m.d.sync += [valid2.eq(valid1), value2.eq(value1)]
        # Cycle +4: start, length, absolute address.
        value = Signal(signed(ACT_BITS))
        base = Signal(g.entry_addr_width)
        start = Signal(g.ptr_width, reset_less=True)
        end = Signal(g.ptr_width, reset_less=True)
        # ``length == 0`` as two registered halves of the compare, each two
        # LUT levels from the block RAM's output register, which may sit far
        # across the device (the whole compare, registered, was four to five
        # levels and the critical path of 4 PEs).  Their AND joins the gate
        # that consumes the flag in the queue.
        half = (g.ptr_width + 1) // 2
        eq_lo = Signal(reset_less=True)
        eq_hi = Signal(reset_less=True)
        m.d.sync += [
            self.item_valid.eq(valid2),
            value.eq(value2),
            base.eq(self.spmat_base * ENTRIES_PER_WORD),
            start.eq(mem.rd_data),
            end.eq(mem.rd2_data),
            eq_lo.eq(mem.rd_data[:half] == mem.rd2_data[:half]),
            eq_hi.eq(mem.rd_data[half:] == mem.rd2_data[half:]),
        ]
        empty = eq_lo & eq_hi
        m.d.comb += [
            self.item.value.eq(value),
            self.item.start.eq(base + start),
            self.item.length.eq(end - start),
            self.item.empty.eq(empty),
        ]
        return m
