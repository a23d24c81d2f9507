"""Codebook: the 16 shared weights of every layer, one store and a copy per PE.

The store holds every layer's codebook (``max_layers * 16`` weights, written by
the host or baked).  A PE only ever decodes with the running layer's 16
weights, so it keeps just those, in a 16-entry distributed RAM of its own
(a quarter of the device's smallest LUT RAM block per bit, where a copy of the
whole store cost about 300 LUT4 per PE).  The store reloads them at the start
of every layer: it reads entry ``i`` at the layer's cycle ``i`` (``i = 0 ..
15``) and registers it, each PE registers that again next to it, and writes it
at the end of the layer's cycle ``i + 2`` (:data:`LOAD_CYCLES`).

That costs no cycle.  A layer's first decode reads the codebook no earlier
than its cycle ``scan_start + bcast_latency + 5 + 6`` (fired at ``scan_start``
at the earliest, at the queue head ``queue_latency = bcast_latency + 5``
cycles later, decoded six cycles after issue), which is 18 or more; the
previous layer decoded its last entry before its writeback started.
:class:`~eie.hw.eie.EIE` checks the inequality when it elaborates.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..config import CODEBOOK_SIZE, WEIGHT_BITS

__all__ = ["Codebook", "CodebookStore", "LOAD_CYCLES"]

#: Layer cycles after which every PE's copy holds the layer's 16 weights.
LOAD_CYCLES = CODEBOOK_SIZE + 2


def _distributed(shape, depth, init=()):
    # Distributed (LUT) RAM, read asynchronously: the reader registers what it
    # reads; Yosys would otherwise fold that register into a block RAM.
    return Memory(shape=shape, depth=depth, init=init, attrs={"ram_style": "distributed"})


class CodebookStore(wiring.Component):
    """Every layer's codebook, and the reload of the running layer's into the PEs.

    Parameters
    ----------
    geometry : eie.hw.geometry.Geometry
    init : sequence of int, optional
        ``max_layers * 16`` signed weights (baked model).

    Members
    -------
    layer_go : In(1)
        Cycle 0 of a layer: the reload starts.
    layer : In(layer_width)
        The running layer (registered; valid from ``layer_go``).
    load_we, load_addr, load_data : Out
        Registered: entry ``load_addr`` of the running layer's codebook, one a
        cycle for 16 cycles from the cycle after ``layer_go``.
    host_we, host_addr, host_data : In
        Host write of entry ``host_addr = layer * 16 + index`` (registered
        here first: it takes effect a cycle later).
    """

    def __init__(self, geometry, init=None):
        self._g = geometry
        self._init = [int(w) for w in init] if init is not None else []
        g = geometry
        super().__init__({
            "layer_go": In(1),
            "layer": In(g.layer_width),
            "load_we": Out(1),
            "load_addr": Out(4),
            "load_data": Out(g.weight_shape),
            "host_we": In(1),
            "host_addr": In((g.codebook_depth - 1).bit_length() or 1),
            "host_data": In(WEIGHT_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._g
        assert CODEBOOK_SIZE == 16
        m.submodules.mem = mem = _distributed(g.weight_shape, g.codebook_depth, self._init)
        wp = mem.write_port()
        rp = mem.read_port(domain="comb")
        m.d.sync += [wp.en.eq(self.host_we), wp.addr.eq(self.host_addr),
                     wp.data.eq(self.host_data)]
        # Entry ``i`` is read at layer cycle ``i``: ``i`` is 0 whenever no
        # reload runs, and counts while one does.
        i = Signal(4)
        running = Signal()
        on = self.layer_go | running
        m.d.comb += rp.addr.eq(Cat(i, self.layer))
        m.d.sync += [self.load_we.eq(on), self.load_addr.eq(i), self.load_data.eq(rp.data)]
        with m.If(on):
            m.d.sync += [i.eq(i + 1), running.eq(i != CODEBOOK_SIZE - 1)]
        return m


class Codebook(wiring.Component):
    """A PE's copy of the running layer's 16 weights: ``S[index]``, read asynchronously.

    Parameters
    ----------
    geometry : eie.hw.geometry.Geometry

    Members
    -------
    index : In(4)
        Codebook index.
    weight : Out(signed(16))
        ``S[index]``, in the same cycle.
    load_we, load_addr, load_data : In
        Write of entry ``load_addr`` (from :class:`CodebookStore`, through a
        register of the PE's own).
    """

    def __init__(self, geometry):
        self._g = geometry
        g = geometry
        super().__init__({
            "index": In(4),
            "weight": Out(g.weight_shape),
            "load_we": In(1),
            "load_addr": In(4),
            "load_data": In(g.weight_shape),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._g
        m.submodules.mem = mem = _distributed(g.weight_shape, CODEBOOK_SIZE)
        wp = mem.write_port()
        rp = mem.read_port(domain="comb")
        m.d.comb += [
            wp.addr.eq(self.load_addr), wp.data.eq(self.load_data), wp.en.eq(self.load_we),
            rp.addr.eq(self.index),
            self.weight.eq(rp.data),
        ]
        return m
