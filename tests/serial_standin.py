"""A board on a pseudo-terminal: the serial bridge's byte protocol served by
the EIE gateware running in Amaranth's simulator.

``eie run --port DEV`` and :class:`eie.host.Board` open the pty's device as
they would open ``/dev/ttyUSB0``: every byte they send is decoded here as the
bridge decodes it (:mod:`eie.hw.bridge`) and performed on the gateware's host
port; replies go back over the pty. The UART and bridge gateware themselves
are tested bit by bit in ``test_hw_board.py``.
"""

import os
import select
import threading
import tty

from amaranth.sim import Simulator

from eie.hw.bridge import ADDR_BYTES, CMD_BURST, CMD_PING, CMD_READ, CMD_WRITE, DATA_BYTES
from eie.hw.eie import EIE
from eie.sim.amaranth_port import AmaranthPort


#: Clocks between two commands: one byte at the fastest UART the top allows.
BYTE_CLOCKS = 40


class SerialStandIn:
    """``with SerialStandIn(hw, max_layers) as dev:`` gives a serial device path."""

    def __init__(self, hw, max_layers=8):
        self.dut = EIE(hw, max_layers=max_layers)
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        tty.setraw(self.master)
        self.device = os.ttyname(self.slave)
        self.stop = threading.Event()
        self.failure = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self.device

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(30)
        os.close(self.master)
        os.close(self.slave)
        if self.failure:
            raise self.failure[0]

    def _run(self):
        sim = Simulator(self.dut)
        sim.add_clock(1e-8)
        sim.add_testbench(self._serve)
        try:
            sim.run()
        except BaseException as e:         # reported by __exit__
            self.failure.append(e)

    async def _serve(self, ctx):
        port = AmaranthPort(ctx, self.dut)
        buf = bytearray()
        while not self.stop.is_set():
            if select.select([self.master], [], [], 0)[0]:
                buf += os.read(self.master, 65536)
            done = await self._commands(port, buf)
            if not done:
                await ctx.tick()            # time passes while the host waits

    async def _commands(self, port, buf):
        """Perform every complete command at the start of ``buf``; whether any was."""
        did = False
        while buf:
            cmd = buf[0]
            if cmd == CMD_WRITE:
                if len(buf) < 1 + ADDR_BYTES + DATA_BYTES:
                    break
                addr = int.from_bytes(buf[1:1 + ADDR_BYTES], "little")
                data = int.from_bytes(buf[1 + ADDR_BYTES:1 + ADDR_BYTES + DATA_BYTES], "little")
                del buf[:1 + ADDR_BYTES + DATA_BYTES]
                await port.write(addr, data)
            elif cmd == CMD_BURST:
                head = 1 + ADDR_BYTES + 2
                if len(buf) < head:
                    break
                count = int.from_bytes(buf[1 + ADDR_BYTES:head], "little")
                if len(buf) < head + count * DATA_BYTES:
                    break
                addr = int.from_bytes(buf[1:1 + ADDR_BYTES], "little")
                for i in range(count):
                    at = head + i * DATA_BYTES
                    await port.write(addr + i, int.from_bytes(buf[at:at + DATA_BYTES], "little"))
                del buf[:head + count * DATA_BYTES]
            elif cmd == CMD_READ:
                if len(buf) < 1 + ADDR_BYTES:
                    break
                addr = int.from_bytes(buf[1:1 + ADDR_BYTES], "little")
                del buf[:1 + ADDR_BYTES]
                value = await port.read(addr)
                os.write(self.master, int(value).to_bytes(DATA_BYTES, "little"))
            elif cmd == CMD_PING:
                del buf[:1]
                os.write(self.master, b"P")
            else:
                del buf[:1]                  # the bridge ignores unknown bytes
            # The next command's bytes come over the UART: at least one byte
            # time (10 bits of at least 4 clocks) later.
            await port.ctx.tick().repeat(BYTE_CLOCKS)
            did = True
        return did
