"""Pointer read unit: a column's start and end pointer in one cycle.

``ptr[j]`` and ``ptr[j + 1]`` are neighbours in the pointer memory, so one of
them is at an even and the other at an odd address.  The memory is split into
an even and an odd bank, each read once per cycle: for pointer address
``p = ptr_base + j`` the even bank is read at ``(p + 1) // 2`` and the odd bank
at ``p // 2``.
"""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import ACT_BITS, ENTRIES_PER_WORD
from .bram import BlockRAM

__all__ = ["PtrReader"]


class PtrReader(wiring.Component):
    """Even/odd pointer banks and the read that turns a column into a queue item.

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
        Four cycles later (the read address is registered, the banks' outputs
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
        depth = g.hw.ptr_depth // 2
        init = list(self._init) if self._init is not None else []
        banks = []
        for parity in (0, 1):
            m.submodules[f"bank{parity}"] = bank = BlockRAM(
                g.ptr_width, depth, init=init[parity::2])
            m.d.comb += [
                bank.wr_addr.eq(self.host_addr[1:]),
                bank.wr_data.eq(self.host_data),
                bank.wr_en.eq(self.host_we & (self.host_addr[0] == parity)),
            ]
            banks.append(bank)

        # Cycle +1: the banks' read addresses are registers (the sum and the
        # halving are done the cycle before), so the route to block RAMs
        # anywhere on the device has a whole cycle.
        p = Signal(g.ptr_addr_width + 1)
        m.d.comb += p.eq(self.ptr_base + self.col)
        addr_even = Signal.like(banks[0].rd_addr)
        addr_odd = Signal.like(banks[1].rd_addr)
        valid0, odd0 = Signal(), Signal()
        value0 = Signal(signed(ACT_BITS))
        m.d.sync += [addr_even.eq((p + 1)[1:]), addr_odd.eq(p[1:]),
                     valid0.eq(self.col_valid), odd0.eq(p[0]), value0.eq(self.col_value)]
        m.d.comb += [banks[0].rd_addr.eq(addr_even), banks[1].rd_addr.eq(addr_odd)]
        # Cycle +2: the banks' outputs (block RAM clock-to-output), registered
        # twice: the block RAMs' own output register (cycle +3), whose only
        # load is the register below, so nothing has to sit next to the block
        # RAM however far the PE's logic is.
        valid1, odd1 = Signal(), Signal()
        value1 = Signal(signed(ACT_BITS))
        m.d.sync += [valid1.eq(valid0), odd1.eq(odd0), value1.eq(value0)]
        valid2, odd2 = Signal(), Signal()
        value2 = Signal(signed(ACT_BITS))
        m.d.sync += [valid2.eq(valid1), odd2.eq(odd1), value2.eq(value1)]
        even_near, odd_near = banks[0].rd_data, banks[1].rd_data
        # Cycle +4: start, length, absolute address.
        odd = Signal()
        value = Signal(signed(ACT_BITS))
        base = Signal(g.entry_addr_width)
        even_q = Signal(g.ptr_width, reset_less=True)
        odd_q = Signal(g.ptr_width, reset_less=True)
        m.d.sync += [
            self.item_valid.eq(valid2),
            odd.eq(odd2),
            value.eq(value2),
            base.eq(self.spmat_base * ENTRIES_PER_WORD),
            even_q.eq(even_near),
            odd_q.eq(odd_near),
        ]
        start = Mux(odd, odd_q, even_q)
        end = Mux(odd, even_q, odd_q)
        m.d.comb += [
            self.item.value.eq(value),
            self.item.start.eq(base + start),
            self.item.length.eq(end - start),
            # ``length == 0`` without waiting for the subtraction.
            self.item.empty.eq(even_q == odd_q),
        ]
        return m
