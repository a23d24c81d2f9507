"""Block RAM with a registered output: the inferred version in Amaranth's
simulator, the ECP5 version (DP16KD instances) in Icarus against a behavioural
DP16KD, and its initial contents against Yosys' own mapping (the board uses the
primitives)."""

import json
import random
import shutil
import subprocess

import pytest
from amaranth.back import verilog
from amaranth_boards.ulx3s import ULX3S_85F_Platform
from hw_helpers import run_sim

from eie.gen.fpga import _tool_env
from eie.hw.bram import BlockRAM, dp16kd_initvals, dp16kd_shape


def test_shape_choice():
    assert dp16kd_shape(4096, 64) == (4096, 4, 1, 16)     # no bank multiplexer
    assert dp16kd_shape(2048, 64) == (2048, 9, 1, 8)
    assert dp16kd_shape(1024, 17) == (1024, 18, 1, 1)
    assert dp16kd_shape(3000, 20) == (4096, 4, 1, 5)
    assert dp16kd_shape(8192, 36) == (2048, 9, 4, 4)      # 16 blocks, not 18
    assert dp16kd_shape(2048, 20) == (2048, 9, 1, 3)
    assert dp16kd_shape(4096, 18) == (2048, 9, 2, 2)      # 4 blocks, 2 banks
    assert dp16kd_shape(2048, 36) == (2048, 9, 1, 4)
    assert dp16kd_shape(4096, 36) == (2048, 9, 2, 4)
    assert dp16kd_shape(3072, 18) == (1024, 18, 3, 1)
    assert dp16kd_shape(20000, 1) == (16384, 1, 2, 1)     # two banks
    assert dp16kd_shape(512, 64) == (512, 36, 1, 2)       # the 36-bit mode
    assert dp16kd_shape(1536, 36) == (512, 36, 3, 1)
    # Two read ports: true dual port, at most 18 bits wide.
    assert dp16kd_shape(1024, 13, read_ports=2) == (1024, 18, 1, 1)
    assert dp16kd_shape(512, 36, read_ports=2) == (1024, 18, 1, 2)


def test_inferred_latency_two():
    rng = random.Random(1)
    init = [rng.getrandbits(20) for _ in range(100)]
    dut = BlockRAM(20, 100, init=init)
    seen = []

    async def testbench(ctx):
        for a in range(100):
            ctx.set(dut.rd_addr, a)
            await ctx.tick()
            seen.append(ctx.get(dut.rd_data))
        ctx.set(dut.wr_en, 1)
        ctx.set(dut.wr_addr, 7)
        ctx.set(dut.wr_data, 12345)
        await ctx.tick()
        ctx.set(dut.wr_en, 0)
        ctx.set(dut.rd_addr, 7)
        await ctx.tick().repeat(2)
        assert ctx.get(dut.rd_data) == 12345

    run_sim(dut, testbench)
    assert seen[1:] == init[:99]       # address in at one edge, data out at the next


def _behavioural_dp16kd():
    """DP16KD as Lattice's TN1264 and Yosys' brams_map_16kd.v describe the
    ports this project uses (port A writes, and reads when it does not write
    in the true dual port modes; port B reads)."""
    initvals = "\n".join(f"  parameter INITVAL_{i:02X} = 320'h0;" for i in range(64))
    load = "\n".join(
        f"    for (k = 0; k < 16; k = k + 1) mem[({i} * 16 + k) * 18 +: 18] = "
        f"INITVAL_{i:02X}[k * 20 +: 18];" for i in range(64))
    ports = ", ".join([f"DIA{k}, DIB{k}, DOA{k}, DOB{k}" for k in range(18)]
                      + [f"ADA{k}, ADB{k}" for k in range(14)])
    return f"""
module DP16KD({ports}, CEA, OCEA, CLKA, WEA, RSTA, CSA0, CSA1, CSA2,
              CEB, OCEB, CLKB, WEB, RSTB, CSB0, CSB1, CSB2);
  input {", ".join(f"DIA{k}, DIB{k}" for k in range(18))};
  input {", ".join(f"ADA{k}, ADB{k}" for k in range(14))};
  input CEA, OCEA, CLKA, WEA, RSTA, CSA0, CSA1, CSA2, CEB, OCEB, CLKB, WEB, RSTB, CSB0, CSB1, CSB2;
  output {", ".join(f"DOA{k}" for k in range(18))};
  output reg {", ".join(f"DOB{k}" for k in range(18))};
  parameter DATA_WIDTH_A = 18, DATA_WIDTH_B = 18;
  parameter REGMODE_A = "NOREG", REGMODE_B = "NOREG";
  parameter RESETMODE = "SYNC", ASYNC_RESET_RELEASE = "SYNC";
  parameter CSDECODE_A = "0b000", CSDECODE_B = "0b000";
  parameter WRITEMODE_A = "NORMAL", WRITEMODE_B = "NORMAL", GSR = "ENABLED";
{initvals}
  reg [18431:0] mem;
  integer k;
  initial begin
{load}
  end
  wire [13:0] ada = {{{", ".join(f"ADA{k}" for k in reversed(range(14)))}}};
  wire [13:0] adb = {{{", ".join(f"ADB{k}" for k in reversed(range(14)))}}};
  wire [17:0] dia = {{{", ".join(f"DIA{k}" for k in reversed(range(18)))}}};
  function integer pos(input integer width, input [13:0] ad);
    integer a;
    begin
      case (width)
        1: begin a = ad; pos = (a / 8) * 9 + a % 8; end
        2: begin a = ad >> 1; pos = (a / 4) * 9 + (a % 4) * 2; end
        4: begin a = ad >> 2; pos = (a / 2) * 9 + (a % 2) * 4; end
        9: pos = (ad >> 3) * 9;
        18: pos = (ad >> 4) * 18;
        default: pos = (ad >> 5) * 36;
      endcase
    end
  endfunction
  wire [17:0] dib = {{{", ".join(f"DIB{k}" for k in reversed(range(18)))}}};
  // 36 bits wide (pseudo dual port): written through DIA (low) and DIB (high)
  // with byte enables on ADA0-3, read on DOA (low) and DOB (high).
  wire [35:0] di = DATA_WIDTH_A == 36 ? {{dib, dia}} : {{18'b0, dia}};
  wire write = DATA_WIDTH_A == 36 ? WEA && ada[3:0] != 4'b0000 : WEA;
  reg [35:0] rd, rd_q;
  reg [17:0] rda, rda_q;
  always @(posedge CLKA) begin
    if (CEA && write) begin
      if (DATA_WIDTH_A == 18 && ada[1:0] != 2'b11) $display("DP16KD: partial x18 write");
      if (DATA_WIDTH_A == 36 && ada[3:0] != 4'b1111) $display("DP16KD: partial x36 write");
      for (k = 0; k < DATA_WIDTH_A; k = k + 1) mem[pos(DATA_WIDTH_A, ada) + k] <= di[k];
    end
    // NORMAL write mode: a write leaves port A's output alone.
    if (CEA && !WEA && DATA_WIDTH_A < 36) for (k = 0; k < 18; k = k + 1)
      rda[k] <= k < DATA_WIDTH_A ? mem[pos(DATA_WIDTH_A, ada) + k] : 1'b0;
    if (OCEA) rda_q <= rda;
  end
  always @(posedge CLKB) begin
    if (CEB) for (k = 0; k < 36; k = k + 1)
      rd[k] <= k < DATA_WIDTH_B ? mem[pos(DATA_WIDTH_B, adb) + k] : 1'b0;
    if (OCEB) rd_q <= rd;
  end
  wire [35:0] do_ = REGMODE_B == "OUTREG" ? rd_q : rd;
  always @* begin
    {{{", ".join(f"DOB{k}" for k in reversed(range(18)))}}} =
      DATA_WIDTH_B == 36 ? do_[35:18] : do_[17:0];
    if (DATA_WIDTH_B == 36 && REGMODE_A != "OUTREG") $display("DP16KD: x36 without OUTREG A");
  end
  assign {{{", ".join(f"DOA{k}" for k in reversed(range(18)))}}} =
    DATA_WIDTH_A == 36 ? do_[17:0] : REGMODE_A == "OUTREG" ? rda_q : rda;
endmodule
"""


def _bram_case(tmp_path, width, depth, ecp5, seed, read_ports):
    """A BlockRAM with random contents as Verilog (inferred, or DP16KD instances
    with the behavioural model), its initial and final contents as hex files
    for the testbench, and the testbench's write steps: ``(abits, steps)``."""
    rng = random.Random(seed)
    init = [rng.getrandbits(width) for _ in range(depth)]
    top = BlockRAM(width, depth, init=init, read_ports=read_ports)
    platform = ULX3S_85F_Platform() if ecp5 else None
    (tmp_path / "bram.v").write_text(verilog.convert(top, name="bram", platform=platform))
    (tmp_path / "dp16kd.v").write_text(_behavioural_dp16kd())
    writes = {rng.randrange(depth): rng.getrandbits(width) for _ in range(20)}
    final = list(init)
    for a, v in writes.items():
        final[a] = v
    (tmp_path / "init.hex").write_text("".join(f"{v:x}\n" for v in init))
    (tmp_path / "final.hex").write_text("".join(f"{v:x}\n" for v in final))
    steps = "\n".join(
        f"    wr_en = 1; wr_addr = {a}; wr_data = {width}'h{v:x}; @(posedge clk); #1;"
        for a, v in writes.items())
    # The testbench's start: the initial contents read back, the writes, then
    # the final contents read back (a task ``check(pass)`` does the reading).
    two_passes = f"""  initial begin
    $readmemh("init.hex", expect_init);
    $readmemh("final.hex", expect_final);
    #1;
    check(0);
{steps}
    wr_en = 0;
    check(1);"""
    return (depth - 1).bit_length(), two_passes


def _assert_tb_passes(tmp_path):
    subprocess.run(["iverilog", "-g2005", "-o", "sim", "tb.v", "bram.v", "dp16kd.v"],
                   cwd=tmp_path, check=True, capture_output=True)
    out = subprocess.run(["vvp", "-n", "sim"], cwd=tmp_path, check=True,
                         capture_output=True, text=True).stdout
    assert "ERRORS 0" in out, out


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs iverilog")
@pytest.mark.parametrize("ecp5", [False, True], ids=["inferred", "dp16kd"])
@pytest.mark.parametrize("width,depth", [(64, 2048), (20, 3000), (17, 1024), (3, 20000),
                                         (64, 512), (36, 1536)])
def test_dp16kd_instances(tmp_path, width, depth, ecp5):
    """The ECP5 netlist reads its initial contents and written words back,
    on the same cycles as the inferred memory, in every DP16KD shape and
    with two banks; with the read disabled its output holds."""
    abits, two_passes = _bram_case(tmp_path, width, depth, ecp5, width * depth, read_ports=1)
    (tmp_path / "tb.v").write_text(f"""
`timescale 1ns/1ps
module tb;
  reg clk = 0, rst = 0, wr_en = 0, rd_en = 1;
  reg [{abits - 1}:0] wr_addr = 0, rd_addr = 0;
  reg [{width - 1}:0] wr_data = 0;
  wire [{width - 1}:0] rd_data;
  reg [{width - 1}:0] expect_init [0:{depth - 1}], expect_final [0:{depth - 1}];
  integer a, errors = 0;
  bram dut(.clk(clk), .rst(rst), .wr_en(wr_en), .wr_addr(wr_addr), .wr_data(wr_data),
           .rd_en(rd_en), .rd_addr(rd_addr), .rd_data(rd_data));
  always #5 clk = ~clk;
  task check(input integer pass);
    for (a = 0; a <= {depth}; a = a + 1) begin
      // The address of edge a is read at edge a + 1.
      if (a < {depth}) rd_addr = a;
      @(posedge clk); #1;
      if (a >= 1 && rd_data !== (pass ? expect_final[a - 1] : expect_init[a - 1])) begin
        if (errors < 5) $display("pass %0d address %0d: read %h", pass, a - 1, rd_data);
        errors = errors + 1;
      end
    end
  endtask
{two_passes}
    // With rd_en low the last word read stays.
    rd_en = 0; rd_addr = 0;
    repeat (3) @(posedge clk);
    #1 if (rd_data !== expect_final[{depth - 1}]) errors = errors + 1;
    $display("ERRORS %0d", errors);
    $finish;
  end
endmodule
""")
    _assert_tb_passes(tmp_path)


@pytest.mark.parametrize("width", [1, 2, 4, 9, 18, 36])
def test_initvals_match_yosys(tmp_path, width):
    """Yosys' own DP16KD mapping of an initialised memory has the INITVALs
    dp16kd_initvals computes (same layout of rows and of narrow ports)."""
    depth = 16384 // width if width < 9 else 18432 // width
    rng = random.Random(width)
    words = [rng.getrandbits(width) for _ in range(depth)]
    abits = (depth - 1).bit_length()
    (tmp_path / "m.v").write_text(
        f"module m(input clk, input we, input [{abits - 1}:0] wa, ra, input [{width - 1}:0] wd,"
        f" output reg [{width - 1}:0] rd);\n"
        f"reg [{width - 1}:0] mem [0:{depth - 1}];\ninitial begin\n"
        + "".join(f"mem[{a}] = {width}'d{v};\n" for a, v in enumerate(words))
        + "end\nalways @(posedge clk) begin if (we) mem[wa] <= wd; rd <= mem[ra]; end\n"
          "endmodule\n")
    # Yosys' ECP5 flow up to its block-RAM mapping.
    script = ("read_verilog m.v; synth_ecp5 -top m -run begin:map_ffram; "
              "select m; write_json -selected m.json")
    subprocess.run([_tool_env()["YOSYS"], "-q", "-p", script], cwd=tmp_path, check=True)
    cells = [c for c in json.loads((tmp_path / "m.json").read_text())["modules"]["m"]["cells"]
             .values() if c["type"] == "DP16KD"]
    assert len(cells) == 1
    params = cells[0]["parameters"]
    assert int(params["DATA_WIDTH_B"], 2) == width
    expected = dp16kd_initvals(words, width)
    for i in range(64):
        assert int(params[f"INITVAL_{i:02X}"], 2) == expected[i], f"INITVAL_{i:02X}"


def test_primitives_on_the_ecp5_only():
    platform = ULX3S_85F_Platform()
    assert "DP16KD" in verilog.convert(BlockRAM(64, 2048), platform=platform)
    assert "DP16KD" not in verilog.convert(BlockRAM(8, 32), platform=platform)   # LUT RAM
    assert "DP16KD" not in verilog.convert(BlockRAM(64, 2048))                   # generic


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs iverilog")
@pytest.mark.parametrize("ecp5", [False, True], ids=["inferred", "dp16kd"])
@pytest.mark.parametrize("width,depth", [(13, 1024), (15, 2048), (14, 4096), (17, 3000)])
def test_two_read_ports(tmp_path, width, depth, ecp5):
    """With a second read port (true dual port block RAMs on the ECP5) both
    ports read their own address every cycle, initial contents and written
    words, two edges later, as the pointer reader uses them."""
    abits, two_passes = _bram_case(tmp_path, width, depth, ecp5, width * depth + 1,
                                    read_ports=2)
    (tmp_path / "tb.v").write_text(f"""
`timescale 1ns/1ps
module tb;
  reg clk = 0, rst = 0, wr_en = 0;
  reg [{abits - 1}:0] wr_addr = 0, rd_addr = 0, rd2_addr = 0;
  reg [{abits - 1}:0] prev1 = 0, prev2 = 0;
  reg [{width - 1}:0] wr_data = 0;
  wire [{width - 1}:0] rd_data, rd2_data;
  reg [{width - 1}:0] expect_init [0:{depth - 1}], expect_final [0:{depth - 1}];
  integer a, errors = 0;
  bram dut(.clk(clk), .rst(rst), .wr_en(wr_en), .wr_addr(wr_addr), .wr_data(wr_data),
           .rd_en(1'b1), .rd_addr(rd_addr), .rd_data(rd_data),
           .rd2_addr(rd2_addr), .rd2_data(rd2_data));
  always #5 clk = ~clk;
  task check(input integer pass);
    for (a = 0; a <= {depth}; a = a + 1) begin
      // Port 1 reads a, port 2 reads the address after it (wrapping).
      prev2 = rd2_addr;
      if (a < {depth}) begin rd_addr = a; rd2_addr = (a + 1) % {depth}; end
      @(posedge clk); #1;
      if (a >= 1 && (rd_data !== (pass ? expect_final[a - 1] : expect_init[a - 1])
                     || rd2_data !== (pass ? expect_final[prev2] : expect_init[prev2]))) begin
        if (errors < 5) $display("pass %0d address %0d: read %h %h", pass, a - 1, rd_data,
                                 rd2_data);
        errors = errors + 1;
      end
    end
  endtask
{two_passes}
    $display("ERRORS %0d", errors);
    $finish;
  end
endmodule
""")
    _assert_tb_passes(tmp_path)
