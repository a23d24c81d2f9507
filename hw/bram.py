"""Block RAM with a registered output: one write port, one read port, read latency 2.

The read address is taken at a clock edge, the word comes out of the RAM's
output register at the next one.  On a Lattice ECP5 the memory is made of
``DP16KD`` instances (LUT RAM when Yosys would put it there) whose own
output register (``REGMODE_B = "OUTREG"``) is that register, which Yosys does
not infer (YosysHQ/yosys#5814): the word then leaves the RAM 0.95 ns after the
clock instead of 5.8 ns, and no logic stands between the block RAM and the
register (Yosys' mapping of an inferred memory adds a LUT in front of the
register, with inputs from the address logic, which pulls that register away
from its block RAM).  Measured at 8 PEs with the reset on a global network:
100.3 MHz against 91.7 MHz with inferred memories.  Elsewhere (simulation,
the generated Verilog) it is an inferred
:class:`~amaranth.lib.memory.Memory` (a synchronous read port) followed by a
register.

The ECP5 instances follow Yosys' own mapping of the same memory
(``techlibs/lattice/brams_map_16kd.v``): a DP16KD of width 1, 2, 4, 9, 18 or
36 takes its address in the top bits of the 14-bit address bus; the initial
contents are the 18-bit rows of ``INITVAL_00`` .. ``INITVAL_3F`` (16 rows of 20
bits each), and a port narrower than 9 bits uses 8 of each row half's 9 bits.
"""

from amaranth.hdl import Cat, ClockSignal, Const, Instance, Module, Mux, Signal
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

__all__ = ["BlockRAM", "dp16kd_blocks", "dp16kd_initvals", "dp16kd_shape", "is_ecp5",
           "uses_lut_ram"]

#: DP16KD port shapes: (depth, width); 36 bits wide is the pseudo dual port mode.
DP16KD_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))


def dp16kd_shape(depth, width, read_ports=1):
    """The DP16KD shape for a ``depth`` x ``width`` memory.

    Returns ``(shape_depth, shape_width, banks, columns)``: the fewest block
    RAMs, and among those the fewest address banks (each bank costs a
    multiplexer input on the read side).  With two read ports the block RAMs
    are true dual port, at most 18 bits wide.
    """
    best = None
    for d, w in DP16KD_SHAPES:
        if read_ports == 2 and w > 18:
            continue
        banks, columns = -(-depth // d), -(-width // w)
        key = (banks * columns, banks)
        if best is None or key < best[0]:
            best = (key, (d, w, banks, columns))
    return best[1]


def uses_lut_ram(depth, width, read_ports=1):
    """Whether Yosys puts a ``depth`` x ``width`` memory in LUT RAM on the ECP5."""
    return read_ports == 1 and (depth <= 32 or depth * width <= 1024)


def dp16kd_blocks(depth, width, read_ports=1):
    """Block RAMs a ``depth`` x ``width`` memory takes on the ECP5 (0 in LUT RAM)."""
    if uses_lut_ram(depth, width, read_ports):
        return 0
    _, _, banks, columns = dp16kd_shape(depth, width, read_ports)
    return banks * columns


def dp16kd_initvals(words, width):
    """``INITVAL_00`` .. ``INITVAL_3F`` of one DP16KD of port ``width`` holding ``words``."""
    rows = [0] * 1024
    if width >= 9:
        flat = 0
        for a, word in enumerate(words):
            flat |= (word & ((1 << width) - 1)) << (a * width)
        rows = [(flat >> (18 * r)) & 0x3FFFF for r in range(1024)]
    else:
        per = 8 // width                 # words per 9-bit half row
        for a, word in enumerate(words):
            unit, sub = divmod(a, per)   # 9-bit unit, place within it
            bit = unit * 9 + sub * width
            rows[bit // 18] |= (word & ((1 << width) - 1)) << (bit % 18)
    return [sum(rows[16 * i + k] << (20 * k) for k in range(16)) for i in range(64)]


def is_ecp5(platform):
    """Whether ``platform`` (of an elaboration) is a Lattice ECP5."""
    return getattr(platform, "family", None) == "ecp5"


class BlockRAM(wiring.Component):
    """``depth`` words of ``width`` bits; read latency 2 (address in, data out registered).

    Parameters
    ----------
    width, depth : int
    init : sequence of int, optional
        Initial contents.
    name : str
        Name of the inferred memory (simulation, generated Verilog).
    read_ports : 1 or 2
        With 2, a second read port ``rd2_addr``/``rd2_data`` (the same
        latency, always enabled) shares the write port's side of the block
        RAMs (true dual port, at most 18 bits per block): its word is
        undefined after a write at the same edge.

    Members
    -------
    wr_en, wr_addr, wr_data : In
        Write port: ``wr_data`` goes to ``wr_addr`` when ``wr_en``.
    rd_en, rd_addr : In; rd_data : Out(width)
        Read port: ``rd_data`` is the word at the ``rd_addr`` of two clock
        edges before, read if ``rd_en`` was high then (1 when not driven);
        else the word read last.  A read of a word written at the same edge
        returns either value.
    """

    def __init__(self, width, depth, init=(), name="storage", read_ports=1):
        self._width = width
        self._depth = depth
        self._name = name
        self._init = [int(w) for w in init]
        if len(self._init) > depth:
            raise ValueError(f"{len(self._init)} initial words for a memory of {depth}")
        if read_ports not in (1, 2):
            raise ValueError(f"read_ports must be 1 or 2, not {read_ports!r}")
        self._read_ports = read_ports
        abits = max(1, (depth - 1).bit_length())
        ports = {
            "wr_en": In(1),
            "wr_addr": In(abits),
            "wr_data": In(width),
            "rd_en": In(1, init=1),
            "rd_addr": In(abits),
            "rd_data": Out(width),
        }
        if read_ports == 2:
            ports.update({"rd2_addr": In(abits), "rd2_data": Out(width)})
        super().__init__(ports)

    def elaborate(self, platform):
        if is_ecp5(platform) and not uses_lut_ram(self._depth, self._width, self._read_ports):
            return self._elaborate_dp16kd()
        m = Module()
        m.submodules[self._name] = mem = Memory(shape=self._width, depth=self._depth,
                                                init=self._init)
        wp = mem.write_port()
        m.d.comb += [wp.addr.eq(self.wr_addr), wp.data.eq(self.wr_data), wp.en.eq(self.wr_en)]
        for addr, en, data in self._reads():
            rp = mem.read_port()
            m.d.comb += [rp.addr.eq(addr), rp.en.eq(en)]
            # The output register has no reset: no reset logic between the
            # block RAM and its register (the word it holds after a reset is
            # the last one read, or 0 after configuration).
            out = Signal(self._width, reset_less=True)
            m.d.sync += out.eq(rp.data)
            m.d.comb += data.eq(out)
        return m

    def _reads(self):
        """The read ports: ``(addr, en, data)``; the second one is always enabled."""
        reads = [(self.rd_addr, self.rd_en, self.rd_data)]
        if self._read_ports == 2:
            reads.append((self.rd2_addr, Const(1, 1), self.rd2_data))
        return reads

    def _elaborate_dp16kd(self):
        m = Module()
        reads = self._reads()
        d, w, banks, columns = dp16kd_shape(self._depth, self._width, self._read_ports)
        sbits = (d - 1).bit_length()                  # address bits of one block
        words = self._init + [0] * (banks * d - len(self._init))
        bank_bits = len(self.rd_addr) - sbits if banks > 1 else 0

        def widened(addr):   # as wide as a block's address, at least
            return Cat(addr, Const(0, max(0, sbits - len(addr))))

        wr_addr = widened(self.wr_addr)
        rd_addrs = [widened(addr)[:sbits] for addr, _, _ in reads]
        # Per read port, which bank was read two edges ago (the RAM's input and
        # output registers).
        selects = []
        for addr, en, _ in reads:
            bank_q = Signal(max(1, bank_bits))
            bank_qq = Signal(max(1, bank_bits))
            if bank_bits:
                with m.If(en):
                    m.d.sync += bank_q.eq(addr[sbits:])
                m.d.sync += bank_qq.eq(bank_q)
            selects.append(bank_qq)
        outputs = [[] for _ in reads]            # per read port, per bank
        for b in range(banks):   # bank b: words b * d .. b * d + d - 1
            wr_here = self.wr_en
            if bank_bits:
                wr_here = self.wr_en & (self.wr_addr[sbits:] == b)
            parts = [[] for _ in reads]
            for c in range(columns):
                lo = c * w
                hi = min(self._width, lo + w)
                mask = (1 << (hi - lo)) - 1
                block = [(word >> lo) & mask for word in words[b * d:(b + 1) * d]]
                dos = [Signal(36, name=f"do_{b}_{c}")]
                if len(reads) == 2:
                    dos.append(Signal(18, name=f"do2_{b}_{c}"))
                m.submodules[f"ebr_{b}_{c}"] = _dp16kd(
                    w, sbits, block, wr_here, wr_addr[:sbits],
                    Cat(self.wr_data[lo:hi], Const(0, 36 - (hi - lo))),
                    self.rd_en, rd_addrs[0], dos[0],
                    *((rd_addrs[1], dos[1]) if len(reads) == 2 else ()))
                for port, do in zip(parts, dos):
                    port.append(do[:hi - lo])
            for port, port_parts in zip(outputs, parts):
                port.append(Cat(*port_parts))
        for (_, _, data), outs, select in zip(reads, outputs, selects):
            if banks == 1:
                m.d.comb += data.eq(outs[0])
            else:
                with m.Switch(select):
                    for b, out in enumerate(outs):
                        with m.Case(b):
                            m.d.comb += data.eq(out)
        return m


def _dp16kd(width, abits, words, we, wr_addr, wr_data, rd_en, rd_addr, rd_data,
            rd2_addr=None, rd2_data=None):
    """One DP16KD: port A writes, port B reads through its output register.

    ``wr_data`` and ``rd_data`` are 36 bits wide (the low ``width`` used).  In
    the 36-bit (pseudo dual port) mode, as Yosys maps ``PDPW16KD``, the word
    is written through both ports' data inputs with port A's four byte
    enables, and read on both ports' outputs (A low half, B high half).
    With ``rd2_addr`` (at most 18 bits wide), port A also reads, at
    ``rd2_addr`` when it does not write, through its own output register
    into ``rd2_data``.
    """
    ports = {}
    pad = Const(0, 14 - abits)
    if width == 36:
        ada = Cat(we, we, we, we, Const(0, 1), wr_addr)
        wea = Const(1, 1)
    else:
        # A 18-bit wide write takes its byte enables on address bits 0 and 1.
        a_addr = wr_addr if rd2_addr is None else Mux(we, wr_addr, rd2_addr)
        ada = Cat(Const(0b11 if width == 18 else 0, 14 - abits), a_addr)
        wea = we
    adb = Cat(pad, rd_addr)
    for k in range(14):
        ports[f"i_ADA{k}"] = ada[k]
        ports[f"i_ADB{k}"] = adb[k]
    for k in range(18):
        ports[f"i_DIA{k}"] = wr_data[k]
        ports[f"i_DIB{k}"] = wr_data[18 + k] if width == 36 else Const(0, 1)
        ports[f"o_DOB{k}"] = rd_data[18 + k if width == 36 else k]
        if width == 36:
            ports[f"o_DOA{k}"] = rd_data[k]
        elif rd2_data is not None:
            ports[f"o_DOA{k}"] = rd2_data[k]
    for p in ("A", "B"):
        ports.update({f"i_CS{p}{k}": Const(0, 1) for k in range(3)})
    params = {f"p_INITVAL_{i:02X}": Const(v, 320)
              for i, v in enumerate(dp16kd_initvals(words, width))}
    return Instance(
        "DP16KD",
        p_DATA_WIDTH_A=width, p_DATA_WIDTH_B=width,
        p_REGMODE_A="OUTREG" if width == 36 or rd2_data is not None else "NOREG",
        p_REGMODE_B="OUTREG",
        p_RESETMODE="SYNC", p_ASYNC_RESET_RELEASE="SYNC",
        p_CSDECODE_A="0b000", p_CSDECODE_B="0b000",
        p_WRITEMODE_A="NORMAL", p_WRITEMODE_B="NORMAL",
        p_GSR="AUTO",
        i_CLKA=ClockSignal("sync"), i_CEA=Const(1, 1), i_OCEA=Const(1, 1), i_WEA=wea,
        i_RSTA=Const(0, 1),
        i_CLKB=ClockSignal("sync"), i_CEB=rd_en, i_OCEB=Const(1, 1), i_WEB=Const(0, 1),
        i_RSTB=Const(0, 1),
        **params, **ports)
