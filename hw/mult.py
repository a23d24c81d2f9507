"""A signed multiply with a register before and after it, in the ECP5's own multiplier.

The product of ``a`` and ``b`` as they were two clock edges before.  On a
Lattice ECP5 it is one ``MULT18X18D`` whose own input registers take ``a`` and
``b`` and whose own output register holds the product (Yosys maps a multiply
to a ``MULT18X18D`` without its registers and leaves the registers around it
in the fabric): the fabric's routes then end and start at the multiplier's
registers and the 4 ns through it lie between them.  Without them, the
16-PE build at 391668f (107.92 MHz) and the 32-PE build at cafabc2
(94.87 MHz) had their critical path from the weight register, 2.4 ns and 25
rows away, through the multiplier and 2.4 ns back to the product register.

Elsewhere (simulation, the generated Verilog) the product is registered,
then registered again: the same latency and result.
"""

from amaranth.hdl import ClockSignal, Const, Instance, Signal, signed

from .bram import is_ecp5

__all__ = ["MULT18X18D_WIDTH", "registered_multiply"]

#: Operand width of the ECP5's MULT18X18D.
MULT18X18D_WIDTH = 18


def registered_multiply(m, platform, a, b, name):
    """``a * b`` (signed) two ``sync`` clock edges later, as a signal named ``name``.

    ``a`` and ``b`` are signed values of at most 18 bits; the result is as wide
    as their product.  With an ECP5 platform the registers are the
    multiplier's own (no reset; zero after configuration); elsewhere they are
    ``sync`` registers.
    """
    width = len(a) + len(b)
    if len(a) > MULT18X18D_WIDTH or len(b) > MULT18X18D_WIDTH:
        raise ValueError(f"operands of {len(a)} and {len(b)} bits: the multiplier takes "
                         f"at most {MULT18X18D_WIDTH}")
    p = Signal(signed(width), name=name)
    if not is_ecp5(platform):
        first = Signal(signed(width), name=f"{name}_first")
        m.d.sync += [first.eq(a * b), p.eq(first)]
        return p
    a18 = Signal(signed(MULT18X18D_WIDTH), name=f"{name}_a")
    b18 = Signal(signed(MULT18X18D_WIDTH), name=f"{name}_b")
    p36 = Signal(signed(2 * MULT18X18D_WIDTH), name=f"{name}_p")
    m.d.comb += [a18.eq(a), b18.eq(b), p.eq(p36)]      # sign-extended, then truncated
    ports = {f"i_A{i}": a18[i] for i in range(MULT18X18D_WIDTH)}
    ports.update({f"i_B{i}": b18[i] for i in range(MULT18X18D_WIDTH)})
    ports.update({f"i_C{i}": Const(0, 1) for i in range(MULT18X18D_WIDTH)})
    ports.update({f"o_P{i}": p36[i] for i in range(2 * MULT18X18D_WIDTH)})
    m.submodules[name] = Instance(
        "MULT18X18D",
        p_REG_INPUTA_CLK="CLK0", p_REG_INPUTA_CE="CE0", p_REG_INPUTA_RST="RST0",
        p_REG_INPUTB_CLK="CLK0", p_REG_INPUTB_CE="CE0", p_REG_INPUTB_RST="RST0",
        p_REG_INPUTC_CLK="NONE", p_REG_PIPELINE_CLK="NONE",
        p_REG_OUTPUT_CLK="CLK0", p_REG_OUTPUT_CE="CE0", p_REG_OUTPUT_RST="RST0",
        p_GSR="DISABLED", p_RESETMODE="SYNC", p_SOURCEB_MODE="B_SHIFT",
        p_MULT_BYPASS="DISABLED", p_CAS_MATCH_REG="FALSE",
        p_CLK0_DIV="ENABLED", p_CLK1_DIV="ENABLED", p_CLK2_DIV="ENABLED",
        p_CLK3_DIV="ENABLED", p_HIGHSPEED_CLK="NONE",
        i_SIGNEDA=Const(1, 1), i_SIGNEDB=Const(1, 1),
        i_SOURCEA=Const(0, 1), i_SOURCEB=Const(0, 1),
        i_CLK0=ClockSignal("sync"), i_CLK1=Const(0, 1), i_CLK2=Const(0, 1),
        i_CLK3=Const(0, 1),
        i_CE0=Const(1, 1), i_CE1=Const(0, 1), i_CE2=Const(0, 1), i_CE3=Const(0, 1),
        i_RST0=Const(0, 1), i_RST1=Const(0, 1), i_RST2=Const(0, 1), i_RST3=Const(0, 1),
        **ports)
    return p
