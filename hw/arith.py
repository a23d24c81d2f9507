"""Arithmetic unit: multiply, accumulate into the local rows, and write back.

Compute: the weight ``S[v]`` and the activation are multiplied (cycle
``c + 3`` of an entry issued at ``c``) while the accumulator of the entry's row
is read; the next cycle adds and writes it back.  Two entries back to back on
the same row (the last of one column, the first of the next) would read a
stale accumulator, so the accumulate stage forwards its own last result.

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

__all__ = ["ArithUnit", "OutputStage", "WRITEBACK_LATENCY"]


class OutputStage(wiring.Component):
    """Round, arithmetic shift, saturate to int16, optional ReLU, in a pipeline.

    ``y = (x + (1 << (shift - 1))) >> shift`` (no rounding term when
    ``shift == 0``), clamped to [-32768, 32767], then ``max(y, 0)`` if ``relu``.

    Stages (one register each): add the rounding term; shift by the multiple of
    8 in ``shift``; shift by the rest; saturate and ReLU.  ``shift`` and
    ``relu`` travel with the data, so they may change every cycle.

    Parameters
    ----------
    width : int
        Width of the signed input ``x`` (the accumulator plus bias).
    shift_width : int
        Width of ``shift``.

    ``shift`` must be at most ``width - 3`` (the bundle check guarantees
    ``shift <= acc_width - 2`` and ``x`` is ``acc_width + 1`` bits wide), so
    the rounding term fits.

    Latency :data:`LATENCY` (4) cycles, one value per cycle.
    """

    LATENCY = 4

    def __init__(self, width, shift_width=6):
        if not isinstance(width, int) or width < 2:
            raise ValueError(f"width must be an integer >= 2, not {width!r}")
        self._width = width
        self._shift_width = shift_width
        super().__init__({
            "valid": In(1),
            "x": In(signed(width)),
            "shift": In(shift_width),
            "relu": In(1),
            "y_valid": Out(1),
            "y": Out(signed(ACT_BITS)),
        })

    def elaborate(self, platform):
        m = Module()
        width = self._width + 1

        def stage(n):
            return (Signal(name=f"s{n}_valid"), Signal(signed(width), name=f"s{n}_value"),
                    Signal(self._shift_width, name=f"s{n}_shift"), Signal(name=f"s{n}_relu"))

        s1, s2, s3 = stage(1), stage(2), stage(3)
        rounding = (Const(1, 1) << self.shift)[1:]
        m.d.sync += [
            s1[0].eq(self.valid), s1[1].eq(self.x + rounding), s1[2].eq(self.shift),
            s1[3].eq(self.relu),
            s2[0].eq(s1[0]), s2[1].eq(s1[1] >> Cat(Const(0, 3), s1[2][3:])), s2[2].eq(s1[2][:3]),
            s2[3].eq(s1[3]),
            s3[0].eq(s2[0]), s3[1].eq(s2[1] >> s2[2]), s3[3].eq(s2[3]),
        ]
        shifted = s3[1]
        sat = Mux(shifted > ACT_MAX, ACT_MAX, Mux(shifted < ACT_MIN, ACT_MIN, shifted))
        m.d.sync += [
            self.y_valid.eq(s3[0]),
            self.y.eq(Mux(s3[3] & (sat < 0), 0, sat)),
        ]
        return m


#: Cycles from a writeback read to its output activation: the accumulator and
#: bias read, the sum, then the output stage.
WRITEBACK_LATENCY = 2 + OutputStage.LATENCY


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
        A decoded entry and its weight ``S[v]`` (cycle ``c + 3``).
    idle : Out(1)
        No product waiting to be accumulated.
    wb_valid, wb_row : In
        Writeback: read local row ``wb_row`` (control unit).  The output
        activation comes :data:`WRITEBACK_LATENCY` cycles later.
    shift, relu, has_bias, bias_base : In
        The running layer's output parameters.
    y_valid, y_row, y : Out
        ``WRITEBACK_LATENCY`` cycles after ``wb_valid``: the output activation
        of that row (read, sum with bias, :class:`OutputStage`).
    host_we, host_addr, host_data : In
        Host write of bias word ``host_addr``.

    One accumulation per cycle; the accumulator of an entry issued at ``c`` is
    written at ``c + 4``.
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
            "y_row": Out(g.act_addr_width),
            "y": Out(signed(ACT_BITS)),
            "host_we": In(1),
            "host_addr": In(g.bias_addr_width),
            "host_data": In(64),
        })

    def elaborate(self, platform):
        m = Module()
        g = self._g
        acc_shape = signed(g.hw.acc_width)
        m.submodules.acc = acc = Memory(shape=acc_shape, depth=g.hw.act_depth, init=[])
        acc_wp = acc.write_port()
        acc_rp = acc.read_port()

        # Multiply (c + 3) while the accumulator is read.
        p_valid = Signal()
        p_row = Signal(g.act_addr_width)
        product = Signal(signed(ACT_BITS + WEIGHT_BITS))
        m.d.sync += [
            p_valid.eq(self.entry_valid),
            p_row.eq(self.entry_row),
            product.eq(self.weight * self.entry_value),
        ]
        m.d.comb += [
            acc_rp.addr.eq(Mux(self.wb_valid, self.wb_row, self.entry_row)),
            acc_rp.en.eq(1),
        ]

        # Accumulate (c + 4), forwarding the previous cycle's result to itself.
        last_valid = Signal()
        last_row = Signal(g.act_addr_width)
        last_sum = Signal(acc_shape)
        old = Mux(last_valid & (last_row == p_row), last_sum, acc_rp.data)
        new = Signal(acc_shape)
        m.d.comb += new.eq(old + product)
        m.d.sync += [last_valid.eq(p_valid), last_row.eq(p_row), last_sum.eq(new)]
        m.d.comb += self.idle.eq(~p_valid)

        # Writeback: row read at w; sum and accumulator clear at w + 1; the
        # activation is handed over at w + WRITEBACK_LATENCY.
        wb1_valid = Signal()
        wb1_row = Signal(g.act_addr_width)
        m.d.sync += [wb1_valid.eq(self.wb_valid), wb1_row.eq(self.wb_row)]
        bias = Const(0, acc_shape)
        if g.hw.bias_depth:
            init = [int(b) for b in self._bias_init] if self._bias_init is not None else []
            m.submodules.bias = bias_mem = Memory(shape=acc_shape, depth=g.hw.bias_depth,
                                                  init=init)
            bias_wp = bias_mem.write_port()
            bias_rp = bias_mem.read_port()
            m.d.comb += [
                bias_wp.addr.eq(self.host_addr), bias_wp.data.eq(self.host_data),
                bias_wp.en.eq(self.host_we),
                bias_rp.addr.eq(self.bias_base + self.wb_row), bias_rp.en.eq(1),
            ]
            bias = Mux(self.has_bias, bias_rp.data, 0)
        # The sum is registered, then rounded, shifted, saturated (OutputStage).
        m.submodules.out = out = OutputStage(g.hw.acc_width + 1, g.shift_width)
        m.d.sync += [
            out.valid.eq(wb1_valid),
            out.x.eq(acc_rp.data + bias),
            out.shift.eq(self.shift),
            out.relu.eq(self.relu),
        ]
        rows = [wb1_row]
        for n in range(OutputStage.LATENCY + 1):
            row = Signal(g.act_addr_width, name=f"wb_row_d{n + 2}")
            m.d.sync += row.eq(rows[-1])
            rows.append(row)
        m.d.comb += [self.y_valid.eq(out.y_valid), self.y_row.eq(rows[-1]), self.y.eq(out.y)]

        m.d.comb += [
            acc_wp.addr.eq(Mux(p_valid, p_row, wb1_row)),
            acc_wp.data.eq(Mux(p_valid, new, 0)),
            acc_wp.en.eq(p_valid | wb1_valid),
        ]
        return m
