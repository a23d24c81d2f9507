"""Serial bridge: a byte protocol over the UART to the accelerator's host port.

All multi-byte fields are little-endian; ``addr`` is 5 bytes (the host port's
``{region, pe, offset}`` address, :class:`~eie.hw.geometry.HostMap`), ``data``
8 bytes.

======  =======================================  ==========================
byte    then                                     reply
======  =======================================  ==========================
``W``   addr, data                               none: one write
``B``   addr, count (2 bytes, >= 1),             none: ``count`` writes to
        ``count`` x data                          addr, addr + 1, ...
``R``   addr                                     data (8 bytes): one read
``P``   --                                       ``P``: ping, all earlier
                                                 commands are done
======  =======================================  ==========================

Unknown command bytes are ignored.  The bridge takes every byte the cycle
after it arrives and a write takes one cycle, so the host never has to wait
except for replies.  To wait for a run, poll ``CONTROL`` with ``R``.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["HostBridge", "CMD_WRITE", "CMD_BURST", "CMD_READ", "CMD_PING", "ADDR_BYTES"]

CMD_WRITE = ord("W")
CMD_BURST = ord("B")
CMD_READ = ord("R")
CMD_PING = ord("P")
ADDR_BYTES = 5
DATA_BYTES = 8


class HostBridge(wiring.Component):
    """Byte stream in, host port transactions out, reply bytes back.

    Parameters
    ----------
    addr_width : int
        Width of the host port address (at most 40).
    read_latency : int
        Cycles from ``host_re`` to its ``host_rdata`` (at least 1).

    Members
    -------
    rx : In(stream.Signature(8))
        Bytes from the host.
    tx : Out(stream.Signature(8))
        Reply bytes.
    host_addr, host_wdata, host_we, host_re : Out
    host_rdata : In(64)
        The accelerator's host port (data ``read_latency`` cycles after
        ``host_re``).
    """

    def __init__(self, addr_width, read_latency=2):
        if not isinstance(addr_width, int) or not 1 <= addr_width <= 8 * ADDR_BYTES:
            raise ValueError(f"addr_width must be in [1, {8 * ADDR_BYTES}], not {addr_width!r}")
        if not isinstance(read_latency, int) or read_latency < 1:
            raise ValueError(f"read_latency must be a positive integer, not {read_latency!r}")
        self._read_latency = read_latency
        super().__init__({
            "rx": In(stream.Signature(8)),
            "tx": Out(stream.Signature(8)),
            "host_addr": Out(addr_width),
            "host_wdata": Out(64),
            "host_we": Out(1),
            "host_re": Out(1),
            "host_rdata": In(64),
        })

    def elaborate(self, platform):
        m = Module()
        # Every byte received shifts into ``rx_shift``, whatever the state: its
        # enable is the byte buffer's "full" register alone, not a decode of the
        # state machine (that decode into the enables of 64 data flip-flops was
        # a critical path at 8 PEs: the byte buffer sits by the UART, the data
        # register by the array).  The write data are its last 8 bytes, the
        # address its last 5, loaded into ``addr`` the cycle after the last
        # one arrives.
        rx_shift = Signal(8 * DATA_BYTES)
        addr = Signal(8 * ADDR_BYTES)
        addr_load = Signal()
        data = Signal(8 * DATA_BYTES)        # reply bytes
        count = Signal(16)
        wait = Signal(range(self._read_latency + 1))
        n = Signal(range(DATA_BYTES + 1))    # bytes of the current field received / sent
        byte = self.rx.payload
        got = Signal()
        m.d.comb += [
            self.rx.ready.eq(1),
            got.eq(self.rx.valid),
            self.host_addr.eq(addr),
            self.host_wdata.eq(rx_shift),
        ]
        with m.If(got):
            m.d.sync += rx_shift.eq(Cat(rx_shift[8:], byte))
        m.d.sync += addr_load.eq(0)
        with m.If(addr_load):
            m.d.sync += addr.eq(rx_shift[8 * (DATA_BYTES - ADDR_BYTES):])

        with m.FSM():
            with m.State("CMD"):
                with m.If(got):
                    m.d.sync += n.eq(0)
                    with m.Switch(byte):
                        with m.Case(CMD_WRITE):
                            m.d.sync += count.eq(1)
                            m.next = "ADDR_W"
                        with m.Case(CMD_BURST):
                            m.next = "ADDR_B"
                        with m.Case(CMD_READ):
                            m.next = "ADDR_R"
                        with m.Case(CMD_PING):
                            m.d.sync += data.eq(CMD_PING)
                            m.next = "PING"
            for name, after in (("ADDR_W", "DATA"), ("ADDR_B", "COUNT"), ("ADDR_R", "ADDR")):
                with m.State(name):
                    with m.If(got):
                        m.d.sync += n.eq(n + 1)
                        with m.If(n == ADDR_BYTES - 1):
                            m.d.sync += [n.eq(0), addr_load.eq(1)]
                            m.next = after
            with m.State("COUNT"):
                with m.If(got):
                    m.d.sync += [count.eq(Cat(count[8:], byte)), n.eq(n + 1)]
                    with m.If(n == 1):
                        m.d.sync += n.eq(0)
                        m.next = "DATA"
            with m.State("DATA"):
                with m.If(got):
                    m.d.sync += n.eq(n + 1)
                    with m.If(n == DATA_BYTES - 1):
                        m.next = "WRITE"
            with m.State("WRITE"):
                m.d.comb += self.host_we.eq(1)
                m.d.sync += [n.eq(0), count.eq(count - 1), addr.eq(addr + 1)]
                with m.If(count <= 1):
                    m.next = "CMD"
                with m.Else():
                    m.next = "DATA"
            with m.State("ADDR"):          # the address is loaded
                m.next = "READ"
            with m.State("READ"):
                m.d.comb += self.host_re.eq(1)
                m.d.sync += wait.eq(1)
                m.next = "WAIT"
            with m.State("WAIT"):          # the data comes read_latency cycles after host_re
                m.d.sync += wait.eq(wait + 1)
                with m.If(wait == self._read_latency):
                    m.d.sync += [data.eq(self.host_rdata), n.eq(0)]
                    m.next = "SEND"
            with m.State("SEND"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(data[:8])]
                with m.If(self.tx.ready):
                    m.d.sync += [data.eq(data >> 8), n.eq(n + 1)]
                    with m.If(n == DATA_BYTES - 1):
                        m.next = "CMD"
            with m.State("PING"):
                m.d.comb += [self.tx.valid.eq(1), self.tx.payload.eq(data[:8])]
                with m.If(self.tx.ready):
                    m.next = "CMD"
        return m
