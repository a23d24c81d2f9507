"""Arithmetic unit: multiply, accumulate into the local rows, and write back.

Compute: the weight ``S[v]`` and the activation are multiplied (cycle
``c + 7`` of an entry issued at ``c``) while the accumulator of the entry's row
is read; the product and the accumulator are registered twice, the cycle
after adds, and the write back is registered.  The read misses the four
updates still in flight, so the accumulate stage forwards its last four
results (an entry's row may repeat one to four entries later: the last of a
column and the first of the next).

Writeback: once the layer's compute is over, the control unit walks the local
rows; each is read with its bias, rounded, shifted, saturated and passed
through ReLU (:class:`OutputStage`), handed to the destination activation file
``WRITEBACK_LATENCY`` cycles later, and the accumulator is cleared for the next
layer.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..config import ACT_BITS, ACT_MAX, ACT_MIN, WEIGHT_BITS
from .bram import BlockRAM, uses_lut_ram
from .geometry import act_memory_shape
from .mult import registered_multiply

__all__ = ["ArithUnit", "OutputStage", "WRITEBACK_LATENCY"]


class OutputStage(wiring.Component):
    """Round, arithmetic shift, saturate to int16, optional ReLU, in a pipeline.

    ``y = (x + (1 << (shift - 1))) >> shift`` (no rounding term when
    ``shift == 0``), clamped to [-32768, 32767], then ``max(y, 0)`` if ``relu``.

    Only 17 bits of the shifted value are ever needed, so nothing is as wide
    as ``x`` but two cheap tests: with ``q = x >> shift``, the rounded value
    is ``q + x[shift - 1]`` (the last bit shifted out), and ``q`` fits in 16
    bits when ``x``'s bits from ``shift + 15`` up all equal its sign.

    Stages (one register each):

    1. Shift ``{x, 0}`` right by the multiple of 8 in ``shift``, keeping 24
       bits; whether every byte above those 24 bits equals the sign (a
       suffix AND of per-byte flags, picked by the same multiple of 8).
    2. Shift by the rest (0 to 7), keeping 17 bits: the rounding bit and the
       16 low bits of ``q``; whether the kept bits above ``q``'s 16 equal the
       sign too.
    3. Add the rounding bit (17 bits).
    4. Saturate and ReLU.

    ``shift`` and ``relu`` travel with the data, so they may change every
    cycle.  Measured on the ECP5 (Yosys, LUT4 counting a carry cell as two):
    250 LUT4 and 91 flip-flops at 49 bits, against 575 and 183 for a round,
    shift and compare as wide as ``x``.

    Parameters
    ----------
    width : int
        Width of the signed input ``x`` (the accumulator plus bias).
    shift_width : int
        Width of ``shift``.

    ``shift`` must be at most ``width - 3`` (the bundle check guarantees
    ``shift <= acc_width - 2`` and ``x`` is ``acc_width + 1`` bits wide) and
    below 64.

    Latency :data:`LATENCY` (4) cycles, one value per cycle.
    """

    LATENCY = 4

    def __init__(self, width, shift_width=6):
        if not isinstance(width, int) or width < 2:
            raise ValueError(f"width must be an integer >= 2, not {width!r}")
        if not 3 <= shift_width <= 6:
            raise ValueError(f"shift_width must be 3 to 6, not {shift_width!r}")
        self._width = width
        self._shift_width = shift_width
        super().__init__({
            "valid": In(1),
            "x": In(signed(width)),
            "shift": In(shift_width),
            "relu": In(1),
            "y_valid": Out(1),
            "y": Out(signed(ACT_BITS)),
            "y_nz": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        # {x, 0}: bit k + 1 is x's bit k, so the rounding bit x[shift - 1] is
        # bit ``shift`` (0 when shift == 0) and q's bit k is bit shift + 1 + k.
        xe = Cat(Const(0, 1), self.x).as_signed()
        sign = self.x[-1]
        coarse = self.shift[3:]
        # suffix[b]: every byte of xe from byte b up equals the sign (1 above
        # the top, as far as the coarse shift reaches: byte 7 + 3).
        n_bytes = -(-len(xe) // 8)
        suffix = [Const(1, 1)] * (max(n_bytes, 8 + 3) + 1)
        for b in reversed(range(n_bytes)):
            bits = xe[8 * b:8 * b + 8]
            suffix[b] = Mux(sign, bits.all(), ~bits.any()) & suffix[b + 1]
        high_same = Signal()
        with m.Switch(coarse):
            for c in range(1 << len(coarse)):
                with m.Case(c):
                    m.d.comb += high_same.eq(suffix[c + 3])

        s1_valid, s1_relu, s1_sign, s1_high = Signal(), Signal(), Signal(), Signal()
        s1_fine = Signal(3)
        s1_bits = Signal(24)
        m.d.sync += [
            s1_valid.eq(self.valid), s1_relu.eq(self.relu), s1_sign.eq(sign),
            s1_high.eq(high_same), s1_fine.eq(self.shift[:3]),
            s1_bits.eq((xe >> Cat(Const(0, 3), coarse))[:24]),
        ]
        # Stage 2: the 17 bits from s1_fine; kept bits 16 + fine .. 23 equal
        # the sign (with bits 24 and up from stage 1: q fits in 16 bits).
        fits = Const(1, 1)
        for k in range(16, 24):
            below = s1_fine > k - 16 if k < 23 else Const(0, 1)   # bit 23 is always kept
            fits = fits & (below | (s1_bits[k] == s1_sign))
        s2_valid, s2_relu, s2_sign, s2_fits = Signal(), Signal(), Signal(), Signal()
        s2_bits = Signal(17)
        m.d.sync += [
            s2_valid.eq(s1_valid), s2_relu.eq(s1_relu), s2_sign.eq(s1_sign),
            s2_fits.eq(s1_high & fits), s2_bits.eq((s1_bits >> s1_fine)[:17]),
        ]
        # Stage 3: q + rounding bit, in 17 bits (32768 at most).
        s3_valid, s3_relu, s3_sign, s3_fits = Signal(), Signal(), Signal(), Signal()
        s3_sum = Signal(signed(ACT_BITS + 1))
        m.d.sync += [
            s3_valid.eq(s2_valid), s3_relu.eq(s2_relu), s3_sign.eq(s2_sign),
            s3_fits.eq(s2_fits), s3_sum.eq(s2_bits[1:].as_signed() + s2_bits[0]),
        ]
        # Stage 4: saturate (the sign decides when q does not fit), ReLU.
        # The sum exceeds 32767 only as 32768: bit 15 set, bit 16 (sign) clear.
        sat = Mux(s3_fits, Mux(~s3_sum[-1] & s3_sum[-2], ACT_MAX, s3_sum),
                  Mux(s3_sign, ACT_MIN, ACT_MAX))
        negative = Mux(s3_fits, s3_sum[-1], s3_sign)
        zeroed = s3_relu & negative
        m.d.sync += [
            self.y_valid.eq(s3_valid),
            self.y.eq(Mux(zeroed, 0, sat)),
            # Registered with the value: the activation file stores it next to
            # it, with no logic in front of the block RAM's data pins.
            self.y_nz.eq(~zeroed & (~s3_fits | (s3_sum != 0))),
        ]
        return m


#: Cycles from a writeback read to its output activation: the accumulator and
#: bias read, their registered outputs, the sum, then the output stage.
WRITEBACK_LATENCY = 4 + OutputStage.LATENCY


class ArithUnit(wiring.Component):
    """Multiplier, accumulator file with bypass, bias memory and output stage of a PE.

    Parameters
    ----------
    geometry : eie.hw.geometry.Geometry
    bias_init : sequence of int, optional
        Initial bias memory contents (baked model).

    Members
    -------
    entry_valid, entry_row, entry_value, weight : In
        A decoded entry and its weight ``S[v]`` (cycle ``c + 7``).
    idle : Out(1)
        No product waiting to be accumulated.
    wb_valid, wb_row : In
        Writeback: read local row ``wb_row`` (control unit).  The output
        activation comes :data:`WRITEBACK_LATENCY` cycles later.  The rows
        of a writeback are 0, 1, 2, ... on consecutive cycles (the bias
        address is a counter that follows ``wb_valid``).
    shift, relu, has_bias, bias_base : In
        The running layer's output parameters.
    y_valid, y_row, y : Out
        ``WRITEBACK_LATENCY`` cycles after ``wb_valid``: the output activation
        of that row (read, sum with bias, :class:`OutputStage`).
    host_we, host_addr, host_data : In
        Host write of bias word ``host_addr``.
    bias_addr : Out; bias_data : In
        In place of the bias memory and its host port, where the bias rows
        share the activation files' memory (``geometry.bias_in_act_file``):
        the row that memory reads while ``wb_valid``, and its word two cycles
        later.

    One accumulation per cycle; the accumulator of an entry issued at ``c`` is
    written at ``c + 10``.
    """

    def __init__(self, geometry, bias_init=None):
        self._g = geometry
        self._bias_init = bias_init
        g = geometry
        super().__init__({
            "entry_valid": In(1),
            "entry_row": In(g.act_addr_width),
            "entry_value": In(signed(ACT_BITS)),
            "weight": In(signed(WEIGHT_BITS)),
            "idle": Out(1),
            "wb_valid": In(1),
            "wb_row": In(g.act_addr_width),
            "shift": In(g.shift_width),
            "relu": In(1),
            "has_bias": In(1),
            "bias_base": In(g.bias_addr_width),
            "y_valid": Out(1),
            "y_nz": Out(1),
            "y_row": Out(g.act_addr_width),
            "y": Out(signed(ACT_BITS)),
            **({"bias_addr": Out(range(act_memory_shape(g.hw)[0])),
                "bias_data": In(signed(g.hw.acc_width))}
               if g.bias_in_act_file else
               {"host_we": In(1),
                "host_addr": In(g.bias_addr_width),
                "host_data": In(64)}),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._g
        acc_shape = signed(g.hw.acc_width)
        # The accumulators are a BlockRAM: on the ECP5 DP16KD blocks whose own
        # output register holds the word (an inferred memory had LUTs in front
        # of that register, on the 4- and 8-PE builds' critical path).  A read
        # of a row being written returns either word; the bypass below
        # replaces it in that case.
        # Zeros at configuration, as the hardware's are: the first layer reads
        # rows nothing has written yet (the generated Verilog keeps the zero
        # initial contents of the memory named "acc_rows", eie.gen.verilog).
        #
        # Where the accumulators are LUT RAM (few rows, as at 32 PEs on the
        # board), the read is asynchronous instead, two cycles later (c + 9,
        # registered at c + 10 as the block RAM's word would be): it then
        # misses only the two updates still in flight, so the accumulate stage
        # forwards two results instead of four (a 3-way choice of 36 or 48
        # bits instead of 5-way, two sum registers fewer).  The cycles are the
        # same either way.
        lut_acc = uses_lut_ram(g.hw.act_depth, acc_shape.width)
        if lut_acc:
            m.submodules.acc_rows = acc_mem = Memory(shape=acc_shape.width,
                                                     depth=g.hw.act_depth, init=[])
            acc_wp = acc_mem.write_port()
            acc_rp = acc_mem.read_port(domain="comb")
            acc_wr_addr = Signal.like(acc_wp.addr)
            acc_wr_data = Signal(acc_shape.width)
            acc_wr_en = Signal()
            m.d.comb += [acc_wp.addr.eq(acc_wr_addr), acc_wp.data.eq(acc_wr_data),
                         acc_wp.en.eq(acc_wr_en)]
            acc_near = acc_rp.data.as_signed()  # the asynchronous read (c + 9)
        else:
            m.submodules.acc = acc = BlockRAM(acc_shape.width, g.hw.act_depth,
                                              name="acc_rows")
            acc_wr_addr, acc_wr_data, acc_wr_en = acc.wr_addr, acc.wr_data, acc.wr_en

        # Every block-RAM output (accumulator, bias) is registered twice before
        # any logic: the ECP5's EBR clock-to-output time leaves no room for an
        # adder, nor for a route across the device, so the first register's
        # only load is the second (the placer puts it near its block RAM).
        #
        # Multiply (c + 7) while the accumulator is read; the product is
        # registered (c + 8, c + 9), the accumulator twice (c + 8, c + 9), then
        # they are added at c + 10 and written back at c + 11.  The read misses
        # the four updates still in flight (written at c + 7 .. c + 10 by the
        # entries four to one ahead), so the accumulate stage forwards its last
        # four results, the newest first.
        p_valid = Signal()
        p_row = Signal(g.act_addr_width)
        m.d.sync += [
            p_valid.eq(self.entry_valid),
            p_row.eq(self.entry_row),
        ]
        # The product, registered twice (c + 8, c + 9): on the ECP5 by the
        # multiplier's own input and output registers (eie.hw.mult).
        r_product = registered_multiply(m, platform, self.weight, self.entry_value,
                                        "r_product")
        if not lut_acc:
            m.d.comb += acc.rd_addr.eq(Mux(self.wb_valid, self.wb_row, self.entry_row))
            acc_near = acc.rd_data.as_signed()      # the block RAM's output register
        r_valid = Signal()
        r_row = Signal(g.act_addr_width)
        m.d.sync += [r_valid.eq(p_valid), r_row.eq(p_row)]
        acc_q = Signal(acc_shape)
        q_valid = Signal()
        q_row = Signal(g.act_addr_width)
        q_product = Signal.like(r_product)
        m.d.sync += [
            acc_q.eq(acc_near),
            q_valid.eq(r_valid), q_row.eq(r_row), q_product.eq(r_product),
        ]

        # Accumulate (c + 10), forwarding the results of the four cycles
        # before (the accumulator write is registered: a result reaches the
        # block RAM a cycle after it is computed, so the read at c + 7 misses
        # the entries one to four ahead).  Which one to forward is decided a
        # cycle ahead, when the entry's row is compared with the rows of the
        # four entries before it (then in the accumulate stage and the result
        # registers), so the adder's operand is a 5-way choice of registers.
        # (With LUT RAM the read at c + 9 misses the entries one and two ahead
        # only: a 3-way choice.)
        last1_valid, last2_valid, last3_valid = Signal(), Signal(), Signal()
        last1_row, last2_row, last3_row = (Signal(g.act_addr_width, name=f"last{i}_row")
                                           for i in (1, 2, 3))
        last1_sum, last2_sum, last3_sum, last4_sum = (Signal(acc_shape, name=f"last{i}_sum")
                                                      for i in (1, 2, 3, 4))
        fwd1, fwd2, fwd3, fwd4 = Signal(), Signal(), Signal(), Signal()
        new = Signal(acc_shape)
        if lut_acc:
            m.d.sync += [
                fwd1.eq(q_valid & (q_row == r_row)),
                fwd2.eq(last1_valid & (last1_row == r_row)),
            ]
            m.d.comb += new.eq(Mux(fwd1, last1_sum, Mux(fwd2, last2_sum, acc_q)) + q_product)
            m.d.sync += [
                last1_valid.eq(q_valid), last1_row.eq(q_row), last1_sum.eq(new),
                last2_sum.eq(last1_sum),
            ]
        else:
            m.d.sync += [
                fwd1.eq(q_valid & (q_row == r_row)),
                fwd2.eq(last1_valid & (last1_row == r_row)),
                fwd3.eq(last2_valid & (last2_row == r_row)),
                fwd4.eq(last3_valid & (last3_row == r_row)),
            ]
            old = Mux(fwd1, last1_sum, Mux(fwd2, last2_sum, Mux(fwd3, last3_sum,
                                                                Mux(fwd4, last4_sum, acc_q))))
            m.d.comb += new.eq(old + q_product)
            m.d.sync += [
                last1_valid.eq(q_valid), last1_row.eq(q_row), last1_sum.eq(new),
                last2_valid.eq(last1_valid), last2_row.eq(last1_row), last2_sum.eq(last1_sum),
                last3_valid.eq(last2_valid), last3_row.eq(last2_row), last3_sum.eq(last2_sum),
                last4_sum.eq(last3_sum),
            ]
        m.d.comb += self.idle.eq(~p_valid & ~r_valid & ~q_valid)

        # Writeback: row read at w; the accumulator cleared at w + 1;
        # accumulator registered at w + 1 and w + 2, bias read at w, out of
        # the block RAM's output register at w + 2 and registered again next
        # to the adder at w + 3; their sum registered at w + 3; the activation
        # is handed over at w + WRITEBACK_LATENCY.
        wb1_valid = Signal()
        wb1_row = Signal(g.act_addr_width)
        m.d.sync += [wb1_valid.eq(self.wb_valid), wb1_row.eq(self.wb_row)]
        bias_q = Signal(acc_shape)
        if g.bias_in_act_file:
            # The same counter, over the shared memory's rows (the bias rows
            # start above the two activation banks); the memory and its
            # output register are the activation files'.
            m.d.sync += self.bias_addr.eq(Mux(self.wb_valid, self.bias_addr + 1,
                                              2 * g.hw.act_depth + self.bias_base))
            m.d.sync += bias_q.eq(Mux(self.has_bias, self.bias_data, 0))
        elif g.hw.bias_depth:
            init = [int(b) for b in self._bias_init] if self._bias_init is not None else []
            m.submodules.bias = bias_mem = BlockRAM(acc_shape.width, g.hw.bias_depth,
                                                    init=[b & ((1 << acc_shape.width) - 1)
                                                          for b in init])
            # The bias row's address is a counter of this PE's own: the rows
            # of a writeback are 0, 1, ... on consecutive cycles, so it holds
            # ``bias_base`` until the writeback starts and counts while it
            # runs, and row w's bias is read at w.  The block RAM's output
            # register may be anywhere on the device: its word is registered
            # again next to the adder (the block RAM's clock-to-output time
            # and a route across the device took most of a cycle).
            bias_addr = Signal(len(bias_mem.rd_addr))
            m.d.sync += bias_addr.eq(Mux(self.wb_valid, bias_addr + 1, self.bias_base))
            m.d.comb += [
                bias_mem.wr_addr.eq(self.host_addr), bias_mem.wr_data.eq(self.host_data),
                bias_mem.wr_en.eq(self.host_we),
                bias_mem.rd_addr.eq(bias_addr),
            ]
            m.d.sync += bias_q.eq(Mux(self.has_bias, bias_mem.rd_data.as_signed(), 0))
        wb2_valid = Signal()
        wb2_row = Signal(g.act_addr_width)
        wb3_valid = Signal()
        wb3_row = Signal(g.act_addr_width)
        m.d.sync += [wb2_valid.eq(wb1_valid), wb2_row.eq(wb1_row),
                     wb3_valid.eq(wb2_valid), wb3_row.eq(wb2_row)]
        if lut_acc:
            # The asynchronous read: row w at w + 2 (its clear is written at
            # the end of that cycle), the entry's row at c + 9.
            m.d.comb += acc_rp.addr.eq(Mux(wb2_valid, wb2_row, r_row))
        # The sum is registered, then rounded, shifted, saturated (OutputStage).
        m.submodules.out = out = OutputStage(g.hw.acc_width + 1, g.shift_width)
        m.d.sync += [
            out.valid.eq(wb3_valid),
            out.x.eq(acc_q + bias_q),
            out.shift.eq(self.shift),
            out.relu.eq(self.relu),
        ]
        rows = [wb3_row]
        for n in range(OutputStage.LATENCY + 1):
            row = Signal(g.act_addr_width, name=f"wb_row_d{n + 4}")
            m.d.sync += row.eq(rows[-1])
            rows.append(row)
        m.d.comb += [self.y_valid.eq(out.y_valid), self.y_row.eq(rows[-1]), self.y.eq(out.y),
                     self.y_nz.eq(out.y_nz)]

        # The accumulator write (a result, or the clear after a writeback
        # read) is registered: the block RAM's data pins may be anywhere.
        m.d.sync += [
            acc_wr_addr.eq(Mux(q_valid, q_row, wb1_row)),
            acc_wr_data.eq(Mux(q_valid, new, 0)),
            acc_wr_en.eq(q_valid | wb1_valid),
        ]
        return m
