"""Leading-nonzero detection (LNZD): the pipelined quaternary tree over the PEs.

EIE finds the next nonzero input activation with a tree of LNZD nodes: every
PE reports its candidate, and each node of the tree passes up the
lowest-index valid child of its four, with the child's value and index.  Here
each level of the tree is registered, so a tree over ``n_leaves`` inputs has
``max(1, ceil(log4 n_leaves))`` levels of latency and accepts a new set of
inputs every cycle (fewer with ``comb_levels``, root levels whose register a
user places further on).
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["LnzdTree", "tree_levels", "without_lowest"]


def tree_levels(n_leaves):
    """Registered levels of a quaternary tree over ``n_leaves`` leaves (at least 1)."""
    levels, span = 1, 4
    while span < n_leaves:
        levels += 1
        span *= 4
    return levels


def without_lowest(mask):
    """``mask`` with its lowest set bit cleared: ``m & (m - 1)`` (zero stays zero).

    The scanner keeps a row's mask and this, so the bit it offers is
    ``mask & ~without_lowest(mask)``, and a fire moves one into the other.
    """
    return mask & (mask - 1)[:len(mask)]


class LnzdTree(wiring.Component):
    """Pipelined quaternary leading-nonzero-detection tree.

    Every cycle it takes ``n_leaves`` candidates (``valid[k]``, ``value[k]``)
    and a side-band word ``tag``; ``latency`` cycles later it presents whether
    any candidate was valid, the lowest valid index ``k`` and its value, and
    the tag that came with them.

    Parameters
    ----------
    n_leaves : int
        Number of inputs (PEs); any count from 1 up, padded inside to a power of 4.
    value_width : int
        Width of a candidate's value.
    tag_width : int
        Width of the side-band word carried along (e.g. the row base ``m * N``).
    onehot : bool
        At most one candidate is valid in any cycle (the scanner offers the
        lowest set bit of its mask): every node is then an AND-OR of its
        children, a third of the LUTs of a priority multiplexer.  With more
        than one valid the result is undefined.
    comb_levels : int
        Levels at the root without a register (fewer than the tree has): a
        user that registers the result further on, as the scanner's group
        registers do above 16 PEs, spends the cycle there.

    Members
    -------
    valid : In(n_leaves)
    value : In(ArrayLayout(value_width, n_leaves))
    tag : In(tag_width)
    out_valid, out_index, out_value, out_tag : Out
        The result, ``latency`` cycles after the inputs.

    Latency is :attr:`latency` = ``max(1, ceil(log4 n_leaves)) - comb_levels``;
    throughput one set of inputs per cycle.
    """

    def __init__(self, n_leaves, value_width=16, tag_width=1, onehot=False, comb_levels=0):
        if not isinstance(n_leaves, int) or n_leaves < 1:
            raise ValueError(f"n_leaves must be a positive integer, not {n_leaves!r}")
        if not isinstance(value_width, int) or value_width < 1:
            raise ValueError(f"value_width must be a positive integer, not {value_width!r}")
        if not isinstance(tag_width, int) or tag_width < 1:
            raise ValueError(f"tag_width must be a positive integer, not {tag_width!r}")
        self._n_leaves = n_leaves
        self._onehot = bool(onehot)
        self._value_width = value_width
        self._levels = tree_levels(n_leaves)
        if not isinstance(comb_levels, int) or not 0 <= comb_levels < self._levels:
            raise ValueError(f"comb_levels must be an integer in [0, {self._levels - 1}] "
                             f"for {n_leaves} leaves, not {comb_levels!r}")
        self._comb_levels = comb_levels
        super().__init__({
            "valid": In(n_leaves),
            "value": In(data.ArrayLayout(value_width, n_leaves)),
            "tag": In(tag_width),
            "out_valid": Out(1),
            "out_index": Out(2 * self._levels),
            "out_value": Out(value_width),
            "out_tag": Out(tag_width),
        })

    @property
    def n_leaves(self):
        return self._n_leaves

    @property
    def latency(self):
        return self._levels - self._comb_levels

    def elaborate(self, platform):
        m = Module()
        width = self._value_width
        # Level 0: the leaves, padded with invalid candidates to 4**levels.
        nodes = [(self.valid[k], self.value[k], Const(0, 0)) for k in range(self._n_leaves)]
        nodes += [(Const(0, 1), Const(0, width), Const(0, 0))] * (4 ** self._levels - len(nodes))
        tag = self.tag
        for level in range(self._levels):
            index_width = 2 * (level + 1)
            domain = m.d.comb if level >= self._levels - self._comb_levels else m.d.sync
            parents = []
            for p in range(len(nodes) // 4):
                children = nodes[4 * p:4 * p + 4]
                valid = Signal(name=f"l{level}_n{p}_valid")
                value = Signal(width, name=f"l{level}_n{p}_value")
                index = Signal(index_width, name=f"l{level}_n{p}_index")
                sel_value, sel_index = Const(0, width), Const(0, index_width)
                if self._onehot:
                    # The one valid child: leaves are masked by their valid
                    # flag, and above them an invalid node's value and index
                    # are zero, so a node is the OR of its children.
                    for c, (c_valid, c_value, c_index) in enumerate(children):
                        child_index = Cat(c_index, Const(c, 2))
                        if level == 0:
                            c_value = c_value & c_valid.replicate(width)
                        sel_value = sel_value | c_value
                        sel_index = sel_index | (child_index & c_valid.replicate(index_width))
                else:
                    # The lowest valid child wins: the priority mux from the top down.
                    for c in reversed(range(4)):
                        c_valid, c_value, c_index = children[c]
                        child_index = Cat(c_index, Const(c, 2))
                        sel_value = Mux(c_valid, c_value, sel_value)
                        sel_index = Mux(c_valid, child_index, sel_index)
                domain += [
                    valid.eq(children[0][0] | children[1][0] | children[2][0] | children[3][0]),
                    value.eq(sel_value),
                    index.eq(sel_index),
                ]
                parents.append((valid, value, index))
            next_tag = Signal(len(tag), name=f"l{level}_tag")
            domain += next_tag.eq(tag)
            nodes, tag = parents, next_tag
        (root_valid, root_value, root_index), = nodes
        m.d.comb += [
            self.out_valid.eq(root_valid),
            self.out_value.eq(root_value),
            self.out_index.eq(root_index),
            self.out_tag.eq(tag),
        ]
        return m

