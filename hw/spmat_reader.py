"""Sparse-matrix read unit: issues a PE's entries, one per cycle, without bubbles.

The head of the activation queue names a column by its first entry and its
length.  An empty column is dropped at once.  A nonempty one is taken when the
previous column has issued its last entry, so entry addresses go out
back to back across column and word boundaries: the address of a new column's
first entry comes from the queue head (the read-ahead), the others from a
counter.  The entry address is registered before it drives the memory (it fans
out to every block RAM), the 64-bit word that holds the issued entry is read
the cycle after, its output is registered three times (the block RAMs of one
PE spread over the device: the first register is the block RAMs' own, the
others are on the way to the PE), the next cycle selects and registers the
entry's byte, and the cycle after that decodes it: ``v`` (codebook index) and the local row
``r = r_prev + z + 1`` (``r = z`` for a column's first entry).
"""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..config import ACT_BITS, WEIGHT_BITS
from .bram import BlockRAM
from .local_reg import local_register

__all__ = ["SpmatReader", "WORD_BITS", "DECODE_DELAY"]

#: Width of a sparse-matrix memory word (8 entries of 8 bits).
WORD_BITS = 64
#: An entry issued at cycle ``c`` reads the codebook during cycle ``c + DECODE_DELAY``.
DECODE_DELAY = 6


class SpmatReader(wiring.Component):
    """Entry issue, sparse-matrix memory and entry decode of one PE.

    Parameters
    ----------
    geometry : eie.hw.geometry.Geometry
    init : sequence of int, optional
        Initial memory contents (64-bit words, baked model).

    Members
    -------
    head_rdy, head : In
        The activation queue's head item (value, start entry, length).
    head_pop : Out(1)
        Pop the head: at once for an empty column, else when the last entry
        of the previous column has been issued.
    entry_valid, entry_index, entry_row, entry_value, entry_weight : Out
        Seven cycles after an entry is issued: its codebook index, its local
        row, the column's activation value and its weight.
    lookup_index : Out(4); lookup_weight : In(signed(16))
        The codebook lookup during decode (asynchronous codebook read): the
        weight is registered with the entry, so the multiplier starts from
        registers.
    idle : Out(1)
        No entry issued or being decoded.
    host_we, host_addr, host_data : In
        Host write of memory word ``host_addr``.

    One entry per cycle in steady state, including across column and word
    boundaries; latency 7 from issue to the decoded entry.
    """

    def __init__(self, geometry, init=None):
        self._g = geometry
        self._init = init
        g = geometry
        super().__init__({
            "head_rdy": In(1),
            "head": In(g.item_layout),
            "head_pop": Out(1),
            "entry_valid": Out(1),
            "entry_index": Out(4),
            "entry_row": Out(g.act_addr_width),
            "entry_value": Out(signed(ACT_BITS)),
            "entry_weight": Out(signed(WEIGHT_BITS)),
            "lookup_index": Out(4),
            "lookup_weight": In(signed(WEIGHT_BITS)),
            "idle": Out(1),
            "host_we": In(1),
            "host_addr": In(g.word_addr_width),
            "host_data": In(WORD_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._g
        init = [int(w) for w in self._init] if self._init is not None else []
        m.submodules.mem = mem = BlockRAM(WORD_BITS, g.hw.spmat_words, init=init)
        m.d.comb += [mem.wr_addr.eq(self.host_addr), mem.wr_data.eq(self.host_data),
                     mem.wr_en.eq(self.host_we)]

        # Issue (cycle c).
        remaining = Signal(g.ptr_width)
        next_addr = Signal(g.entry_addr_width)
        value = Signal(signed(ACT_BITS))
        # ``free`` is ``remaining == 0`` kept as a register, and the head's
        # ``empty`` flag comes with the item: the pop (which feeds the credit
        # logic of the whole array) is two flags and the head's valid bit.
        free = Signal(init=1)
        free_next = Signal()
        take = Signal()
        issue = Signal()
        addr = Signal(g.entry_addr_width)
        # The pop goes back into the queue's head, fill and credit logic in
        # the same cycle: it is worked out from a copy of ``free`` of its own,
        # which the placer can put by the queue, while this unit's issue
        # logic may sit by its block RAMs (otherwise the pop's path went
        # from the queue to here and back, two routes in one cycle).
        # (Kept inverted: a register of one's own starts at 0, as ``free`` is 1.)
        busy_pop = local_register(m, platform, ~free_next, 1, "busy_pop")
        m.d.comb += [
            take.eq(self.head_rdy & ~self.head.empty & free),
            self.head_pop.eq(self.head_rdy & (self.head.empty | ~busy_pop)),
            issue.eq(take | ~free),
            addr.eq(Mux(take, self.head.start, next_addr)),
            free_next.eq(free),
        ]
        m.d.sync += free.eq(free_next)
        with m.If(take):
            m.d.sync += [
                next_addr.eq(self.head.start + 1),
                remaining.eq(self.head.length - 1),
                value.eq(self.head.value),
            ]
            m.d.comb += free_next.eq(self.head.length == 1)
        with m.Elif(~free):
            m.d.sync += [next_addr.eq(next_addr + 1), remaining.eq(remaining - 1)]
            m.d.comb += free_next.eq(remaining == 1)

        # Word address (cycle c + 1): registered, it fans out to the
        # block RAMs with no logic in front.
        i_valid = Signal()
        i_addr = Signal(g.entry_addr_width)
        i_first = Signal()
        i_value = Signal(signed(ACT_BITS))
        m.d.sync += [
            i_valid.eq(issue),
            i_addr.eq(addr),
            i_first.eq(take),
            i_value.eq(Mux(take, self.head.value, value)),
        ]
        m.d.comb += mem.rd_addr.eq(i_addr[3:])
        # Word read (cycle c + 2), out of the block RAMs' output register
        # (cycle c + 3), registered twice more (c + 4, c + 5): the word's bits
        # come from block RAMs spread over the device (a PE's 64-bit word is 16
        # block RAMs of 4 bits at 8 PEs), so they travel two register hops to
        # the byte select.
        # What travels with the word down the pipeline, one register per stage.
        tag_layout = data.StructLayout({"valid": 1, "sel": 3, "first": 1,
                                        "value": signed(ACT_BITS)})

        def delayed(src, name):
            tag = Signal(tag_layout, name=name)
            m.d.sync += tag.eq(src)
            return tag

        tag_i = Signal(tag_layout)
        m.d.comb += [tag_i.valid.eq(i_valid), tag_i.sel.eq(i_addr[:3]),
                     tag_i.first.eq(i_first), tag_i.value.eq(i_value)]
        tag_a = delayed(tag_i, "tag_a")
        # Carry (cycles c + 3, c + 4).
        tag_c = delayed(tag_a, "tag_c")
        tag_t = delayed(tag_c, "tag_t")
        # Byte select (cycle c + 5): the entry is registered, so the decode
        # and the codebook lookup start from 8 registers.
        tag_s = delayed(tag_t, "tag_s")
        word_near = Signal(WORD_BITS)
        word = Signal(WORD_BITS)
        m.d.sync += [word_near.eq(mem.rd_data), word.eq(word_near)]
        # Decode (cycle c + 6): relative row, codebook lookup.
        tag_b = delayed(tag_s, "tag_b")
        entry = Signal(8)
        m.d.sync += entry.eq(word.word_select(tag_s.sel, 8))
        row_prev = Signal(g.act_addr_width)
        row = Signal(g.act_addr_width)
        m.d.comb += row.eq(Mux(tag_b.first, 0, row_prev + 1) + entry[4:8])
        with m.If(tag_b.valid):
            m.d.sync += row_prev.eq(row)
        m.d.comb += self.lookup_index.eq(entry[0:4])
        m.d.sync += [
            self.entry_valid.eq(tag_b.valid),
            self.entry_index.eq(entry[0:4]),
            self.entry_row.eq(row),
            self.entry_value.eq(tag_b.value),
            self.entry_weight.eq(self.lookup_weight),
        ]
        m.d.comb += self.idle.eq(free & ~i_valid & ~tag_a.valid & ~tag_c.valid & ~tag_t.valid
                                  & ~tag_s.valid
                                  & ~tag_b.valid & ~self.entry_valid)
        return m
