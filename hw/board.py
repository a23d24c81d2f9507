"""FPGA top: the accelerator, a UART bridge to its host port, LEDs, and the clock.

:class:`BoardCore` is the platform-independent part (serial pins and LEDs as
ports), simulated by the tests.  :class:`Board` adds what a board needs: the
PLL that makes the main clock from the board's oscillator and the pins.
"""

from amaranth.hdl import (ClockDomain, ClockSignal, Elaboratable, Instance, Module, ResetSignal,
                          Signal)
from amaranth.lib import io, wiring
from amaranth.lib.cdc import AsyncFFSynchronizer
from amaranth.lib.wiring import In, Out

from .bridge import HostBridge
from .eie import EIE, host_read_latency
from .uart import UartRx, UartTx, check_divisor

__all__ = ["BoardCore", "Board", "ecp5_pll_params"]


class BoardCore(wiring.Component):
    """Accelerator + UART + bridge.

    Parameters
    ----------
    hw, max_layers, bundle
        As for :class:`~eie.hw.eie.EIE`.
    divisor : int
        Clock cycles per UART bit.

    Members
    -------
    rx : In(1); tx : Out(1)
        The serial line (8N1, idle high).
    leds : Out(8)
        0: busy, 1: done, 2: a byte received (toggles), 7: heartbeat.
    """

    def __init__(self, hw, max_layers=None, bundle=None, divisor=33):
        self.eie = EIE(hw, max_layers=max_layers, bundle=bundle)
        self._divisor = divisor
        check_divisor(divisor)   # now rather than at elaboration
        super().__init__({"rx": In(1, init=1), "tx": Out(1, init=1), "leds": Out(8)})

    @property
    def geometry(self):
        return self.eie.geometry

    def elaborate(self, platform):
        m = Module()
        m.submodules.eie = eie = self.eie
        m.submodules.rx = rx = UartRx(self._divisor)
        m.submodules.tx = tx = UartTx(self._divisor)
        # The host port is registered both ways between the bridge and the
        # array (which spreads over the device): reads take two cycles more.
        m.submodules.bridge = bridge = HostBridge(len(eie.host_addr),
                                                  read_latency=host_read_latency(eie.geometry) + 2)
        # The UART sits by its pins, the bridge by the array: a one-byte
        # buffer each way, whose ready is a register, so no path runs through
        # both (a byte takes 10 x divisor cycles on the line anyway).
        _byte_buffer(m, rx.data, bridge.rx, "rx_buf")
        _byte_buffer(m, bridge.tx, tx.data, "tx_buf")
        m.d.comb += [rx.rx.eq(self.rx), self.tx.eq(tx.tx)]
        m.d.sync += [
            eie.host_addr.eq(bridge.host_addr),
            eie.host_wdata.eq(bridge.host_wdata),
            eie.host_we.eq(bridge.host_we),
            eie.host_re.eq(bridge.host_re),
            bridge.host_rdata.eq(eie.host_rdata),
        ]
        activity = Signal()
        with m.If(rx.data.valid):
            m.d.sync += activity.eq(~activity)
        heartbeat = Signal(26)
        m.d.sync += heartbeat.eq(heartbeat + 1)
        m.d.comb += [self.leds[0].eq(eie.busy), self.leds[1].eq(eie.done),
                     self.leds[2].eq(activity), self.leds[7].eq(heartbeat[-1])]
        return m


def _byte_buffer(m, src, dst, name):
    """Stream ``src`` -> ``dst`` through one registered byte (ready = buffer empty)."""
    full = Signal(name=f"{name}_full")
    byte = Signal(8, name=f"{name}_byte")
    m.d.comb += [src.ready.eq(~full), dst.valid.eq(full), dst.payload.eq(byte)]
    with m.If(full):
        with m.If(dst.ready):
            m.d.sync += full.eq(0)
    with m.Elif(src.valid):
        m.d.sync += [full.eq(1), byte.eq(src.payload)]


def ecp5_pll_params(f_in, f_out):
    """EHXPLLL dividers for ``f_out`` MHz from ``f_in`` MHz (feedback from CLKOP).

    Returns ``(clki_div, clkfb_div, clkop_div, f_achieved)``: VCO within
    400-800 MHz, PFD at least 3.125 MHz, the closest output frequency.
    """
    best = None
    for clki in range(1, 129):
        pfd = f_in / clki
        if pfd < 3.125:
            break
        for clkfb in range(1, 81):
            f = pfd * clkfb
            for clkop in range(1, 129):
                vco = f * clkop
                if 400 <= vco <= 800:
                    key = (round(abs(f - f_out), 9), abs(vco - 600))   # mid-range VCO
                    if best is None or key < best[0]:
                        best = (key, clki, clkfb, clkop, f)
    if best is None:
        raise ValueError(f"no PLL setting makes {f_out} MHz from {f_in} MHz")
    return best[1:]


class Board(Elaboratable):
    """The board top for an amaranth-boards ECP5 platform (e.g. ULX3S).

    Parameters
    ----------
    hw, max_layers, bundle
        As for :class:`~eie.hw.eie.EIE`.
    freq_mhz : float
        Main clock made by the PLL from the board's default clock.
    baud : int
        UART rate.
    """

    def __init__(self, hw, max_layers=None, bundle=None, freq_mhz=100.0, baud=3_000_000):
        self._freq = freq_mhz
        divisor = max(4, round(freq_mhz * 1e6 / baud))
        self.core = BoardCore(hw, max_layers, bundle, divisor)
        self.baud = freq_mhz * 1e6 / divisor

    def elaborate(self, platform):
        m = Module()
        m.submodules.clk_in = clk_in = io.Buffer("i", platform.request(platform.default_clk,
                                                                         dir="-"))
        f_in = platform.default_clk_frequency / 1e6
        clki, clkfb, clkop, f_out = ecp5_pll_params(f_in, self._freq)
        m.domains.sync = ClockDomain("sync")
        locked = Signal()
        clk = Signal()          # the PLL output, named so that it can be constrained
        m.d.comb += ClockSignal("sync").eq(clk)
        m.submodules.pll = Instance(
            "EHXPLLL",
            a_FREQUENCY_PIN_CLKI=f"{f_in:g}", a_FREQUENCY_PIN_CLKOP=f"{f_out:g}",
            a_ICP_CURRENT="12", a_LPF_RESISTOR="8", a_MFG_ENABLE_FILTEROPAMP="1",
            a_MFG_GMCREF_SEL="2",
            p_PLLRST_ENA="DISABLED", p_INTFB_WAKE="DISABLED", p_STDBY_ENABLE="DISABLED",
            p_DPHASE_SOURCE="DISABLED", p_OUTDIVIDER_MUXA="DIVA", p_OUTDIVIDER_MUXB="DIVB",
            p_OUTDIVIDER_MUXC="DIVC", p_OUTDIVIDER_MUXD="DIVD",
            p_CLKI_DIV=clki, p_CLKOP_ENABLE="ENABLED", p_CLKOP_DIV=clkop,
            p_CLKOP_CPHASE=clkop - 1, p_CLKOP_FPHASE=0, p_FEEDBK_PATH="CLKOP",
            p_CLKFB_DIV=clkfb,
            i_CLKI=clk_in.i, i_CLKFB=clk, i_RST=0, i_STDBY=0,
            i_PHASESEL0=0, i_PHASESEL1=0, i_PHASEDIR=1, i_PHASESTEP=1, i_PHASELOADREG=1,
            i_PLLWAKESYNC=0, i_ENCLKOP=0,
            o_CLKOP=clk, o_LOCK=locked,
        )
        # The reset (held until the PLL locks, released synchronously) goes
        # out on a global clock network through a DCCA: it reaches most
        # flip-flops of the design (about 10,600 at 8 PEs), which as a fabric
        # net is a tree across the whole device competing with the datapath
        # for routing.
        reset = Signal()
        m.submodules.reset_sync = AsyncFFSynchronizer(~locked, reset, o_domain="sync")
        m.submodules.reset_buf = Instance("DCCA", i_CLKI=reset, i_CE=1,
                                          o_CLKO=ResetSignal("sync"))
        platform.add_clock_constraint(clk, f_out * 1e6)
        m.submodules.core = core = self.core
        uart = platform.request("uart", 0, dir="-")
        m.submodules.uart_rx = uart_rx = io.Buffer("i", uart.rx)
        m.submodules.uart_tx = uart_tx = io.Buffer("o", uart.tx)
        m.d.comb += [core.rx.eq(uart_rx.i), uart_tx.o.eq(core.tx)]
        for k in range(8):
            m.submodules[f"led{k}"] = led = io.Buffer("o", platform.request("led", k, dir="-"))
            m.d.comb += led.o.eq(core.leds[k])
        return m
