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

Where :func:`~eie.hw.geometry.bias_in_act_memory` says so (32 PEs on the
ECP5-85F), the PE's bias rows live in the same memory, above the two banks,
as wide as an accumulator: the writeback reads them through the read port,
which the scanner no longer uses by then, and the host writes them through
the write port.  The bias then costs no memory of its own (in LUT RAM, 32 rows
of 36 bits took about 140 LUT4 per PE).
"""

from amaranth.hdl import Cat, Const, Module, Mux, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..config import ACT_BITS
from .bram import BlockRAM
from .geometry import act_memory_shape, clog2

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

    With the bias rows in this memory (``geometry.bias_in_act_file``), also:

    bias_re, bias_addr : In; bias_data : Out
        Read of memory row ``bias_addr`` (2 * act_depth + the bias row) in
        place of the scanner's read (only while a layer writes back);
        ``bias_data`` is its word two cycles later, as ``rd_data`` would be.
    host_we_bias, host_bias_addr, host_bias_data : In
        Host write of bias row ``host_bias_addr``, while the host owns the
        ports: the accumulator word ``host_bias_data``, whose low 16 bits
        must be ``host_data`` (the PE hands both ports the host's one word,
        so the low bits of a host write need no second selection).

    Parameters
    ----------
    bias_init : sequence of int, optional
        Initial bias rows (a baked model).
    """

    def __init__(self, geometry, bias_init=None):
        self._g = geometry
        mask = (1 << geometry.hw.acc_width) - 1
        self._bias_init = [int(b) & mask for b in bias_init] if bias_init is not None else []
        g = geometry
        bias = {}
        if g.bias_in_act_file:
            depth, _ = act_memory_shape(g.hw)
            bias = {
                "bias_re": In(1),
                "bias_addr": In(range(depth)),
                "bias_data": Out(signed(g.hw.acc_width)),
                "host_we_bias": In(1),
                "host_bias_addr": In(g.bias_addr_width),
                "host_bias_data": In(g.hw.acc_width),
            }
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
            **bias,
        })

    def elaborate(self, platform):
        m = Module()
        g = self._g
        depth = g.hw.act_depth
        shared = g.bias_in_act_file
        mem_depth, mem_width = act_memory_shape(g.hw)
        init = [0] * (2 * depth) + self._bias_init if shared and self._bias_init else []
        m.submodules.mem = mem = BlockRAM(mem_width, mem_depth, init=init)

        def bank_addr(bank, index):
            # bank * depth + index, without a multiplier when depth is a power of 2.
            if depth & (depth - 1) == 0:
                return Cat(index[:g.act_addr_width] if depth > 1 else index[:0], bank)
            return bank * depth + index

        # What the scanner reads and the host writes; where the bias rows share
        # the memory, the writeback's bias reads and the host's bias writes
        # join them.
        rd_addr = bank_addr(self.src, self.rd_addr)
        rd_en = self.rd_en
        host_wr_addr = self.host_addr
        host_we = self.host_we
        wr_data = Mux(self.host_mode, Cat(self.host_data, self.host_nz),
                      Cat(self.wr_data, self.wr_nz))
        bias = []
        if shared:
            # The bias rows start at 2 * depth: a constant's bits where the
            # bias rows fit below the next power of two, else a sum (host
            # writes only; the writeback's reads come with the row already in
            # place).
            if depth & (depth - 1) == 0 and g.hw.bias_depth <= 2 * depth:
                host_bias_row = Cat(self.host_bias_addr, Const(0, clog2(2 * depth)
                                                               - len(self.host_bias_addr)),
                                    Const(1, 1))
            else:
                host_bias_row = 2 * depth + self.host_bias_addr
            rd_addr = Mux(self.bias_re, self.bias_addr, rd_addr)
            rd_en = rd_en | self.bias_re
            host_wr_addr = Mux(self.host_we_bias, host_bias_row, self.host_addr)
            host_we = host_we | self.host_we_bias
            # Above an activation's 17 bits, a word is only ever a bias row's:
            # the host's data go there unselected (an activation row's upper
            # bits are never read).
            wr_data = Cat(
                Mux(self.host_mode, self.host_data, self.wr_data),
                Mux(self.host_mode,
                    Mux(self.host_we_bias, self.host_bias_data[ACT_BITS], self.host_nz),
                    self.wr_nz),
                self.host_bias_data[ACT_BITS + 1:mem_width])
            bias = [self.bias_data.eq(mem.rd_data[:g.hw.acc_width])]
        m.d.comb += [
            mem.rd_addr.eq(Mux(self.host_mode, self.host_addr, rd_addr)),
            mem.rd_en.eq(Mux(self.host_mode, self.host_re, rd_en)),
            self.rd_data.eq(mem.rd_data[:ACT_BITS]),
            self.rd_nz.eq(mem.rd_data[ACT_BITS]),
            *bias,
            mem.wr_addr.eq(Mux(self.host_mode, host_wr_addr, bank_addr(~self.src, self.wr_addr))),
            mem.wr_data.eq(wr_data),
            mem.wr_en.eq(Mux(self.host_mode, host_we, self.wr_en)),
        ]
        return m
