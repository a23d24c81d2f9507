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

Above 16 PEs the activation values stay with their PEs (the paper's layout of
the LNZD): a :class:`ScanGroup` per eight PEs registers its PEs' reads, keeps
them in a ring of its own and picks the value that fired, so that only its
candidate, not every PE's activation, crosses the device.  The scanner's
centre keeps what the decisions need: the nonzero masks, one bit per PE.
"""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..config import ACT_BITS
from .geometry import FANOUT_GROUP, FANOUT_GROUP_BITS
from .local_reg import local_register
from .lnzd import LnzdTree, tree_levels, without_lowest

__all__ = ["Scanner", "ScanGroup", "bcast_layout", "PREFETCH", "VALUE_SLOTS"]

#: Rows the scanner's prefetch buffer holds, reads in flight included.
PREFETCH = 5
#: Rows a :class:`ScanGroup`'s value ring holds: the prefetch buffer's, the
#: current row, and the row that fired last cycle (the group picks its value a
#: cycle after the fire), rounded up to a power of two.
VALUE_SLOTS = 8


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
        Up to 16 PEs only.
    host_pe : In(pe_bits)
        Above 16 PEs: the PE a host read picks, a cycle before the row it
        reads is in stage D3 (each group registers it).
    host_act : Out(signed(16))
        Above 16 PEs: that PE's activation, two cycles after ``host_pe`` (its
        group picks it from its stage D3 registers into a register, and this
        picks the group).
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
            **({"host_pe": In(g.pe_bits), "host_act": Out(signed(ACT_BITS))}
               if g.fanout_stages else
               {"row_data": Out(data.ArrayLayout(signed(ACT_BITS), n))}),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._g
        n = g.n_pe
        # Above 16 PEs the values are kept and picked by the groups.
        spread = bool(g.fanout_stages)
        if not spread:
            m.submodules.tree = tree = LnzdTree(n, ACT_BITS, g.col_width, onehot=True)

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
        values = {} if spread else {"values": data.ArrayLayout(signed(ACT_BITS), n)}
        row = data.StructLayout({**values, "base": g.col_width, "mask": n, "rest": n,
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
        if not spread:
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
        q_base = head.base
        cur_valid = Signal()
        if spread:
            # The groups' value rings: a push's values go to slot ``v_wr``; the
            # head's are in slot ``v_rd``, the current row's in ``cur_slot``.
            v_wr = Signal(range(VALUE_SLOTS))
            v_rd = Signal(range(VALUE_SLOTS))
            cur_slot = Signal(range(VALUE_SLOTS))
        else:
            q_values = head.values
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
            if spread:
                m.d.sync += [v_wr.eq(0), v_rd.eq(0)]
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
                *([] if spread else [d3_values.eq(self.act_data)]), d3_nz.eq(self.act_nz),
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
                *([] if spread else [ring_w.data.values.eq(d3_values)]),
                ring_w.data.base.eq(d3_base),
                ring_w.data.mask.eq(p_mask), ring_w.data.rest.eq(p_rest),
                ring_w.data.empty.eq(p_mask == 0), ring_w.data.last.eq(p_rest == 0),
            ]
            with m.If(push):
                m.d.sync += wptr.eq(Mux(wptr == depth - 1, 0, wptr + 1))
            with m.If(pop):
                m.d.sync += rptr.eq(Mux(rptr == depth - 1, 0, rptr + 1))
            if spread:
                with m.If(push):
                    m.d.sync += v_wr.eq(v_wr + 1)
                with m.If(pop):
                    m.d.sync += [v_rd.eq(v_rd + 1), cur_slot.eq(v_rd)]

            with m.If(self.fire):
                m.d.sync += [cur_mask.eq(cur_rest), cur_rest.eq(rest_rest),
                             cur_empty.eq(cur_last), cur_last.eq(rest_rest == 0)]
            with m.If(load):
                with m.If(q_valid):
                    m.d.sync += [
                        cur_valid.eq(1), *([] if spread else [cur_values.eq(q_values)]),
                        cur_mask.eq(head.mask), cur_rest.eq(head.rest),
                        cur_empty.eq(head.empty), cur_last.eq(head.last),
                        cur_base.eq(q_base),
                    ]
                with m.Else():
                    m.d.sync += cur_valid.eq(0)
                    with m.If(~d1_valid & ~d2_valid & ~d3_valid & ~rd_issue):
                        m.d.sync += self.scan_done.eq(1)

        if spread:
            self._groups(m, platform, onehot & self.fire.replicate(n), cur_slot, cur_base,
                         push, v_wr)
        else:
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

    def _groups(self, m, platform, fired, slot, base, push, v_wr):
        """The groups' part of the LNZD tree, and the host's reads from them.

        The item that fires at ``t`` (``fired``, one-hot over the PEs) is
        registered here, so its group sees it at ``t + 1`` with the slot of the
        row that was current at ``t``, and offers the value at ``t + 2``: the
        tree's first two registered levels.  At ``t + 2`` the groups'
        candidates (zero but the one that fired) are ORed into
        ``bcast_next`` (the tree's root, registered by the groups' broadcast
        registers).  A tree of four or more levels (above 64 PEs) is the
        same with its further registers at the groups' outputs.
        """
        g = self._g
        n = g.n_pe
        fired_r = Signal(n)
        m.d.sync += fired_r.eq(fired)
        extra = tree_levels(n) - 3
        candidates = []
        hosts = []
        for gi, first in enumerate(range(0, n, FANOUT_GROUP)):
            size = min(FANOUT_GROUP, n - first)
            grp = ScanGroup(g, size, first)
            m.submodules[f"group{gi}"] = grp
            m.d.comb += [
                grp.push.eq(push), grp.slot_wr.eq(v_wr), grp.slot.eq(slot),
                grp.base.eq(base + first), grp.fired.eq(fired_r[first:first + size]),
                grp.host_pe.eq(self.host_pe[:FANOUT_GROUP_BITS]),
                *[grp.act_data[k].eq(self.act_data[first + k]) for k in range(size)],
            ]
            out = grp.out
            for stage in range(extra):
                reg = Signal(bcast_layout(g), name=f"group{gi}_out_r{stage}")
                m.d.sync += reg.eq(out)
                out = reg
            candidates.append(out)
            hosts.append(grp.host_act)
        m.d.comb += [
            self.bcast_next.valid.eq(_any(c.valid for c in candidates)),
            self.bcast_next.value.eq(_any(c.value for c in candidates)),
            self.bcast_next.col.eq(_any(c.col for c in candidates)),
        ]
        # Host reads: the group's choice is registered in the group, then
        # this picks the group.
        host_group = Signal(max(1, g.pe_bits - FANOUT_GROUP_BITS))
        host_group_r = Signal.like(host_group)
        m.d.sync += [host_group.eq(self.host_pe[FANOUT_GROUP_BITS:]), host_group_r.eq(host_group)]
        with m.Switch(host_group_r):
            for gi, act in enumerate(hosts):
                with m.Case(gi):
                    m.d.comb += self.host_act.eq(act)
            with m.Default():
                m.d.comb += self.host_act.eq(0)


def _any(values):
    """The OR of ``values``."""
    result = 0
    for value in values:
        result = result | value
    return result


class ScanGroup(wiring.Component):
    """The activation values of one group of PEs, next to them (above 16 PEs).

    It registers its PEs' reads (stage D3, as the scanner's centre registers
    their nonzero flags), writes each pushed row into a ring of
    :data:`VALUE_SLOTS` rows in distributed RAM a cycle after the centre's
    push, and picks the value that fired from the row it was current in.

    Parameters
    ----------
    geometry : eie.hw.geometry.Geometry
    size : int
        PEs in the group.
    first : int
        Index of its first PE.

    Members
    -------
    act_data : In(ArrayLayout(signed(16), size))
        The group's PEs' reads (the scanner's ``act_data``).
    push, slot_wr : In
        The centre pushes the row in D3 into its prefetch buffer this cycle,
        its values go to slot ``slot_wr`` (registered here, with the values).
    slot : In
        The slot of the current row (registered here).
    base : In(col_width)
        The current row's first column plus ``first`` (registered here).
    fired : In(size)
        Which of the group's PEs fired in the cycle before, one-hot or none
        (a register of the centre's).
    out : Out(bcast_layout)
        A cycle after ``fired``: the value and column that fired, or zeros.
    host_pe : In
        The PE in the group a host read picks, a cycle before its row is in
        D3 (registered here).
    host_act : Out(signed(16))
        That PE's value in D3, registered.
    """

    def __init__(self, geometry, size, first):
        self._g = geometry
        self._size = size
        self._first = first
        slot_bits = (VALUE_SLOTS - 1).bit_length()
        super().__init__({
            "act_data": In(data.ArrayLayout(signed(ACT_BITS), size)),
            "push": In(1),
            "slot_wr": In(slot_bits),
            "slot": In(slot_bits),
            "base": In(geometry.col_width),
            "fired": In(size),
            "out": Out(bcast_layout(geometry)),
            "host_pe": In(FANOUT_GROUP_BITS),
            "host_act": Out(signed(ACT_BITS)),
        })

    def elaborate(self, platform):
        m = Module()
        size = self._size
        values = data.ArrayLayout(signed(ACT_BITS), size)
        d3 = Signal(values)
        d4 = Signal(values)
        m.d.sync += [d3.eq(self.act_data), d4.eq(d3)]
        # The centre's registers this group follows, a copy of its own (each
        # fed by the same net as its twins in the other groups: plain
        # registers would be merged into one across the device).
        name = f"g{self._first}"
        push = local_register(m, platform, self.push, 1, f"{name}_push")
        slot_wr = local_register(m, platform, self.slot_wr, len(self.slot_wr), f"{name}_slot_wr")
        slot = local_register(m, platform, self.slot, len(self.slot), f"{name}_slot")
        base = local_register(m, platform, self.base, len(self.base), f"{name}_base")
        host_pe = local_register(m, platform, self.host_pe, len(self.host_pe), f"{name}_host_pe")

        m.submodules.ring = ring = Memory(shape=values, depth=VALUE_SLOTS, init=[],
                                          attrs={"ram_style": "distributed"})
        ring_w = ring.write_port()
        ring_r = ring.read_port(domain="comb")
        m.d.comb += [ring_w.en.eq(push), ring_w.addr.eq(slot_wr), ring_w.data.eq(d4),
                     ring_r.addr.eq(slot)]

        # The row is one-hot masked by ``fired``: an AND-OR, like the tree's nodes.
        value = 0
        index = 0
        for k in range(size):
            value = value | (ring_r.data[k].as_unsigned() & self.fired[k].replicate(ACT_BITS))
            index = index | (k & self.fired[k].replicate(FANOUT_GROUP_BITS))
        valid = self.fired.any()
        m.d.sync += [
            self.out.valid.eq(valid),
            self.out.value.eq(value),
            self.out.col.eq(Mux(valid, base + index, 0)),
        ]

        host = Signal(signed(ACT_BITS))
        with m.Switch(host_pe):
            for k in range(size):
                with m.Case(k):
                    m.d.comb += host.eq(d3[k])
            with m.Default():
                m.d.comb += host.eq(0)
        m.d.sync += self.host_act.eq(host)
        return m
