"""Host port of an :class:`eie.hw.eie.EIE` in Amaranth's own simulator."""

from ..errors import EieError
from ..hw.eie import HOST_WRITE_LATENCY, host_read_latency

__all__ = ["AmaranthPort"]


class AmaranthPort:
    """The ``write``/``read``/``wait_done`` port over an async testbench context."""

    def __init__(self, ctx, dut):
        self.ctx = ctx
        self.dut = dut
        self.read_latency = host_read_latency(dut.geometry)

    async def write(self, addr, data):
        ctx, dut = self.ctx, self.dut
        ctx.set(dut.host_addr, addr)
        ctx.set(dut.host_wdata, data)
        ctx.set(dut.host_we, 1)
        await ctx.tick()
        ctx.set(dut.host_we, 0)

    async def read(self, addr):
        ctx, dut = self.ctx, self.dut
        ctx.set(dut.host_addr, addr)
        ctx.set(dut.host_re, 1)
        await ctx.tick()
        ctx.set(dut.host_re, 0)
        await ctx.tick().repeat(self.read_latency - 1)
        return ctx.get(dut.host_rdata)

    async def wait_done(self, max_cycles):
        await self.ctx.tick().repeat(HOST_WRITE_LATENCY)    # the start lands
        for _ in range(max_cycles):
            if not self.ctx.get(self.dut.busy):
                return
            await self.ctx.tick()
        raise EieError(f"the accelerator is still busy after {max_cycles} cycles (hang)")
