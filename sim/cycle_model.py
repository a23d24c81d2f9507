"""Cycle model: the exact clock cycles the EIE RTL takes for a bundle and an input.

This is the specification the RTL's cycle counters are held to.  It models the
microarchitecture of ``docs/architecture.md`` with the latencies of
:class:`eie.config.Timing`; cycle 0 is the first cycle of a layer.

Activation scan and broadcast
    Local rows ``m = 0 .. ceil(n_in / n_pe) - 1`` of the source activation
    files are read one per cycle (address ``m`` in every PE).  Row 0 is current
    at cycle ``scan_start``.  A row without nonzero activations is current for
    one cycle.  A row with nonzeros emits them in PE order, one per cycle, as
    far as the broadcast fires; after its last one fires, the next row is
    current.  The item fired at cycle ``t`` goes through the pipelined
    quaternary LNZD tree and the broadcast registers and presents its column
    to every PE's pointer memory at ``t + bcast_latency``; start and end
    pointers come out one cycle later and enter the PE's queue, whose head it
    is at ``t + queue_latency``.

Backpressure
    Each PE counts items fired but not yet popped; the broadcast fires an item
    only while every PE's count is below ``credits = fifo_depth +
    queue_latency + 1``, and a pop's credit comes back ``credit_return = 2``
    cycles after it (the pop lowers the PE's count register, and the AND over
    the PEs of compares of their counts is registered).  So with ``n``
    counting items from 0, item ``n`` fires no earlier than two cycles after
    every PE has popped item ``n - credits``.

PE
    An item whose column is empty in this PE never enters its queue: the
    pointer read knows the column's length, so the PE drops the item as it
    would push it (``t + queue_latency - 1``) and returns its credit then; it
    costs the PE no cycle.  A nonempty column is popped once it is at the head
    (``t + queue_latency``) and the entry unit is free; popped at cycle ``p``
    with ``L`` entries (padding included), it issues one entry per cycle at
    ``p .. p + L - 1`` and the next column can be popped at ``p + L``: there is
    no bubble between columns.  The entry issued last is accumulated
    ``arith_drain - 1`` cycles later.

Layer end
    The layer's compute phase ends at the first cycle ``Y`` at which the scan
    is done (the cycle after its last row) and every PE was idle
    ``idle_latency`` cycles before (nothing fired and not popped, nothing
    issued and not accumulated; the AND of the PEs' idle flags is registered,
    above 16 PEs per group and again), with nothing fired since.  Writeback
    starts at ``Y + 1`` and takes ``ceil(n_out / n_pe) + writeback_latency``
    cycles; the next layer's cycle 0 follows.

Run
    A run (one input vector) takes the sum of its layers' cycles plus
    ``RUN_OVERHEAD`` (the cycle from ``start`` to the first layer).

Sequences
    A model with LSTM layers runs each time step as the hardware runs of
    :func:`eie.recurrent.segments` (each LSTM layer on its own, the fully
    connected layers between them back to back), each with its own
    ``RUN_OVERHEAD``; a layer's cycles depend only on its input at that step.
"""

from dataclasses import dataclass, field

import numpy as np

from ..config import Timing
from ..recurrent import segments

__all__ = ["LayerCycles", "layer_cycles", "item_cycles", "run_cycles", "summarize",
           "sequence_cycles", "summarize_sequences", "step_cycles", "RUN_OVERHEAD"]

RUN_OVERHEAD = 1


@dataclass
class LayerCycles:
    """Cycle figures of one layer for one input vector.

    Attributes
    ----------
    cycles : int
        Clock cycles of the layer (compute, drain and writeback).
    compute_cycles : int
        Cycles until the compute phase ends (``Y + 1``).
    broadcasts : int
        Nonzero input activations broadcast.
    work : numpy.ndarray
        Per PE, entries (padding included) processed in nonzero-activation columns.
    ideal : float
        ``work.sum() / n_pe``: cycles with perfect load balance and no overhead.
    """

    name: str
    cycles: int
    compute_cycles: int
    broadcasts: int
    work: np.ndarray = field(repr=False)
    ideal: float = 0.0

    def to_json(self):
        return {"name": self.name, "cycles": int(self.cycles),
                "compute_cycles": int(self.compute_cycles), "broadcasts": int(self.broadcasts),
                "entries": int(self.work.sum()), "ideal": float(self.ideal)}


def layer_cycles(layer, hw, act, broadcasts=1, empty_skips_credit=False):
    """Cycles of one layer for one input vector.

    Parameters
    ----------
    layer : eie.gen.bundle.Layer
        The layer (its per-PE column lengths are used).
    hw : eie.config.HwConfig
        The hardware parameters.
    act : numpy.ndarray
        The layer's input activation codes, hardware order, length ``n_in``.
    broadcasts : int
        Items the broadcast can fire per cycle.  The RTL fires one; 2 models a
        wider broadcast (a study: the scanner emits up to two nonzeros of a row
        per cycle, each PE's pointer memory and queue take two items per cycle,
        and the credit check covers both).
    empty_skips_credit : bool
        A study, not built: a PE whose column is empty neither takes a credit
        nor stops the broadcast, so only the PEs with entries in an item's
        column check their count, of nonempty items.  The broadcast would have
        to know, as it fires, which PEs a column is empty in.
    """
    n_pe = hw.n_pe
    t = Timing(hw)
    n_rows_in = -(-layer.n_in // n_pe)
    j_nz = np.flatnonzero(np.asarray(act))
    rows = j_nz // n_pe
    empty_before = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n_rows_in) == 0)])
    lengths = np.ascontiguousarray(layer.col_lengths.T[j_nz])  # (items, n_pe)
    n_items = j_nz.size
    credits, qlat = t.credits, t.queue_latency

    never = -(1 << 40)
    fire = np.empty(n_items, dtype=np.int64)
    last_pop = np.full(n_pe, never, dtype=np.int64)    # latest pop or drop
    free = np.full(n_pe, never, dtype=np.int64)   # cycle the entry unit is free again
    # Credits come back out of order (a drop can overtake an earlier column
    # still waiting in the queue), but pops are in order and drops are in
    # order: the last ``credits`` of each hold the ``credits`` latest returns.
    rings = np.full((n_pe, 2 * credits), never, dtype=np.int64)   # pops, then drops
    filled = np.zeros((n_pe, 2), dtype=np.int64)
    pe_index = np.arange(n_pe)
    ready = t.scan_start
    for n in range(n_items):
        if n and rows[n] == rows[n - 1] and broadcasts > 1:
            ready = fire[n - 1] if n < broadcasts else max(fire[n - 1],
                                                           fire[n - broadcasts] + 1)
        elif n:
            ready = fire[n - 1] + 1 + empty_before[rows[n]] - empty_before[rows[n - 1]]
        else:
            ready += empty_before[rows[0]]
        length = lengths[n]
        busy = length > 0
        if empty_skips_credit:
            # Pops are in order: the oldest of a PE's last credits pops is its
            # credits-th latest return.
            need = busy & (filled[:, 0] >= credits)
            if need.any():
                back = rings[need, :credits].min(axis=1)
                ready = max(ready, int(back.max()) + t.credit_return)
        elif n >= credits:
            # Item n fires once every PE has returned n - credits + 1 credits:
            # credit_return cycles after its credits-th latest return.
            back = np.partition(rings, rings.shape[1] - credits, axis=1)[:, -credits]
            ready = max(ready, int(back.max()) + t.credit_return)
        fire[n] = ready
        p = np.where(busy, np.maximum(ready + qlat, free), ready + qlat - 1)
        free = np.where(busy, p + length, free)
        last_pop = np.maximum(last_pop, p)
        kind = (~busy).astype(np.int64)
        rings[pe_index, kind * credits + filled[pe_index, kind] % credits] = p
        filled[pe_index, kind] += 1

    if n_items:
        scan_end = fire[-1] + (n_rows_in - 1 - rows[-1])
        idle = int(max((last_pop + 1).max(), (free - 1 + t.arith_drain).max()))
    else:
        scan_end = t.scan_start + n_rows_in - 1
        idle = 0
    # The control unit sees the PEs' idle flags idle_latency cycles late (their
    # AND is registered; above 16 PEs per group of PEs, then again).
    y = max(scan_end + 1, idle + t.idle_latency)
    cycles = y + 1 + -(-layer.n_out // n_pe) + t.writeback_latency
    work = lengths.sum(axis=0)
    return LayerCycles(name=layer.name, cycles=int(cycles), compute_cycles=int(y + 1),
                       broadcasts=int(n_items), work=work, ideal=float(work.sum() / n_pe))


def item_cycles(bundle, acts, b):
    """Per layer :class:`LayerCycles` of batch item ``b``.

    ``acts`` is :func:`eie.sim.golden.forward`'s output: per layer its input
    codes ``(batch, n_in)`` in hardware order.
    """
    return [layer_cycles(layer, bundle.hw, acts[l][b]) for l, layer in enumerate(bundle.layers)]


def run_cycles(bundle, acts):
    """Per batch item, per layer :class:`LayerCycles` (see :func:`item_cycles`)."""
    return [item_cycles(bundle, acts, b) for b in range(acts[0].shape[0])]


def sequence_cycles(bundle, acts, b):
    """Per step, per layer :class:`LayerCycles` of sequence ``b``; ``acts`` is
    :func:`eie.sim.golden.forward_sequence`'s per-step layer inputs."""
    return [[layer_cycles(layer, bundle.hw, step[l][b]) for l, layer in enumerate(bundle.layers)]
            for step in acts]


def step_cycles(bundle, layers):
    """Cycles of one step (or of one input of a model without LSTM layers): its
    layers' cycles plus one ``RUN_OVERHEAD`` per hardware run."""
    return sum(i.cycles for i in layers) + RUN_OVERHEAD * len(segments(bundle.layers))


def summarize_sequences(bundle, per_seq):
    """The ``--report`` JSON of a model with LSTM layers: ``per_seq[b][t]`` is
    step ``t`` of sequence ``b`` (a list of :class:`LayerCycles`).

    ``cycles`` is the total over every step of every sequence, ``per_input``
    per sequence, ``per_step`` per sequence and step, and ``layers`` each
    layer's sums over all of them.
    """
    flat = [step for seq in per_seq for step in seq]
    report = summarize(bundle, flat)
    per_step = [[step_cycles(bundle, step) for step in seq] for seq in per_seq]
    report.update(batch=len(per_seq), steps=len(per_seq[0]) if per_seq else 0,
                  per_input=[sum(s) for s in per_step], per_step=per_step,
                  runs_per_step=len(segments(bundle.layers)))
    return report


def summarize(bundle, per_item):
    """The ``--report`` JSON: total cycles over the batch and per-layer sums."""
    layers = []
    for l, layer in enumerate(bundle.layers):
        items = [item[l] for item in per_item]
        layers.append({"name": layer.name,
                       "cycles": int(sum(i.cycles for i in items)),
                       "compute_cycles": int(sum(i.compute_cycles for i in items)),
                       "broadcasts": int(sum(i.broadcasts for i in items)),
                       "entries": int(sum(int(i.work.sum()) for i in items)),
                       "ideal": float(sum(i.ideal for i in items))})
    per_input = [step_cycles(bundle, item) for item in per_item]
    return {"cycles": int(sum(per_input)), "batch": len(per_item), "per_input": per_input,
            "layers": layers}
