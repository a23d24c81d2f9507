"""Host-side driver of the accelerator's port: what software on the host does.

The same program drives the gateware in Amaranth's simulator, the generated
Verilog under cocotb (Icarus, Verilator), and the FPGA through a serial
bridge: each supplies a *port* with three coroutines,

``await port.write(addr, data)``
    one write (one clock cycle),
``await port.read(addr) -> int``
    one read (64-bit data),
``await port.wait_done(max_cycles)``
    until ``busy`` falls after a start; a port that counts clock cycles
    raises :class:`eie.errors.EieError` after ``max_cycles`` (a bound from
    :func:`cycle_bound`), so that a hang is an error, not a stuck run.

The address map is :class:`eie.hw.geometry.HostMap`.
"""

import numpy as np

from ..config import CODEBOOK_SIZE
from ..errors import EieError
from ..hw.eie import bias_image, layer_table
from ..hw.geometry import Geometry, Reg, Region, decode_info
from ..recurrent import lstm_step_codes, segments

__all__ = ["HostDriver", "model_writes", "input_writes", "cycle_bound", "read_board_info",
           "check_board"]

MASK64 = (1 << 64) - 1


def model_writes(bundle, geometry):
    """``(addr, data)`` writes that load a bundle's model (tables, codebooks, memories)."""
    hmap = geometry.host
    writes = [(hmap.addr(Region.CTRL, 0, Reg.N_LAYERS), len(bundle.layers)),
              (hmap.addr(Region.CTRL, 0, Reg.FIRST_LAYER), 0)]
    table = layer_table(bundle, geometry)
    for l in range(len(bundle.layers)):
        for f, name in enumerate(Geometry.LAYER_FIELDS):
            writes.append((hmap.addr(Region.LAYER, 0, l * 8 + f), table[name][l]))
    for l, layer in enumerate(bundle.layers):
        for v, c in enumerate(layer.codebook):
            writes.append((hmap.addr(Region.CODEBOOK, 0, l * CODEBOOK_SIZE + v), int(c) & MASK64))
    for k in range(bundle.n_pe):
        for w, word in enumerate(bundle.spmat_image(k)):
            if word:
                writes.append((hmap.addr(Region.SPMAT, k, w), int(word)))
        for p, ptr in enumerate(bundle.ptr_image(k)):
            writes.append((hmap.addr(Region.PTR, k, p), int(ptr)))
        for b, bias in enumerate(bias_image(bundle, k)):
            writes.append((hmap.addr(Region.BIAS, k, b), bias & MASK64))
    return writes


def cycle_bound(bundle):
    """A generous upper bound on the cycles of one run, whatever the input.

    Every column fires at most one item per PE row of activations and costs
    at most its longest per-PE entry run; pipeline fill, backpressure round
    trips and writeback are added per item and per layer.
    """
    t = bundle.hw.timing
    per_item = t.credits + t.arith_drain + t.scan_start
    total = 64
    for layer in bundle.layers:
        longest = layer.col_lengths.max(axis=0) if layer.n_in else np.zeros(0)
        total += int(longest.sum()) + layer.n_in * per_item
        total += -(-layer.n_out // bundle.n_pe) + t.writeback_latency + per_item + 16
    return 2 * total


def input_writes(codes, geometry, file=0, start=0):
    """Writes that put int16 codes (hardware order) in activation file ``file``
    as columns ``start, start + 1, ...`` (one input vector: file 0, from 0)."""
    hmap = geometry.host
    n = geometry.n_pe
    base = file * geometry.hw.act_depth
    return [(hmap.addr(Region.ACT, j % n, base + j // n), int(a) & 0xFFFF)
            for j, a in enumerate(codes, start)]


async def read_board_info(port):
    """The accelerator's parameters, read from its ``INFO*`` registers (their
    addresses are the same whatever the instance: region 0, PE 0)."""
    words = {reg: await port.read(reg) for reg in (Reg.INFO, Reg.INFO_MEM, Reg.INFO_ACT)}
    return decode_info(words)


#: What to do when a bundle and a bitstream disagree.
RECOMPILE_HINT = ("compile the model for the bitstream: eie compress MODEL --config REPORT.json "
                  "(the eie synth report) or --board BOARD --pes N")


def check_board(info, bundle, max_layers=None):
    """Refuse ``bundle`` unless the accelerator described by ``info``
    (:func:`read_board_info`) has exactly its memories and enough layers."""
    if not 1 <= info["max_layers"] <= 256 or not 1 <= info["n_pe"] <= 1024:
        raise EieError(f"the accelerator reports n_pe={info['n_pe']} and max_layers="
                       f"{info['max_layers']}: not an EIE bitstream of this version")
    hw = bundle.hw.to_json()
    for name in ("n_pe", "spmat_words", "ptr_depth", "act_depth", "bias_depth", "acc_width",
                 "fifo_depth"):
        if info[name] != hw[name]:
            raise EieError(f"the accelerator's {name} is {info[name]}, the bundle's {hw[name]}: "
                           f"{RECOMPILE_HINT}")
    if max_layers is not None and info["max_layers"] != max_layers:
        raise EieError(f"the accelerator's layer table holds {info['max_layers']} layers, "
                       f"{max_layers} were expected")
    if len(bundle.layers) > info["max_layers"]:
        raise EieError(f"the bundle has {len(bundle.layers)} layers, the accelerator's layer "
                       f"table holds {info['max_layers']}: build it with --max-layers "
                       f"{len(bundle.layers)}")


def _int16(x):
    x &= 0xFFFF
    return x - 0x10000 if x & 0x8000 else x


class HostDriver:
    """Loads a bundle and runs inputs through a port.

    Parameters
    ----------
    port : object
        ``write``, ``read`` and ``wait_done`` coroutines (see the module doc).
    bundle : eie.gen.bundle.Bundle
    geometry : eie.hw.geometry.Geometry
        The instance's geometry (must match the bundle's hardware).
    """

    def __init__(self, port, bundle, geometry):
        if bundle.hw != geometry.hw:
            raise EieError("the bundle and the accelerator have different hardware parameters")
        if len(bundle.layers) > geometry.max_layers:
            raise EieError(f"the bundle has {len(bundle.layers)} layers; the accelerator's "
                           f"layer table holds {geometry.max_layers}")
        self.port = port
        self.bundle = bundle
        self.g = geometry
        self.hmap = geometry.host
        self.max_cycles = cycle_bound(bundle)

    async def check_info(self):
        """Read the instance's parameters (``INFO*`` registers) and refuse a
        bundle compiled for other memories, naming the parameter."""
        check_board(await read_board_info(self.port), self.bundle, self.g.max_layers)

    async def write_all(self, writes):
        """Writes in order; runs of consecutive addresses go as bursts if the
        port has ``write_burst(addr, values)`` (the serial bridge does)."""
        burst = getattr(self.port, "write_burst", None)
        if burst is None:
            for addr, value in writes:
                await self.port.write(addr, value)
            return
        i = 0
        while i < len(writes):
            j = i + 1
            while j < len(writes) and writes[j][0] == writes[j - 1][0] + 1 and j - i < 0xFFFF:
                j += 1
            if j - i == 1:
                await self.port.write(*writes[i])
            else:
                await burst(writes[i][0], [v for _, v in writes[i:j]])
            i = j

    async def load_model(self):
        await self.write_all(model_writes(self.bundle, self.g))

    async def run(self, codes):
        """One input vector (int16 codes, hardware order) through all layers.

        Returns the last layer's output codes (hardware row order), the run's
        cycles and the per-layer cycles, all read from the accelerator.
        """
        await self.write_all(input_writes(codes, self.g))
        cycles, layers = await self._run_segment(0, len(self.bundle.layers) - 1)
        y = await self.read_acts(len(self.bundle.layers) & 1, self.bundle.layers[-1].n_out)
        return y, cycles, layers

    async def read_acts(self, file, count):
        """Codes of columns ``0 .. count - 1`` of activation file ``file``."""
        n, depth = self.g.n_pe, self.g.hw.act_depth
        return np.array([_int16(await self.port.read(self.hmap.addr(
            Region.ACT, i % n, file * depth + i // n))) for i in range(count)], dtype=np.int64)

    async def _run_segment(self, first, last):
        """Layers ``first .. last`` in one hardware run; returns its counters."""
        hmap = self.hmap
        ctrl = [(hmap.addr(Region.CTRL, 0, Reg.FIRST_LAYER), first),
                (hmap.addr(Region.CTRL, 0, Reg.N_LAYERS), last + 1),
                (hmap.addr(Region.CTRL, 0, Reg.CONTROL), 1)]
        for addr, value in ctrl:
            await self.port.write(addr, value)
        await self.port.wait_done(self.max_cycles)
        status = await self.port.read(hmap.addr(Region.CTRL, 0, Reg.CONTROL))
        if status & 3 != 2:
            raise EieError(f"the accelerator did not finish layers {first}..{last} "
                           f"(status {status:#x})")
        cycles = await self.port.read(hmap.addr(Region.CTRL, 0, Reg.CYCLES))
        layers = [await self.port.read(hmap.addr(Region.CTRL, 0, Reg.LAYER_CYCLES + l))
                  for l in range(first, last + 1)]
        return cycles, layers

    async def run_sequence(self, codes):
        """One input sequence (``(T, n_in)`` int16 codes) through a model with
        LSTM layers, step by step.

        Each step runs the hardware segments of :func:`eie.recurrent.segments`.
        Before an LSTM layer the host writes its ``h_{t-1}`` after the input
        the layer in front left in its file; after it, the host reads the gate
        codes, computes ``h`` and ``c`` (:func:`eie.recurrent.lstm_step_codes`)
        and writes ``h`` as the next layer's input.  The model stays loaded.

        Returns
        -------
        y : numpy.ndarray
            ``(T, n_out)`` output codes (hardware row order for a last fully
            connected layer).
        cycles : numpy.ndarray
            Per step, the hardware's cycle counters summed over its runs.
        layer_cycles : numpy.ndarray
            Per layer, its cycle counters summed over the steps.
        """
        layers = self.bundle.layers
        codes = np.asarray(codes, dtype=np.int64)
        state = {l: (np.zeros((1, layer.hidden), dtype=np.int64), np.zeros((1, layer.hidden)))
                 for l, layer in enumerate(layers) if layer.is_lstm}
        runs = segments(layers)
        ys, step_cycles = [], []
        layer_cycles = np.zeros(len(layers), dtype=np.int64)
        for x in codes:
            pending = x         # codes the next run's first layer takes from the host
            total = 0
            for first, last in runs:
                writes = []
                if pending is not None:
                    writes += input_writes(pending, self.g, first & 1)
                if layers[first].is_lstm:
                    writes += input_writes(state[first][0][0], self.g, first & 1,
                                           layers[first].input_width)
                await self.write_all(writes)
                cycles, counted = await self._run_segment(first, last)
                total += cycles
                layer_cycles[first:last + 1] += counted
                pending = None
                if layers[last].is_lstm:
                    gates = await self.read_acts((last + 1) & 1, layers[last].n_out)
                    h, c = lstm_step_codes(layers[last], gates[None], state[last][1])
                    state[last] = (h, c)
                    pending = h[0]
            if pending is None:
                pending = await self.read_acts(len(layers) & 1, layers[-1].n_out)
            ys.append(pending)
            step_cycles.append(total)
        return np.array(ys, dtype=np.int64), np.array(step_cycles, dtype=np.int64), layer_cycles
