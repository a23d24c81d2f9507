"""Source and destination activation files of a PE.

Both files live in one two-bank memory: bank ``src`` is the running layer's
source (its local input activations, read by the scanner), bank ``~src`` its
destination (written by writeback).  The control unit flips ``src`` every
layer, so a layer's output is the next layer's input without a copy.  Between
runs the host reads and writes both banks through the same ports.

Each word stores the activation and a nonzero flag (bit 16: the ECP5 block
RAM is 18 bits wide in this shape, so the flag is free), worked out where the
value is written: the scanner's nonzero mask then comes straight from the
block RAM's output register (:class:`~eie.hw.bram.BlockRAM`).
"""

from amaranth.hdl import Cat, Module, Mux, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import ACT_BITS
from .bram import BlockRAM

__all__ = ["ActFile"]


class ActFile(wiring.Component):
    """Two-bank activation memory (one read and one write port).

    Parameters
    ----------
    geometry : eie.hw.geometry.Geometry

    Members
    -------
    src : In(1)
        Bank the running layer reads; writes go to the other bank.
    rd_en, rd_addr : In
        Read local index ``rd_addr`` of the source bank; ``rd_data`` holds the
        value from the second cycle after until the next read (the block RAM's
        output is registered), ``rd_nz`` its nonzero flag.
    wr_en, wr_addr, wr_data, wr_nz : In
        Write local row ``wr_addr`` of the destination bank; ``wr_nz`` is
        ``wr_data != 0``, worked out (and registered) by the writer, so no
        logic stands in front of the block RAM's data pins.
    host_mode : In(1)
        The host owns the ports (the accelerator is not busy).
    host_re, host_we, host_addr, host_data, host_nz : In
        Host access to ``bank * act_depth + index`` (``host_addr`` is that
        index); ``host_nz`` is ``host_data != 0``, registered with it.
    """

    def __init__(self, geometry):
        self._g = geometry
        g = geometry
        super().__init__({
            "src": In(1),
            "rd_en": In(1),
            "rd_addr": In(g.act_addr_width),
            "rd_data": Out(signed(ACT_BITS)),
            "rd_nz": Out(1),
            "wr_en": In(1),
            "wr_addr": In(g.act_addr_width),
            "wr_data": In(signed(ACT_BITS)),
            "wr_nz": In(1),
            "host_mode": In(1),
            "host_re": In(1),
            "host_we": In(1),
            "host_addr": In((2 * g.hw.act_depth - 1).bit_length()),
            "host_data": In(signed(ACT_BITS)),
            "host_nz": In(1),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._g
        depth = g.hw.act_depth
        m.submodules.mem = mem = BlockRAM(ACT_BITS + 1, 2 * depth)

        def bank_addr(bank, index):
            # bank * depth + index, without a multiplier when depth is a power of 2.
            if depth & (depth - 1) == 0:
                return Cat(index[:g.act_addr_width] if depth > 1 else index[:0], bank)
            return bank * depth + index

        m.d.comb += [
            mem.rd_addr.eq(Mux(self.host_mode, self.host_addr, bank_addr(self.src, self.rd_addr))),
            mem.rd_en.eq(Mux(self.host_mode, self.host_re, self.rd_en)),
            self.rd_data.eq(mem.rd_data[:ACT_BITS]),
            self.rd_nz.eq(mem.rd_data[ACT_BITS]),
            mem.wr_addr.eq(Mux(self.host_mode, self.host_addr,
                               bank_addr(~self.src, self.wr_addr))),
            mem.wr_data.eq(Mux(self.host_mode, Cat(self.host_data, self.host_nz),
                               Cat(self.wr_data, self.wr_nz))),
            mem.wr_en.eq(Mux(self.host_mode, self.host_we, self.wr_en)),
        ]
        return m
