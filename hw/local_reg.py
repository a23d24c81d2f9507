"""A register of one PE's own: a copy Yosys keeps apart from its twins in other PEs.

Yosys merges registers with the same input (``opt_merge``), so a value every
PE registers from one broadcast becomes a single register that drives all the
PEs across the device, which is what the copies were for.  On a Lattice ECP5
the copy is therefore made of ``TRELLIS_FF`` primitives (cells ``opt_merge``
leaves alone), each the flip-flop Yosys itself maps a plain register to; in
simulation and in the generated Verilog it is an ordinary register.
"""

from amaranth.hdl import ClockSignal, Const, Instance, Signal, Value

from .bram import is_ecp5

__all__ = ["local_register"]


def local_register(m, platform, value, shape, name):
    """A signal of ``shape`` that is ``value`` one clock later (``sync`` domain).

    With an ECP5 platform the register has no synchronous reset (it starts at
    0, as after configuration); elsewhere it is reset like any ``sync`` register.
    """
    q = Signal(shape, name=name)
    if not is_ecp5(platform):
        m.d.sync += q.eq(value)
        return q
    d = Signal(shape, name=f"{name}_d")
    m.d.comb += d.eq(value)                 # extended or truncated as an assignment does
    d_bits, q_bits = Value.cast(d), Value.cast(q)
    for i in range(len(q_bits)):
        m.submodules[f"{name}_ff{i}"] = Instance(
            "TRELLIS_FF",
            p_GSR="AUTO", p_CEMUX="1", p_CLKMUX="CLK", p_LSRMUX="LSR", p_REGSET="RESET",
            i_CLK=ClockSignal("sync"), i_LSR=Const(0, 1), i_DI=d_bits[i], o_Q=q_bits[i])
    return q
