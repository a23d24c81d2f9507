"""Codebook lookup: the 16 shared weights of every layer, one copy per PE."""

from amaranth.hdl import Cat, Module
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..config import CODEBOOK_SIZE, WEIGHT_BITS

__all__ = ["Codebook"]


class Codebook(wiring.Component):
    """Weight lookup ``S[layer][v]`` (asynchronous read, distributed RAM).

    Parameters
    ----------
    geometry : eie.hw.geometry.Geometry
    init : sequence of int, optional
        ``max_layers * 16`` signed weights (baked model).

    Members
    -------
    layer, index : In
        Running layer and 4-bit codebook index.
    weight : Out(signed(16))
        ``S[layer][index]``, in the same cycle.
    host_we, host_addr, host_data : In
        Host write of entry ``host_addr = layer * 16 + index``.
    """

    def __init__(self, geometry, init=None):
        self._g = geometry
        self._init = init
        g = geometry
        super().__init__({
            "layer": In(g.layer_width),
            "index": In(4),
            "weight": Out(g.weight_shape),
            "host_we": In(1),
            "host_addr": In((g.codebook_depth - 1).bit_length() or 1),
            "host_data": In(WEIGHT_BITS),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._g
        init = [int(w) for w in self._init] if self._init is not None else []
        # Distributed (LUT) RAM: the read is asynchronous and the reader registers
        # the weight; Yosys would otherwise fold that register into a block RAM,
        # whose clock-to-output time then precedes the multiplier.
        m.submodules.mem = mem = Memory(shape=g.weight_shape, depth=g.codebook_depth, init=init,
                                        attrs={"ram_style": "distributed"})
        wp = mem.write_port()
        rp = mem.read_port(domain="comb")
        assert CODEBOOK_SIZE == 16
        m.d.comb += [
            wp.addr.eq(self.host_addr), wp.data.eq(self.host_data), wp.en.eq(self.host_we),
            rp.addr.eq(Cat(self.index, self.layer)),
            self.weight.eq(rp.data),
        ]
        return m
