"""Hardware configuration shared by the compiler, the models and the gateware.

:class:`HwConfig` holds the parameters of DESIGN.md section 4 (``manifest.json``
key ``"hw"``); :class:`Timing` derives from it the pipeline latencies that the
cycle model (:mod:`eie.sim.cycle_model`) and the RTL (:mod:`eie.hw`) agree on.
"""

from dataclasses import dataclass, fields

from .errors import BundleError, EieError

__all__ = ["HwConfig", "Timing", "CODEBOOK_SIZE", "ENTRIES_PER_WORD", "MAX_RUN",
           "ACT_BITS", "ACT_MIN", "ACT_MAX", "WEIGHT_BITS", "FANOUT_TREE_ABOVE"]

#: Entries of a layer's codebook; index 0 is the reserved zero (padding) weight.
CODEBOOK_SIZE = 16
#: 8-bit entries packed into one 64-bit sparse-matrix word.
ENTRIES_PER_WORD = 8
#: Largest run of zero rows one entry can skip (4-bit relative index).
MAX_RUN = 15
#: Activations are signed 16-bit fixed point.
ACT_BITS = 16
ACT_MIN = -(1 << (ACT_BITS - 1))
ACT_MAX = (1 << (ACT_BITS - 1)) - 1
#: Codebook entries are signed 16-bit fixed point.
WEIGHT_BITS = 16
#: PE counts above this reach the PEs through group registers
#: (``Geometry.fanout_stages``), and the AND of their idle flags takes a
#: register per group (``Timing.idle_latency``).
FANOUT_TREE_ABOVE = 16


def _clog2(n):
    return max(0, (n - 1).bit_length())


@dataclass(frozen=True)
class HwConfig:
    """Parameters of one EIE instance.

    Parameters
    ----------
    n_pe : int
        Number of processing elements.
    spmat_words : int
        Depth of each PE's sparse-matrix memory, in 64-bit words.
    ptr_depth : int
        Depth of each PE's pointer memory, in pointers (even, as bundles have
        always had it; a column's start and end pointers are read in one
        cycle, from the memory's two read ports).
    act_depth : int
        Depth of each PE's source and destination activation files and of its
        accumulator file (local rows / local inputs per layer).
    acc_width : int
        Width of the accumulators in bits.
    fifo_depth : int
        Activations that can wait in a PE's queue beyond the ones in flight in
        the broadcast pipeline (see :class:`Timing`).
    bias_depth : int
        Depth of each PE's bias memory (local rows of all layers with a bias).
    """

    n_pe: int
    spmat_words: int
    ptr_depth: int
    act_depth: int
    acc_width: int = 48
    fifo_depth: int = 8
    bias_depth: int = 0

    def __post_init__(self):
        limits = {
            "n_pe": (1, 1024),
            "spmat_words": (1, 1 << 24),
            "ptr_depth": (2, 1 << 24),
            "act_depth": (1, 1 << 20),
            "acc_width": (33, 64),
            "fifo_depth": (1, 1024),
            "bias_depth": (0, 1 << 20),
        }
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise EieError(f"hardware parameter {f.name} must be an integer, not {value!r}")
            lo, hi = limits[f.name]
            if not lo <= value <= hi:
                raise EieError(f"hardware parameter {f.name}={value} is out of range "
                               f"[{lo}, {hi}]")
        if self.ptr_depth % 2:
            raise EieError(f"hardware parameter ptr_depth={self.ptr_depth} must be even "
                           f"(a pointer memory holds pairs of pointers)")

    @property
    def ptr_width(self):
        """Width of a pointer: enough for ``spmat_words * 8`` entries."""
        return max(1, (self.spmat_words * ENTRIES_PER_WORD).bit_length())

    @property
    def entry_addr_width(self):
        return max(1, _clog2(self.spmat_words * ENTRIES_PER_WORD))

    def to_json(self):
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, obj, where="manifest.json"):
        if not isinstance(obj, dict):
            raise BundleError(f"{where}: \"hw\" must be an object")
        required = ("n_pe", "spmat_words", "ptr_depth", "act_depth", "acc_width", "fifo_depth")
        missing = [k for k in required if k not in obj]
        if missing:
            raise BundleError(f"{where}: \"hw\" lacks {', '.join(missing)}")
        known = {f.name for f in fields(cls)}
        try:
            return cls(**{k: v for k, v in obj.items() if k in known})
        except EieError as e:
            raise BundleError(f"{where}: {e}") from None

    @property
    def timing(self):
        return Timing(self)


class Timing:
    """Pipeline latencies of the EIE microarchitecture, in clock cycles.

    The names below are the ones used in ``docs/architecture.md`` and in the
    cycle model.  Cycle 0 is the first cycle of a layer.

    ``scan_start`` (5)
        The source activation files are read one row (one address in every PE)
        at a time; row 0 is read at cycle 0, it leaves the block RAM's output
        register at cycle 2, is registered as it reaches the scanner at cycle 3
        and is in the scanner's prefetch buffer at cycle 4, and it becomes the
        current row at cycle 5 (the reads are decided a cycle
        ahead, from registers, and the buffer holds enough rows that they reach
        the current row back to back).  A row with no
        nonzero activation is current for one cycle; a row with ``c`` nonzeros
        is current until its ``c`` items have fired.
    ``tree_stages`` (``max(1, ceil(log4 n_pe))``)
        Levels of the quaternary LNZD tree, each registered (above 16 PEs
        all but the root, whose register moves into the broadcast's group
        registers, ``Geometry.fanout_stages``).
    ``bcast_stages`` (1)
        Registers between the tree root and the PEs (above 16 PEs, the
        root's own register counted in ``tree_stages``, a group register,
        then the PE's).
    ``bcast_latency``
        ``tree_stages + bcast_stages``: an activation fired at cycle ``t``
        presents its column address to every PE's pointer memory at
        ``t + bcast_latency``.
    ``queue_latency``
        ``bcast_latency + 5``: four cycles for the pointer read (its address
        is registered, the block RAM's output registered twice), one for the
        queue, so the item is at the head of the PE's queue at
        ``t + queue_latency``.
    ``credit_return`` (2)
        A PE's pop (or drop) at cycle ``p`` gives its credit back to the
        broadcast at ``p + 2``: the pop lowers the PE's count register at
        ``p + 1``, and the AND over the array of compares of that register
        is registered, so no pop crosses the device in the cycle it is
        decided.
    ``credits``
        ``fifo_depth + queue_latency + 1``: the broadcast fires only while
        every PE has fewer than this many items fired but not yet returned
        (one cycle of ``credit_return`` beyond the pop), so that ``fifo_depth``
        items can wait in a queue beyond those in flight.  This is also the
        physical depth of the queue.
    ``arith_drain`` (11)
        An entry issued at cycle ``c`` has its word address registered at
        ``c + 1`` (it fans out to the block RAMs), is read at ``c + 2`` (the
        block RAMs' output register at ``c + 3``, registered twice more on the
        way from block RAMs spread over the device), its byte selected and
        registered at ``c + 5``, it is decoded at ``c + 6``, multiplied at
        ``c + 7`` while its accumulator is read, the product and the
        accumulator are registered at ``c + 8`` and ``c + 9``, and it has
        written its accumulator at cycle ``c + 10``; the PE is idle from
        ``c + 11``.
    ``idle_latency`` (1; 2 above 16 PEs)
        The control unit ends a layer's compute phase at the first cycle
        ``Y`` at which the scan is done and every PE was idle, with nothing
        fired, ``idle_latency`` cycles before (and nothing fired since): the
        AND of the PEs' idle flags is registered, above 16 PEs in each group
        of eight PEs and then again.
    ``writeback_latency`` (8)
        Writeback reads accumulator row ``r`` at ``w0 + r`` and writes the
        output activation at ``w0 + r + 8``: one cycle for the read, two for
        the block-RAM outputs (the accumulator registered twice; the bias read
        in the same cycle at a row address each PE counts itself, out of its
        block RAM's output register and registered again), one for
        their sum, four for the output stage (rounding, two shift steps, saturation
        and ReLU), pipelined for the clock rate.
    """

    scan_start = 5
    bcast_stages = 1
    credit_return = 2
    arith_drain = 11
    writeback_latency = 8

    def __init__(self, hw):
        self.n_pe = hw.n_pe
        self.fifo_depth = hw.fifo_depth

    @property
    def tree_stages(self):
        levels, span = 1, 4
        while span < self.n_pe:
            levels += 1
            span *= 4
        return levels

    @property
    def fanout_stages(self):
        """Group registers between the top and every PE: 1 above
        :data:`FANOUT_TREE_ABOVE` PEs, else 0."""
        return 1 if self.n_pe > FANOUT_TREE_ABOVE else 0

    @property
    def idle_latency(self):
        return 1 + self.fanout_stages

    @property
    def bcast_latency(self):
        return self.tree_stages + self.bcast_stages

    @property
    def queue_latency(self):
        return self.bcast_latency + 5

    @property
    def credits(self):
        return self.fifo_depth + self.queue_latency + self.credit_return - 1
