"""cocotb testbench: runs a bundle on the generated Verilog through the host port.

Started by :func:`eie.sim.rtl.run` inside the simulator (Icarus or Verilator);
it talks to the outside through environment variables:

``EIE_BUNDLE``   the bundle directory
``EIE_INPUT``    ``.npy`` input codes ``(batch, n_in)``, hardware order, or
                 ``(batch, T, n_in)`` for a model with LSTM layers
``EIE_RESULT``   ``.npz`` written here: ``y`` (hardware order), ``cycles``
                 (per input, or per sequence and step), ``layer_cycles``
                 (batch x layers, summed over the steps), or ``error``
``EIE_BAKED``    ``1`` if the model is baked into the Verilog (skip loading)
``EIE_MAX_LAYERS`` the instance's layer table depth
``EIE_PROGRESS`` optional: a file rewritten with the number of inputs done
"""

import os

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge

from ..errors import EieError
from ..gen.bundle import Bundle
from ..hw.eie import HOST_WRITE_LATENCY, host_read_latency
from ..hw.geometry import Geometry
from .host import HostDriver

__all__ = ["CocotbPort", "run_bundle"]


class CocotbPort:
    """The host port over cocotb handles; inputs change only after falling edges."""

    def __init__(self, dut, geometry):
        self.dut = dut
        self.read_latency = host_read_latency(geometry)

    async def write(self, addr, data):
        dut = self.dut
        dut.host_addr.value = addr
        dut.host_wdata.value = data
        dut.host_we.value = 1
        await FallingEdge(dut.clk)
        dut.host_we.value = 0

    async def read(self, addr):
        dut = self.dut
        dut.host_addr.value = addr
        dut.host_re.value = 1
        await FallingEdge(dut.clk)
        dut.host_re.value = 0
        for _ in range(self.read_latency - 1):
            await FallingEdge(dut.clk)
        return int(dut.host_rdata.value)

    async def wait_done(self, max_cycles):
        dut = self.dut
        for _ in range(HOST_WRITE_LATENCY):     # the start lands
            await FallingEdge(dut.clk)
        for _ in range(max_cycles):
            if not int(dut.busy.value):
                return
            await FallingEdge(dut.clk)
        raise EieError(f"the accelerator is still busy after {max_cycles} cycles (hang)")


async def reset(dut):
    cocotb.start_soon(Clock(dut.clk, 10, unit="ns").start())
    dut.host_we.value = 0
    dut.host_re.value = 0
    dut.host_addr.value = 0
    dut.host_wdata.value = 0
    dut.rst.value = 1
    for _ in range(3):
        await FallingEdge(dut.clk)
    dut.rst.value = 0
    await FallingEdge(dut.clk)


@cocotb.test()
async def run_bundle(dut):
    """Load the bundle (unless baked), run every input, save outputs and counters."""
    result = os.environ["EIE_RESULT"]
    try:
        bundle = Bundle.load(os.environ["EIE_BUNDLE"])
        codes = np.load(os.environ["EIE_INPUT"])
        geometry = Geometry(bundle.hw, int(os.environ["EIE_MAX_LAYERS"]))
        await reset(dut)
        driver = HostDriver(CocotbPort(dut, geometry), bundle, geometry)
        await driver.check_info()
        if os.environ.get("EIE_BAKED") != "1":
            await driver.load_model()
        ys, cycles, layers = [], [], []
        progress = os.environ.get("EIE_PROGRESS")
        run = driver.run_sequence if bundle.recurrent else driver.run
        for b in range(codes.shape[0]):
            y, c, lc = await run(codes[b])
            ys.append(y)
            cycles.append(c)
            layers.append(lc)
            if progress:
                with open(progress, "w") as f:
                    f.write(str(b + 1))
        np.savez(result, y=np.array(ys, dtype=np.int64),
                 cycles=np.array(cycles, dtype=np.int64),
                 layer_cycles=np.array(layers, dtype=np.int64).reshape(len(ys), -1))
    except EieError as e:
        np.savez(result, error=str(e))
        raise
