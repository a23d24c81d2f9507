"""Activation scan and broadcast: finds the nonzero input activations, in order.

Local address ``m`` of every PE's source file together holds activations
``m*N .. m*N+N-1`` (a *row*).  The scanner reads rows ahead of use (row 0 at
the layer's cycle 0; each read is registered next to its block RAM, again as
it reaches the scanner and in the scanner's prefetch buffer, so row 0 is
current at cycle 5), makes it
the *current row* with its nonzero mask (every PE's local leading-nonzero
detect: ``a != 0`` and ``m*N+k < n_in``), and offers its lowest set bit each
cycle.  When every PE has a credit the item *fires*: its bit is cleared, and
it enters the pipelined quaternary LNZD tree
(:class:`~eie.hw.lnzd.LnzdTree`), whose root carries the value and ``j`` to
the broadcast register.  A row without nonzeros is current for one cycle.

Latency: fired at ``t``, broadcast at ``t + tree_stages + 1`` (``bcast_latency``).
Above 16 PEs the tree's root level has no register and a group register per
eight PEs takes its place (``Geometry.fanout_stages``): the same latency.
"""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..config import ACT_BITS
from .lnzd import LnzdTree, without_lowest

__all__ = ["Scanner", "bcast_layout", "PREFETCH"]

#: Rows the scanner's prefetch buffer holds, reads in flight included.
PREFETCH = 5


def bcast_layout(geometry):
    """The broadcast: valid, activation value, column."""
    return data.StructLayout({"valid": 1, "value": signed(ACT_BITS),
                              "col": geometry.col_width})


class Scanner(wiring.Component):
    """Row scan, fire control, LNZD tree and broadcast register.

    Parameters
    ----------
    geometry : eie.hw.geometry.Geometry

    Members
    -------
    layer_go : In(1)
        Cycle 0 of a layer: read row 0.
    n_in, rows_in : In
        The layer's input count and ``ceil(n_in / N)``.
    scan_en, scan_addr : Out
        Read of row ``scan_addr`` in every PE's source file.
    act_data : In(ArrayLayout(signed(16), N))
        The row read, two cycles after ``scan_en`` (from each PE's block RAM
        output register).
    act_nz : In(N)
        ``act_data[k] != 0`` (stored with the activation, read with
        ``act_data``).
    all_credit : In(1)
        Every PE has a credit.
    fire : Out(1)
        An activation fires this cycle.
    bcast_valid, bcast_value, bcast_col : Out
        The broadcast activation and its column ``j``.
    bcast_next : Out(bcast_layout)
        What the broadcast registers take this cycle, for a top that gives
        each PE its own copy of them (:func:`~eie.hw.local_reg.local_register`);
        above 16 PEs, what the group registers in front of those take, a
        cycle earlier (``bcast_valid`` and the others are then two registers
        behind it).
    scan_done : Out(1)
        All rows of the layer have been scanned.
    row_data : Out(ArrayLayout(signed(16), N))
        ``act_data`` of the cycle before, registered here (stage D3): the
        host's activation reads pick a PE from these registers, which sit
        together, rather than from the PEs' block RAMs across the device.
    """

    def __init__(self, geometry):
        self._g = geometry
        g = geometry
        n = g.n_pe
        super().__init__({
            "layer_go": In(1),
            "n_in": In(g.col_width),
            "rows_in": In(g.row_count_width),
            "scan_en": Out(1),
            "scan_addr": Out(g.act_addr_width),
            "act_data": In(data.ArrayLayout(signed(ACT_BITS), n)),
            "act_nz": In(n),
            "all_credit": In(1),
            "fire": Out(1),
            "bcast_valid": Out(1),
            "bcast_value": Out(signed(ACT_BITS)),
            "bcast_col": Out(g.col_width),
            "bcast_next": Out(bcast_layout(g)),
            "scan_done": Out(1),
            "row_data": Out(data.ArrayLayout(signed(ACT_BITS), n)),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._g
        n = g.n_pe
        m.submodules.tree = tree = LnzdTree(n, ACT_BITS, g.col_width, onehot=True,
                                            comb_levels=g.fanout_stages)

        # Read pipeline: the reads are decided a cycle ahead, from registers, so
        # the read enable and address that fan out to every PE's activation
        # block RAM are registers (``scan_en`` is ``layer_go``, from the control
        # unit's registers, or ``rd_issue``).  A row read at t is in the block
        # RAM's output at t + 1, in the PE's register next to it at t + 2
        # (``act_data``, stage D2), in the scanner's register at t + 3 (D3: the
        # route from PEs spread over the device is the whole of a cycle), and
        # in the prefetch buffer from t + 4.  The
        # buffer's head is the next row (stage Q); it holds PREFETCH rows,
        # counting the reads in flight, which is what it takes to read one row
        # per cycle with the decision a cycle ahead: rows reach the current
        # row back to back.  (A ring, not a shift register: the buffer's
        # write enables do not wait for this cycle's fire.)
        depth = PREFETCH
        # A buffered row carries its nonzero mask and the facts the current row
        # keeps about it, worked out as it is pushed (from the PEs' registered
        # nonzero flags and the range mask computed with the read).
        row = data.StructLayout({"values": data.ArrayLayout(signed(ACT_BITS), n),
                                 "base": g.col_width, "mask": n, "rest": n,
                                 "empty": 1, "last": 1})
        rd_issue = Signal()
        rd_addr = Signal(g.row_count_width)
        rd_base = Signal(g.col_width)
        # ``n_in - rd_base``, counted down as rows are read: no subtraction
        # in front of the range table (at 8 PEs, ``n_in - rd_base`` and the
        # table were the critical path).
        rd_left = Signal(signed(g.col_width + 1))
        d1_valid = Signal()
        d1_base = Signal(g.col_width)
        d1_range = Signal(n)
        d2_valid = Signal()
        d2_base = Signal(g.col_width)
        d2_range = Signal(n)
        d3_valid = Signal()
        d3_base = Signal(g.col_width)
        d3_range = Signal(n)
        d3_values = Signal(data.ArrayLayout(signed(ACT_BITS), n))
        d3_nz = Signal(n)
        # A ring of rows in distributed RAM (17 bits per PE: a 4:1 or 5:1
        # multiplexer of flip-flops costs about three times the LUTs): a push
        # writes entry ``wptr`` (its enable comes from registers only, whatever
        # fires this cycle), a pop advances ``rptr``, and the head is read
        # asynchronously at ``rptr``.
        m.submodules.ring = ring = Memory(shape=row, depth=depth, init=[],
                                          attrs={"ram_style": "distributed"})
        ring_w = ring.write_port()
        ring_r = ring.read_port(domain="comb")
        wptr = Signal(range(depth))
        rptr = Signal(range(depth))
        count = Signal(range(depth + 1))
        q_valid = Signal()              # count != 0
        head = Signal(row)
        m.d.comb += [ring_r.addr.eq(rptr), head.eq(ring_r.data)]
        q_values = head.values
        q_base = head.base
        cur_valid = Signal()
        cur_values = Signal(data.ArrayLayout(signed(ACT_BITS), n))
        cur_mask = Signal(n)
        cur_base = Signal(g.col_width)
        # Registered facts about cur_mask, so that the end of a row does not
        # wait for a carry chain: the mask without its lowest bit (so the item
        # offered is ``cur_mask & ~cur_rest``, and a fire only moves
        # ``cur_rest`` into ``cur_mask``); the mask is empty; it has at most
        # one bit set (the item firing now is the row's last).
        cur_rest = Signal(n)
        cur_empty = Signal()
        cur_last = Signal()

        onehot = Signal(n)
        rest_rest = Signal(n)
        m.d.comb += [
            self.fire.eq(cur_valid & ~cur_empty & self.all_credit),
            onehot.eq(cur_mask & ~cur_rest),
            rest_rest.eq(without_lowest(cur_rest)),
        ]
        row_over = cur_valid & (cur_empty | (self.fire & cur_last))
        load = (~cur_valid & q_valid) | row_over
        pop = Signal()
        m.d.comb += pop.eq(load & q_valid)

        def in_range(left):
            # Which activations of the row with ``left = n_in - base`` inputs
            # from its base on are inputs: k < left.  One compare (the row is
            # full), and a table of the count that is left: N compares as wide
            # as a column would each be a carry chain.  A row that is read has
            # left >= 1.
            bits = n.bit_length()
            part = Signal(n)
            with m.Switch(left[:bits]):
                for c in range(1, n):
                    with m.Case(c):
                        m.d.comb += part.eq((1 << c) - 1)
                with m.Default():       # 0, or n and more (full)
                    m.d.comb += part.eq(0)
            return Mux(left >= n, (1 << n) - 1, part)

        p_mask = Signal(n)
        p_rest = Signal(n)
        m.d.comb += [p_mask.eq(d3_nz & d3_range), p_rest.eq(without_lowest(p_mask))]

        m.d.comb += [
            self.scan_en.eq(self.layer_go | rd_issue),
            self.scan_addr.eq(Mux(self.layer_go, 0, rd_addr)),
        ]
        with m.If(self.layer_go):
            m.d.sync += [
                rd_issue.eq(self.rows_in > 1), rd_addr.eq(1), rd_base.eq(n),
                rd_left.eq(self.n_in - n),
                d1_valid.eq(1), d1_base.eq(0), d1_range.eq(in_range(self.n_in)), d2_valid.eq(0),
                d3_valid.eq(0),
                count.eq(0), q_valid.eq(0), wptr.eq(0), rptr.eq(0),
                cur_valid.eq(0), self.scan_done.eq(0),
            ]
        with m.Else():
            # Reads: the row in flight moves on; the next read is decided from
            # the occupancy after this cycle.
            rd_now = rd_issue
            push = d3_valid
            # The pop comes late (every PE's credit, the fire, the row's end):
            # it picks between sums and compares worked out from registers
            # alone (through the occupancy adder it was the critical path of
            # 4 PEs at 7d0219c).
            count_push = Signal(range(depth + 2))
            occupancy = Signal(range(depth + 5))
            count_next = Signal(range(depth + 2))
            addr_next = Signal(g.row_count_width)
            m.d.comb += [
                count_push.eq(count + push),
                occupancy.eq(count_push + d2_valid + d1_valid + rd_now),
                count_next.eq(Mux(pop, count_push - 1, count_push)),
                addr_next.eq(rd_addr + rd_now),
            ]
            m.d.sync += [
                d3_valid.eq(d2_valid), d3_base.eq(d2_base), d3_range.eq(d2_range),
                d3_values.eq(self.act_data), d3_nz.eq(self.act_nz),
                d2_valid.eq(d1_valid), d2_base.eq(d1_base), d2_range.eq(d1_range),
                d1_valid.eq(rd_now), d1_base.eq(rd_base), d1_range.eq(in_range(rd_left)),
                count.eq(count_next),
                q_valid.eq(Mux(pop, count_push != 1, count_push != 0)),
                rd_issue.eq(Mux(pop, occupancy <= depth, occupancy < depth)
                            & (addr_next < self.rows_in)),
            ]
            with m.If(rd_now):
                m.d.sync += [rd_addr.eq(rd_addr + 1), rd_base.eq(rd_base + n),
                             rd_left.eq(rd_left - n)]
            # The pushed row goes to entry ``wptr``; a pop moves the head on.
            m.d.comb += [
                ring_w.en.eq(push), ring_w.addr.eq(wptr),
                ring_w.data.values.eq(d3_values), ring_w.data.base.eq(d3_base),
                ring_w.data.mask.eq(p_mask), ring_w.data.rest.eq(p_rest),
                ring_w.data.empty.eq(p_mask == 0), ring_w.data.last.eq(p_rest == 0),
            ]
            with m.If(push):
                m.d.sync += wptr.eq(Mux(wptr == depth - 1, 0, wptr + 1))
            with m.If(pop):
                m.d.sync += rptr.eq(Mux(rptr == depth - 1, 0, rptr + 1))

            with m.If(self.fire):
                m.d.sync += [cur_mask.eq(cur_rest), cur_rest.eq(rest_rest),
                             cur_empty.eq(cur_last), cur_last.eq(rest_rest == 0)]
            with m.If(load):
                with m.If(q_valid):
                    m.d.sync += [
                        cur_valid.eq(1), cur_values.eq(q_values), cur_mask.eq(head.mask),
                        cur_rest.eq(head.rest),
                        cur_empty.eq(head.empty), cur_last.eq(head.last),
                        cur_base.eq(q_base),
                    ]
                with m.Else():
                    m.d.sync += cur_valid.eq(0)
                    with m.If(~d1_valid & ~d2_valid & ~d3_valid & ~rd_issue):
                        m.d.sync += self.scan_done.eq(1)

        m.d.comb += [
            self.row_data.eq(d3_values),
            tree.valid.eq(onehot & self.fire.replicate(n)),
            tree.value.eq(cur_values),
            tree.tag.eq(cur_base),
        ]
        m.d.comb += [
            self.bcast_next.valid.eq(tree.out_valid),
            self.bcast_next.value.eq(tree.out_value),
            self.bcast_next.col.eq(tree.out_tag + tree.out_index),
        ]
        # The broadcast registers (a top's PE copies, group registers above
        # 16 PEs and then the PEs' own, take the place of these).
        bcast = self.bcast_next
        for stage in range(g.fanout_stages):
            reg = Signal(bcast_layout(g), name=f"bcast_r{stage}")
            m.d.sync += reg.eq(bcast)
            bcast = reg
        m.d.sync += [
            self.bcast_valid.eq(bcast.valid),
            self.bcast_value.eq(bcast.value),
            self.bcast_col.eq(bcast.col),
        ]
        return m
