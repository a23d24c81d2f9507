"""Activation scan and broadcast: finds the nonzero input activations, in order.

Local address ``m`` of every PE's source file together holds activations
``m*N .. m*N+N-1`` (a *row*).  The scanner reads rows ahead of use (row 0 at
the layer's cycle 0; each read is registered before any logic, so row 0 is
current at cycle 3), makes it the *current row* with its nonzero
mask (every PE's local leading-nonzero detect: ``a != 0`` and ``m*N+k < n_in``),
and offers its lowest set bit each cycle.  When every PE has a credit the item
*fires*: its bit is cleared, and it enters the pipelined quaternary LNZD tree
(:class:`~eie.hw.lnzd.LnzdTree`), whose root carries the value and ``j`` to the
broadcast register.  A row without nonzeros is current for one cycle.

Latency: fired at ``t``, broadcast at ``t + tree_stages + 1`` (``bcast_latency``).
"""

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from ..config import ACT_BITS
from .lnzd import LnzdTree, lowest_one

__all__ = ["Scanner"]


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
        The row read, one cycle after ``scan_en``.
    all_credit : In(1)
        Every PE has a credit.
    fire : Out(1)
        An activation fires this cycle.
    bcast_valid, bcast_value, bcast_col : Out
        The broadcast activation and its column ``j``.
    scan_done : Out(1)
        All rows of the layer have been scanned.
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
            "all_credit": In(1),
            "fire": Out(1),
            "bcast_valid": Out(1),
            "bcast_value": Out(signed(ACT_BITS)),
            "bcast_col": Out(g.col_width),
            "scan_done": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._g
        n = g.n_pe
        m.submodules.tree = tree = LnzdTree(n, ACT_BITS, g.col_width)

        # Read pipeline: a row read at t is on act_data at t + 1 (stage D) and
        # registered at t + 2 (stage Q; the block RAM's clock-to-output time
        # leaves no room for the mask logic).  A read is issued whenever Q is
        # free or being taken, so rows reach the current row back to back.
        d_valid = Signal()
        d_base = Signal(g.col_width)
        q_valid = Signal()
        q_values = Signal(data.ArrayLayout(signed(ACT_BITS), n))
        q_base = Signal(g.col_width)
        next_read = Signal(g.row_count_width)
        next_base = Signal(g.col_width)
        cur_valid = Signal()
        cur_values = Signal(data.ArrayLayout(signed(ACT_BITS), n))
        cur_mask = Signal(n)
        cur_base = Signal(g.col_width)
        # Registered facts about cur_mask, so that the end of a row (and with it
        # the read of the next one, which fans out to every PE) does not wait
        # for the lowest-one carry chain: the mask is empty; it has at most one
        # bit set (the item firing now is the row's last).
        cur_empty = Signal()
        cur_last = Signal()

        onehot = Signal(n)
        rest = Signal(n)
        m.d.comb += [
            self.fire.eq(cur_valid & ~cur_empty & self.all_credit),
            onehot.eq(lowest_one(cur_mask)),
            rest.eq(cur_mask & ~onehot),
        ]
        row_over = cur_valid & (cur_empty | (self.fire & cur_last))
        load = (~cur_valid & q_valid) | row_over
        q_load = Signal()
        m.d.comb += q_load.eq(load | ~q_valid)

        left = Signal(signed(g.col_width + 1))
        m.d.comb += left.eq(self.n_in - q_base)
        q_mask = Signal(n)
        for k in range(n):
            m.d.comb += q_mask[k].eq((q_values[k] != 0) & (left > k))

        def at_most_one(mask):
            return (mask & (mask - 1)[:n]) == 0

        with m.If(self.layer_go):
            m.d.comb += [self.scan_en.eq(1), self.scan_addr.eq(0)]
            m.d.sync += [
                d_valid.eq(1), d_base.eq(0), q_valid.eq(0), next_read.eq(1), next_base.eq(n),
                cur_valid.eq(0), self.scan_done.eq(0),
            ]
        with m.Else():
            with m.If(self.fire):
                m.d.sync += [cur_mask.eq(rest), cur_empty.eq(cur_last),
                             cur_last.eq(at_most_one(rest))]
            with m.If(q_load):
                m.d.sync += [q_valid.eq(d_valid), q_values.eq(self.act_data), q_base.eq(d_base)]
                with m.If(next_read < self.rows_in):
                    m.d.comb += [self.scan_en.eq(1), self.scan_addr.eq(next_read)]
                    m.d.sync += [
                        d_valid.eq(1), d_base.eq(next_base), next_read.eq(next_read + 1),
                        next_base.eq(next_base + n),
                    ]
                with m.Else():
                    m.d.sync += d_valid.eq(0)
            with m.If(load):
                with m.If(q_valid):
                    m.d.sync += [
                        cur_valid.eq(1), cur_values.eq(q_values), cur_mask.eq(q_mask),
                        cur_empty.eq(q_mask == 0), cur_last.eq(at_most_one(q_mask)),
                        cur_base.eq(q_base),
                    ]
                with m.Else():
                    m.d.sync += cur_valid.eq(0)
                    with m.If(~d_valid):
                        m.d.sync += self.scan_done.eq(1)

        m.d.comb += [
            tree.valid.eq(onehot & self.fire.replicate(n)),
            tree.value.eq(cur_values),
            tree.tag.eq(cur_base),
        ]
        m.d.sync += [
            self.bcast_valid.eq(tree.out_valid),
            self.bcast_value.eq(tree.out_value),
            self.bcast_col.eq(tree.out_tag + tree.out_index),
        ]
        return m
