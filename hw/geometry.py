"""Widths, record layouts and the host address map of one EIE instance.

Everything that the gateware and the host-side driver (:mod:`eie.sim.host`)
must agree on about bit widths is derived here from the
:class:`eie.config.HwConfig` and the number of layers the instance can run.
"""

from amaranth.hdl import signed, unsigned
from amaranth.lib import data

from ..config import (ACT_BITS, CODEBOOK_SIZE, ENTRIES_PER_WORD, FANOUT_TREE_ABOVE, WEIGHT_BITS,
                      HwConfig, Timing)
from .bram import dp16kd_blocks, uses_lut_ram

__all__ = ["Geometry", "HostMap", "Region", "Reg", "MAX_LAYERS_LIMIT", "clog2", "flags_value",
           "info_words", "decode_info", "FANOUT_TREE_ABOVE", "FANOUT_GROUP",
           "FANOUT_GROUP_BITS", "bias_in_act_memory", "act_memory_shape"]

#: Upper bound on ``max_layers`` (the layer table lives in distributed RAM).
MAX_LAYERS_LIMIT = 256


def clog2(n):
    """Bits to address ``n`` items (at least 1)."""
    return max(1, (n - 1).bit_length())


def bias_in_act_memory(hw):
    """Whether the bias rows share the activation files' memory.

    The activation files' read port is idle while a layer writes back (the
    scanner has read every row before the writeback starts, and the next
    layer's rows are still being written), which is when the bias rows are
    read.  So the bias can sit above the two activation banks in the same
    memory, as wide as an accumulator, where that memory is block RAM anyway
    and the shared memory takes no more block RAMs than the activations alone
    (the same count on the ECP5: a 512 x 36 block holds 32 rows of
    activations twice and 448 bias rows).  Otherwise the bias has a memory of
    its own.  The rule depends on the parameters only, so the generated
    Verilog is laid out as the board's is.
    """
    if not hw.bias_depth:
        return False
    act = (2 * hw.act_depth, ACT_BITS + 1)
    if uses_lut_ram(*act):
        return False
    return dp16kd_blocks(*act_memory_shape(hw, True)) <= dp16kd_blocks(*act)


def act_memory_shape(hw, shared=None):
    """``(depth, width)`` of a PE's activation memory: both banks, and the bias
    rows above them when they share it (``shared``; default
    :func:`bias_in_act_memory`)."""
    if shared is None:
        shared = bias_in_act_memory(hw)
    if shared:
        return 2 * hw.act_depth + hw.bias_depth, max(ACT_BITS + 1, hw.acc_width)
    return 2 * hw.act_depth, ACT_BITS + 1


class Region:
    """Host address regions (``addr[offset_bits + pe_bits:]``)."""

    CTRL = 0       #: control and status registers (:class:`Reg`)
    LAYER = 1      #: layer table: offset = layer * 8 + field (:attr:`Geometry.LAYER_FIELDS`)
    CODEBOOK = 2   #: codebooks of all PEs: offset = layer * 16 + index
    ACT = 3        #: activation files: PE, offset = file * act_depth + local index
    SPMAT = 4      #: sparse-matrix memory: PE, offset = word
    PTR = 5        #: pointer memory: PE, offset = pointer index
    BIAS = 6       #: bias memory: PE, offset = bias word


class Reg:
    """Offsets of the control and status registers (region :attr:`Region.CTRL`)."""

    CONTROL = 0    #: write bit 0: start; read: bit 0 busy, bit 1 done
    N_LAYERS = 1   #: layers to run (read/write)
    CYCLES = 2     #: cycles from start to done of the last run (read)
    INFO = 3       #: read: n_pe | max_layers << 16 | acc_width << 32 | fifo_depth << 40
    RUNS = 4       #: runs completed since reset (read)
    FIRST_LAYER = 5     #: first layer of a run (read/write; layers FIRST_LAYER..N_LAYERS-1 run)
    INFO_MEM = 6   #: read: spmat_words | ptr_depth << 32
    INFO_ACT = 7   #: read: act_depth | bias_depth << 32
    LAYER_CYCLES = 16   #: + l: cycles of layer l in the last run (read)


#: PEs per group register.
FANOUT_GROUP = 8
#: Bits of a PE's index within its group.
FANOUT_GROUP_BITS = (FANOUT_GROUP - 1).bit_length()


class Geometry:
    """Derived widths of one EIE instance.

    Parameters
    ----------
    hw : HwConfig
        The hardware parameters.
    max_layers : int
        Entries of the layer table (layers one run can chain).
    """

    #: Fields of a layer table entry, in host offset order.
    LAYER_FIELDS = ("n_in", "rows_in", "rows_out", "ptr_base", "spmat_base",
                    "bias_base", "flags")

    def __init__(self, hw, max_layers=8):
        if not isinstance(hw, HwConfig):
            raise TypeError(f"hw must be an HwConfig, not {hw!r}")
        if isinstance(max_layers, bool) or not isinstance(max_layers, int) or \
                not 1 <= max_layers <= MAX_LAYERS_LIMIT:
            raise ValueError(f"max_layers must be an integer in [1, {MAX_LAYERS_LIMIT}], "
                             f"not {max_layers!r}")
        self.hw = hw
        self.max_layers = max_layers
        self.timing = Timing(hw)
        self.n_pe = hw.n_pe
        self.entry_addr_width = clog2(hw.spmat_words * ENTRIES_PER_WORD)
        self.word_addr_width = clog2(hw.spmat_words)
        self.ptr_width = hw.ptr_width
        self.ptr_addr_width = clog2(hw.ptr_depth)
        self.ptr_bank_addr_width = clog2(hw.ptr_depth // 2)
        self.act_addr_width = clog2(hw.act_depth)
        self.row_count_width = hw.act_depth.bit_length()
        self.col_width = (hw.act_depth * hw.n_pe).bit_length()
        self.bias_addr_width = clog2(max(1, hw.bias_depth))
        self.layer_width = clog2(max_layers)
        self.shift_width = 6
        self.pe_bits = clog2(hw.n_pe)
        self.cycle_width = 48
        # Above FANOUT_TREE_ABOVE PEs, what the top hands every PE (the host
        # port, the codebook reload, the running layer's parameters and the
        # broadcast) reaches
        # each PE's own register through a register per group of
        # FANOUT_GROUP PEs: a net of a few loads into each group instead of
        # one that crosses the device to every PE.
        self.fanout_stages = self.timing.fanout_stages
        #: The bias rows live above the activation banks (:func:`bias_in_act_memory`).
        self.bias_in_act_file = bias_in_act_memory(hw)

    @property
    def item_layout(self):
        """An activation queue item: the value and the column's entries in this PE."""
        return data.StructLayout({
            "value": signed(ACT_BITS),
            "start": unsigned(self.entry_addr_width),
            "length": unsigned(self.ptr_width),
            "empty": unsigned(1),
        })

    @property
    def flags_layout(self):
        return data.StructLayout({
            "relu": 1,
            "has_bias": 1,
            "shift": unsigned(self.shift_width),
        })

    @property
    def layer_layout(self):
        """The parameters of the running layer, as the control unit hands them out."""
        return data.StructLayout({
            "index": unsigned(self.layer_width),
            "n_in": unsigned(self.col_width),
            "rows_in": unsigned(self.row_count_width),
            "rows_out": unsigned(self.row_count_width),
            "ptr_base": unsigned(self.ptr_addr_width),
            "spmat_base": unsigned(self.word_addr_width),
            "bias_base": unsigned(self.bias_addr_width),
            "flags": self.flags_layout,
            "src": 1,
        })

    def layer_field_width(self, name):
        return {"n_in": self.col_width, "rows_in": self.row_count_width,
                "rows_out": self.row_count_width, "ptr_base": self.ptr_addr_width,
                "spmat_base": self.word_addr_width, "bias_base": self.bias_addr_width,
                "flags": self.flags_layout.size}[name]

    @property
    def codebook_depth(self):
        return self.max_layers * CODEBOOK_SIZE

    @property
    def weight_shape(self):
        return signed(WEIGHT_BITS)

    @property
    def host(self):
        return HostMap(self)


class HostMap:
    """The host port's address layout: ``{region, pe, offset}``, 64-bit data.

    ``addr = region << (pe_bits + offset_bits) | pe << offset_bits | offset``.
    Reads return data the cycle after ``re``; writes take one cycle.
    """

    REGION_BITS = 3

    def __init__(self, geometry):
        g = geometry
        hw = g.hw
        self.pe_bits = g.pe_bits
        self.offset_bits = max(
            clog2(2 * hw.act_depth), g.word_addr_width, g.ptr_addr_width, g.bias_addr_width,
            clog2(g.codebook_depth), clog2(8 * g.max_layers),
            clog2(Reg.LAYER_CYCLES + g.max_layers))
        self.addr_width = self.REGION_BITS + self.pe_bits + self.offset_bits

    def addr(self, region, pe=0, offset=0):
        return (region << (self.pe_bits + self.offset_bits)) | (pe << self.offset_bits) | offset

    def split(self, addr):
        offset = addr & ((1 << self.offset_bits) - 1)
        pe = (addr >> self.offset_bits) & ((1 << self.pe_bits) - 1)
        return addr >> (self.pe_bits + self.offset_bits), pe, offset


def info_words(hw, max_layers):
    """What the ``INFO``, ``INFO_MEM`` and ``INFO_ACT`` registers read for an instance."""
    return {Reg.INFO: hw.n_pe | max_layers << 16 | hw.acc_width << 32 | hw.fifo_depth << 40,
            Reg.INFO_MEM: hw.spmat_words | hw.ptr_depth << 32,
            Reg.INFO_ACT: hw.act_depth | hw.bias_depth << 32}


def decode_info(words):
    """The instance's parameters from its ``INFO*`` register values (keyed by offset)."""
    info, mem, act = words[Reg.INFO], words[Reg.INFO_MEM], words[Reg.INFO_ACT]
    return {"n_pe": info & 0xFFFF, "max_layers": (info >> 16) & 0xFFFF,
            "acc_width": (info >> 32) & 0xFF, "fifo_depth": (info >> 40) & 0xFFFF,
            "spmat_words": mem & 0xFFFFFFFF, "ptr_depth": mem >> 32,
            "act_depth": act & 0xFFFFFFFF, "bias_depth": act >> 32}


def flags_value(relu, has_bias, shift):
    """The ``flags`` field of a layer table entry."""
    return int(bool(relu)) | int(bool(has_bias)) << 1 | int(shift) << 2
