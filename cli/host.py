"""Host library for the FPGA top: the serial bridge's byte protocol (pyserial).

::

    from eie import Bundle
    from eie.host import Board
    board = Board("/dev/ttyUSB0", Bundle.load("model.eie"))
    board.load_model()
    y, cycles, layer_cycles = board.run(x_codes)      # int16 codes, hardware order
    # A model with LSTM layers: one sequence (T, n_in) of codes, stepped by the
    # host (gate arithmetic between the hardware runs); the model stays loaded.
    y, step_cycles, layer_cycles = board.run_sequence(seq_codes)

The protocol is documented in :mod:`eie.hw.bridge`; :class:`BridgeCodec` builds
and parses its bytes for any transport (a serial port here, a simulated UART in
the tests).
"""

import asyncio
import time

from .errors import EieError
from .hw.bridge import ADDR_BYTES, CMD_BURST, CMD_PING, CMD_READ, CMD_WRITE
from .hw.geometry import Geometry, Reg, Region
from .sim.host import HostDriver

__all__ = ["BridgeCodec", "SerialPort", "Board", "DEFAULT_BAUD"]

DEFAULT_BAUD = 3_000_000
MASK64 = (1 << 64) - 1


class BridgeCodec:
    """Bytes of the bridge protocol."""

    @staticmethod
    def _addr(addr):
        return int(addr).to_bytes(ADDR_BYTES, "little")

    @staticmethod
    def _data(value):
        return (int(value) & MASK64).to_bytes(8, "little")

    def write(self, addr, value):
        return bytes([CMD_WRITE]) + self._addr(addr) + self._data(value)

    def burst(self, addr, values):
        if not 1 <= len(values) <= 0xFFFF:
            raise ValueError("a burst holds 1 to 65535 words")
        return (bytes([CMD_BURST]) + self._addr(addr) + len(values).to_bytes(2, "little")
                + b"".join(self._data(v) for v in values))

    def read(self, addr):
        return bytes([CMD_READ]) + self._addr(addr)

    def ping(self):
        return bytes([CMD_PING])

    @staticmethod
    def parse_read(reply):
        if len(reply) != 8:
            raise EieError(f"the board answered {len(reply)} of 8 bytes (timeout?)")
        return int.from_bytes(reply, "little")


class SerialPort:
    """The ``write``/``read``/``wait_done`` port over a pyserial connection."""

    def __init__(self, device, baud=DEFAULT_BAUD, timeout=2.0, geometry=None):
        try:
            import serial
        except ImportError:
            raise EieError("the board host library needs pyserial (pip install pyserial)") \
                from None
        try:
            self.serial = serial.Serial(device, baud, timeout=timeout)
        except (serial.SerialException, ValueError) as e:
            raise EieError(f"{device}: cannot open ({e})") from None
        self.codec = BridgeCodec()
        self.geometry = geometry

    async def write(self, addr, value):
        self.serial.write(self.codec.write(addr, value))

    async def write_burst(self, addr, values):
        self.serial.write(self.codec.burst(addr, values))

    async def read(self, addr):
        self.serial.write(self.codec.read(addr))
        return self.codec.parse_read(self.serial.read(8))

    async def wait_done(self, max_cycles=None):
        # Any clock the board runs at does max_cycles in far less than a second;
        # the serial round trips dominate, so the budget is in wall-clock time.
        status = self.geometry.host.addr(Region.CTRL, 0, Reg.CONTROL)
        deadline = time.monotonic() + 5.0 + (max_cycles or 0) / 1e6
        while (await self.read(status)) & 1:
            if time.monotonic() > deadline:
                raise EieError("the board is still busy after the run's cycle bound (hang)")


class Board:
    """A bundle on an EIE board reached through its serial port.

    Parameters
    ----------
    device : str
        Serial device (e.g. ``/dev/ttyUSB0``).
    bundle : eie.gen.bundle.Bundle
    max_layers : int, optional
        The bitstream's layer table depth (``eie synth`` reports it).
    """

    def __init__(self, device, bundle, max_layers=8, baud=DEFAULT_BAUD):
        self.geometry = Geometry(bundle.hw, max_layers)
        self.port = SerialPort(device, baud, geometry=self.geometry)
        self.driver = HostDriver(self.port, bundle, self.geometry)
        asyncio.run(self.driver.check_info())

    def load_model(self):
        asyncio.run(self.driver.load_model())

    def run(self, codes):
        """One input vector (int16 codes, hardware order): outputs (hardware
        order), the run's cycles and per-layer cycles from the counters."""
        return asyncio.run(self.driver.run(codes))

    def run_sequence(self, codes):
        """One sequence ``(T, n_in)`` of int16 codes through a model with LSTM
        layers (see :meth:`eie.sim.host.HostDriver.run_sequence`)."""
        return asyncio.run(self.driver.run_sequence(codes))
