"""Activation scan and broadcast: finds the nonzero input activations, in order.

Local address ``m`` of every PE's source file together holds activations
``m*N .. m*N+N-1`` (a *row*).  The scanner reads one row per cycle ahead of use
(row 0 at the layer's cycle 0), makes it the *current row* with its nonzero
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

        port_valid = Signal()
        port_base = Signal(g.col_width)
        next_read = Signal(g.row_count_width)
        next_base = Signal(g.col_width)
        cur_valid = Signal()
        cur_values = Signal(data.ArrayLayout(signed(ACT_BITS), n))
        cur_mask = Signal(n)
        cur_base = Signal(g.col_width)

        onehot = Signal(n)
        rest = Signal(n)
        m.d.comb += [
            self.fire.eq(cur_valid & (cur_mask != 0) & self.all_credit),
            onehot.eq(lowest_one(cur_mask)),
            rest.eq(cur_mask & ~onehot),
        ]
        row_over = cur_valid & ((cur_mask == 0) | (self.fire & (rest == 0)))
        load = (~cur_valid & port_valid) | row_over

        left = Signal(signed(g.col_width + 1))
        m.d.comb += left.eq(self.n_in - port_base)
        port_mask = Signal(n)
        for k in range(n):
            m.d.comb += port_mask[k].eq((self.act_data[k] != 0) & (left > k))

        with m.If(self.layer_go):
            m.d.comb += [self.scan_en.eq(1), self.scan_addr.eq(0)]
            m.d.sync += [
                port_valid.eq(1), port_base.eq(0), next_read.eq(1), next_base.eq(n),
                cur_valid.eq(0), self.scan_done.eq(0),
            ]
        with m.Else():
            with m.If(self.fire):
                m.d.sync += cur_mask.eq(rest)
            with m.If(load):
                with m.If(port_valid):
                    m.d.sync += [
                        cur_valid.eq(1), cur_values.eq(self.act_data), cur_mask.eq(port_mask),
                        cur_base.eq(port_base),
                    ]
                    with m.If(next_read < self.rows_in):
                        m.d.comb += [self.scan_en.eq(1), self.scan_addr.eq(next_read)]
                        m.d.sync += [
                            port_base.eq(next_base), next_read.eq(next_read + 1),
                            next_base.eq(next_base + n),
                        ]
                    with m.Else():
                        m.d.sync += port_valid.eq(0)
                with m.Else():
                    m.d.sync += [cur_valid.eq(0), self.scan_done.eq(1)]

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
