"""The registered multiply: the generic version in Amaranth's simulator, the
ECP5 version (a MULT18X18D with its own registers) in Icarus against a
behavioural MULT18X18D, and what Yosys makes of it."""

import json
import random
import shutil
import subprocess

import pytest
from amaranth.back import rtlil, verilog
from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth_boards.ulx3s import ULX3S_85F_Platform
from hw_helpers import run_sim

from eie.gen.fpga import _tool_env
from eie.hw.mult import registered_multiply

#: Operand pairs with every sign and both extremes of 16 bits.
EDGES = [(-32768, -32768), (-32768, 32767), (32767, 32767), (-1, -1), (0, -32768),
         (1, -1), (-2, 3), (12345, -321)]


class Mul(wiring.Component):
    a: In(signed(16))
    b: In(signed(16))
    p: Out(signed(32))

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.p.eq(registered_multiply(m, platform, self.a, self.b, "prod"))
        return m


def _operands(n=200):
    rng = random.Random(7)
    return EDGES + [(rng.randrange(-32768, 32768), rng.randrange(-32768, 32768))
                    for _ in range(n)]


def test_generic_two_cycles():
    dut = Mul()
    ops = _operands()

    async def tb(ctx):
        seen = []
        for a, b in ops + [(0, 0), (0, 0)]:
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            await ctx.tick()
            seen.append(ctx.get(dut.p))
        # The operands set before an edge are taken by it; their product is
        # out after the next one.
        assert seen[1:-1] == [a * b for a, b in ops]

    run_sim(dut, tb)


def _behavioural_mult18x18d():
    """MULT18X18D with input registers A and B and the output register on CLK0
    (CE0, RST0), signed operands: the configuration eie.hw.mult uses. Any
    other configuration is reported."""
    ports = ", ".join([f"A{i}" for i in range(18)] + [f"B{i}" for i in range(18)]
                      + [f"C{i}" for i in range(18)] + [f"P{i}" for i in range(36)])
    a = ", ".join(f"A{i}" for i in reversed(range(18)))
    b = ", ".join(f"B{i}" for i in reversed(range(18)))
    p = ", ".join(f"P{i}" for i in reversed(range(36)))
    return f"""
module MULT18X18D({ports}, SIGNEDA, SIGNEDB, SOURCEA, SOURCEB, CLK0, CLK1, CLK2, CLK3,
                  CE0, CE1, CE2, CE3, RST0, RST1, RST2, RST3);
  parameter REG_INPUTA_CLK = "NONE", REG_INPUTA_CE = "CE0", REG_INPUTA_RST = "RST0";
  parameter REG_INPUTB_CLK = "NONE", REG_INPUTB_CE = "CE0", REG_INPUTB_RST = "RST0";
  parameter REG_INPUTC_CLK = "NONE", REG_PIPELINE_CLK = "NONE";
  parameter REG_OUTPUT_CLK = "NONE", REG_OUTPUT_CE = "CE0", REG_OUTPUT_RST = "RST0";
  parameter GSR = "ENABLED", RESETMODE = "SYNC", SOURCEB_MODE = "B_SHIFT";
  parameter MULT_BYPASS = "DISABLED", CAS_MATCH_REG = "FALSE", HIGHSPEED_CLK = "NONE";
  parameter CLK0_DIV = "ENABLED", CLK1_DIV = "ENABLED", CLK2_DIV = "ENABLED",
            CLK3_DIV = "ENABLED";
  input {", ".join(f"A{i}" for i in range(18))};
  input {", ".join(f"B{i}" for i in range(18))};
  input {", ".join(f"C{i}" for i in range(18))};
  input SIGNEDA, SIGNEDB, SOURCEA, SOURCEB, CLK0, CLK1, CLK2, CLK3;
  input CE0, CE1, CE2, CE3, RST0, RST1, RST2, RST3;
  output {", ".join(f"P{i}" for i in range(36))};
  reg signed [17:0] ra = 0, rb = 0;
  reg signed [35:0] rp = 0;
  assign {{{p}}} = rp;
  initial if (REG_INPUTA_CLK != "CLK0" || REG_INPUTB_CLK != "CLK0" || REG_OUTPUT_CLK != "CLK0"
              || REG_PIPELINE_CLK != "NONE" || MULT_BYPASS != "DISABLED"
              || REG_INPUTA_CE != "CE0" || REG_INPUTA_RST != "RST0"
              || REG_OUTPUT_CE != "CE0" || REG_OUTPUT_RST != "RST0")
    $display("MULT18X18D: configuration not modelled");
  always @(posedge CLK0) begin
    if (CE0 !== 1'b1 || RST0 !== 1'b0 || SIGNEDA !== 1'b1 || SIGNEDB !== 1'b1)
      $display("MULT18X18D: CE0 %b RST0 %b SIGNEDA %b SIGNEDB %b", CE0, RST0, SIGNEDA, SIGNEDB);
    ra <= {{{a}}};
    rb <= {{{b}}};
    rp <= ra * rb;
  end
endmodule
"""


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs iverilog")
def test_ecp5_multiplier_in_icarus(tmp_path):
    """The MULT18X18D netlist gives every product two edges after its operands."""
    top = verilog.convert(Mul(), name="mul", platform=ULX3S_85F_Platform())
    assert "MULT18X18D" in top
    (tmp_path / "mul.v").write_text(top)
    (tmp_path / "mult.v").write_text(_behavioural_mult18x18d())
    ops = _operands()
    steps = "\n".join(
        f"    a = {a}; b = {b}; @(posedge clk); #1; check({i});" for i, (a, b) in enumerate(ops))
    expect = "\n".join(f"    want[{i}] = {a * b};" for i, (a, b) in enumerate(ops))
    (tmp_path / "tb.v").write_text(f"""
`timescale 1ns/1ps
module tb;
  reg clk = 0, rst = 0;
  reg signed [15:0] a = 0, b = 0;
  wire signed [31:0] p;
  reg signed [31:0] want [0:{len(ops) - 1}];
  integer errors = 0;
  mul dut(.clk(clk), .rst(rst), .a(a), .b(b), .p(p));
  always #5 clk = ~clk;
  task check(input integer i);
    // check(i) follows the edge after operands i were set: it sees the
    // product of operands i - 1 (taken at the edge before).
    if (i >= 1 && p !== want[i - 1]) begin
      if (errors < 5) $display("operands %0d: %0d", i - 1, p);
      errors = errors + 1;
    end
  endtask
  initial begin
{expect}
    #1;
{steps}
    a = 0; b = 0; @(posedge clk); #1; check({len(ops)});
    $display("ERRORS %0d", errors);
    $finish;
  end
endmodule
""")
    subprocess.run(["iverilog", "-g2005", "-o", "sim", "tb.v", "mul.v", "mult.v"],
                   cwd=tmp_path, check=True, capture_output=True)
    out = subprocess.run(["vvp", "-n", "sim"], cwd=tmp_path, check=True,
                         capture_output=True, text=True).stdout
    assert "ERRORS 0" in out and "MULT18X18D:" not in out, out


def test_yosys_keeps_the_registers_in_the_multiplier(tmp_path):
    """synth_ecp5 leaves one MULT18X18D with its three registers and no
    flip-flop in the fabric."""
    (tmp_path / "t.il").write_text(rtlil.convert(Mul(), name="t",
                                                 platform=ULX3S_85F_Platform()))
    subprocess.run([_tool_env()["YOSYS"], "-q", "-p",
                    "read_rtlil t.il; synth_ecp5 -top t; write_json t.json"],
                   cwd=tmp_path, check=True)
    cells = list(json.loads((tmp_path / "t.json").read_text())["modules"]["t"]["cells"].values())
    mults = [c for c in cells if c["type"] == "MULT18X18D"]
    assert len(mults) == 1
    params = mults[0]["parameters"]
    assert [params[f"REG_{r}_CLK"] for r in ("INPUTA", "INPUTB", "OUTPUT")] == ["CLK0"] * 3
    assert params["REG_PIPELINE_CLK"] == "NONE"
    assert not [c for c in cells if c["type"] == "TRELLIS_FF"]


def test_too_wide():
    with pytest.raises(ValueError, match="at most 18"):
        registered_multiply(Module(), None, Signal(signed(19)), Signal(signed(4)), "x")
