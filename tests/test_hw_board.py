"""The FPGA top in simulation: a real bundle through the UART bridge, byte by byte."""

import numpy as np
import pytest
from conftest import random_layers
from hw_helpers import run_sim

import eie
from eie.host import BridgeCodec
from eie.hw.board import BoardCore, ecp5_pll_params
from eie.hw.bridge import HostBridge
from eie.hw.geometry import Reg, Region
from eie.hw.uart import UartRx, UartTx
from eie.sim import cycle_model, golden
from eie.sim.host import HostDriver

DIVISOR = 4


class SimUart:
    """The host side of the serial line, bit by bit, speaking the bridge protocol."""

    def __init__(self, ctx, dut, geometry):
        self.ctx, self.dut, self.g = ctx, dut, geometry
        self.codec = BridgeCodec()

    async def send(self, data):
        for byte in data:
            for bit in [0] + [(byte >> i) & 1 for i in range(8)] + [1]:
                self.ctx.set(self.dut.rx, bit)
                await self.ctx.tick().repeat(DIVISOR)

    async def recv(self, n):
        out = []
        for _ in range(n):
            await self.ctx.tick().until(~self.dut.tx)
            await self.ctx.tick().repeat(DIVISOR + DIVISOR // 2)
            value = 0
            for i in range(8):
                value |= self.ctx.get(self.dut.tx) << i
                await self.ctx.tick().repeat(DIVISOR)
            out.append(value)
        return bytes(out)

    async def write(self, addr, value):
        await self.send(self.codec.write(addr, value))

    async def write_burst(self, addr, values):
        await self.send(self.codec.burst(addr, values))

    async def read(self, addr):
        await self.send(self.codec.read(addr))
        return self.codec.parse_read(await self.recv(8))

    async def wait_done(self, max_cycles=None):
        while (await self.read(self.g.host.addr(Region.CTRL, 0, Reg.CONTROL))) & 1:
            pass


def test_bundle_through_the_uart():
    rng = np.random.default_rng(11)
    w, b = random_layers(rng, [10, 7, 4], density=0.5)
    bundle = eie.compress(w, b, n_pe=2, fifo_depth=2)
    codes = golden.quantize_input(bundle, rng.normal(size=(2, 10)))[0]
    dut = BoardCore(bundle.hw, max_layers=2, divisor=DIVISOR)
    results, pings = [], []

    async def tb(ctx):
        port = SimUart(ctx, dut, dut.geometry)
        await port.send(port.codec.ping())
        pings.append(await port.recv(1))
        driver = HostDriver(port, bundle, dut.geometry)
        await driver.check_info()
        await driver.load_model()
        for b in range(codes.shape[0]):
            results.append(await driver.run(codes[b]))

    run_sim(dut, tb)
    assert pings == [b"P"]
    acts = golden.forward(bundle, codes)
    per_item = cycle_model.run_cycles(bundle, acts)
    for b, (y, cycles, layers) in enumerate(results):
        np.testing.assert_array_equal(y, acts[-1][b])
        assert layers == [i.cycles for i in per_item[b]]
        assert cycles == sum(layers) + cycle_model.RUN_OVERHEAD


def test_uart_loopback_all_bytes():
    from amaranth.hdl import Module
    m = Module()
    m.submodules.tx = tx = UartTx(5)
    m.submodules.rx = rx = UartRx(5)
    m.d.comb += rx.rx.eq(tx.tx)
    got = []

    async def tb(ctx):
        for byte in range(256):
            ctx.set(tx.data.payload, byte)
            ctx.set(tx.data.valid, 1)
            await ctx.tick().until(tx.data.ready)
        ctx.set(tx.data.valid, 0)
        await ctx.tick().repeat(200)

    async def monitor(ctx):
        ctx.set(rx.data.ready, 1)
        async for _, _, valid, payload in ctx.tick().sample(rx.data.valid, rx.data.payload):
            if valid:
                got.append(payload)

    run_sim(m, tb, background=[monitor])
    assert got == list(range(256))


def test_pll_and_bad_parameters():
    assert ecp5_pll_params(25, 100)[3] == 100
    assert ecp5_pll_params(25, 120)[3] == 120
    with pytest.raises(ValueError, match="divisor"):
        UartRx(2)
    with pytest.raises(ValueError, match="addr_width"):
        HostBridge(41)
    with pytest.raises(ValueError, match="read_latency"):
        HostBridge(40, read_latency=0)


def test_lstm_sequence_through_the_uart():
    """A model with an LSTM layer, stepped by the host over the serial bridge:
    the model stays loaded and every step equals the models."""
    from test_lstm import lstm_model
    rng = np.random.default_rng(4)
    bundle = eie.compress(lstm_model(rng, sizes=(4, 3, 2, 2)), n_pe=2, fifo_depth=2)
    codes = golden.quantize_input(bundle, rng.normal(size=(3, 4)))[0]     # one sequence
    dut = BoardCore(bundle.hw, max_layers=4, divisor=DIVISOR)
    results = []

    async def tb(ctx):
        driver = HostDriver(SimUart(ctx, dut, dut.geometry), bundle, dut.geometry)
        await driver.check_info()
        await driver.load_model()
        results.append(await driver.run_sequence(codes[0]))

    run_sim(dut, tb)
    y_model, acts = golden.forward_sequence(bundle, codes)
    y, cycles, layers = results[0]
    np.testing.assert_array_equal(y, y_model[0])
    steps = cycle_model.sequence_cycles(bundle, acts, 0)
    assert cycles.tolist() == [cycle_model.step_cycles(bundle, s) for s in steps]
