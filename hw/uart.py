"""8N1 UART receiver and transmitter (the FPGA top's serial link to the host)."""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["UartRx", "UartTx", "check_divisor"]


def check_divisor(divisor):
    """Raise ValueError unless ``divisor`` (clock cycles per bit) is usable."""
    if not isinstance(divisor, int) or divisor < 4:
        raise ValueError(f"divisor (clock cycles per bit) must be an integer >= 4, "
                         f"not {divisor!r}")


class UartRx(wiring.Component):
    """Receives 8N1 bytes on ``rx`` (idle high) into a stream.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (clock frequency / baud rate).

    Members
    -------
    rx : In(1)
        The serial line (synchronised inside).
    data : Out(stream.Signature(8))
        One byte per stop bit received.  The consumer must take it within a
        byte time (the bridge takes every byte in the next cycle).
    error : Out(1)
        Pulses on a framing error (stop bit low); the byte is dropped.
    """

    def __init__(self, divisor):
        check_divisor(divisor)
        self._divisor = divisor
        super().__init__({
            "rx": In(1, init=1),
            "data": Out(stream.Signature(8)),
            "error": Out(1),
        })

    def elaborate(self, platform):
        m = Module()
        div = self._divisor
        sync = [Signal(init=1, name=f"rx_sync{i}") for i in range(2)]
        m.d.sync += [sync[0].eq(self.rx), sync[1].eq(sync[0])]
        line = sync[1]
        timer = Signal(range(div + div // 2 + 1))
        bit = Signal(range(10))
        shift = Signal(8)
        with m.If(self.data.valid & self.data.ready):
            m.d.sync += self.data.valid.eq(0)
        m.d.sync += self.error.eq(0)
        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    # Sample bit 0 in the middle of its cell: 1.5 bit times on.
                    m.d.sync += [timer.eq(div + div // 2 - 1), bit.eq(0)]
                    m.next = "DATA"
            with m.State("DATA"):
                with m.If(timer != 0):
                    m.d.sync += timer.eq(timer - 1)
                with m.Else():
                    m.d.sync += [timer.eq(div - 1), bit.eq(bit + 1)]
                    with m.If(bit < 8):
                        m.d.sync += shift.eq(Cat(shift[1:], line))
                    with m.Else():
                        with m.If(line):
                            m.d.sync += [self.data.payload.eq(shift), self.data.valid.eq(1)]
                        with m.Else():
                            m.d.sync += self.error.eq(1)
                        m.next = "IDLE"
        return m


class UartTx(wiring.Component):
    """Sends bytes from a stream as 8N1 on ``tx``.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit.

    Members
    -------
    data : In(stream.Signature(8))
        Bytes to send (taken when the line is free).
    tx : Out(1)
    """

    def __init__(self, divisor):
        check_divisor(divisor)
        self._divisor = divisor
        super().__init__({
            "data": In(stream.Signature(8)),
            "tx": Out(1, init=1),
        })

    def elaborate(self, platform):
        m = Module()
        div = self._divisor
        timer = Signal(range(div))
        bits = Signal(10)
        count = Signal(range(11))
        m.d.comb += self.data.ready.eq(count == 0)
        with m.If(self.data.valid & self.data.ready):
            m.d.sync += [
                bits.eq(Cat(0, self.data.payload, 1)),      # start, data, stop
                count.eq(11),
                timer.eq(0),
            ]
        with m.Elif(count != 0):
            with m.If(timer != 0):
                m.d.sync += timer.eq(timer - 1)
            with m.Elif(count == 1):
                m.d.sync += count.eq(0)                        # the stop bit's cell is over
            with m.Else():
                m.d.sync += [self.tx.eq(bits[0]), bits.eq(bits >> 1), count.eq(count - 1),
                             timer.eq(div - 1)]
        return m
