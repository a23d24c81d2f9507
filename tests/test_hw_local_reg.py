"""A PE's own register: Yosys keeps the ECP5 copies apart, simulation sees a register."""

import json
import subprocess

from amaranth.back import rtlil
from amaranth.hdl import Module, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth_boards.ulx3s import ULX3S_85F_Platform
from hw_helpers import run_sim

from eie.gen.fpga import _tool_env
from eie.hw.local_reg import local_register


class Twins(wiring.Component):
    """Two registers of one value, as two PEs would take a broadcast."""

    d: In(signed(6))
    a: Out(signed(8))
    b: Out(signed(8))

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [self.a.eq(local_register(m, platform, self.d, signed(8), "a") + 1),
                     self.b.eq(local_register(m, platform, self.d, signed(8), "b") + 1)]
        return m


def test_simulation_is_a_register():
    dut = Twins()

    async def tb(ctx):
        for v in (-32, -1, 0, 5, 31):
            ctx.set(dut.d, v)
            await ctx.tick()
            assert ctx.get(dut.a) == ctx.get(dut.b) == v + 1     # sign-extended, a cycle later

    run_sim(dut, tb)


def _flip_flops(tmp_path, platform):
    (tmp_path / "t.il").write_text(rtlil.convert(Twins(), name="t", platform=platform))
    subprocess.run([_tool_env()["YOSYS"], "-q", "-p",
                    "read_rtlil t.il; synth_ecp5 -top t; select t; write_json -selected t.json"],
                   cwd=tmp_path, check=True)
    cells = json.loads((tmp_path / "t.json").read_text())["modules"]["t"]["cells"].values()
    return sum(c["type"] == "TRELLIS_FF" for c in cells)


def test_yosys_keeps_the_ecp5_copies(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "ecp5").mkdir()
    assert _flip_flops(tmp_path / "plain", None) == 6          # merged: one register
    assert _flip_flops(tmp_path / "ecp5", ULX3S_85F_Platform()) == 16   # two, 8 bits each
