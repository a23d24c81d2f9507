"""Verilog of an EIE instance (Amaranth's Verilog back end, through Yosys)."""

import re

from amaranth.back import verilog

from ..config import HwConfig
from ..errors import EieError

__all__ = ["TOP_NAME", "generate", "default_max_layers", "LINT_WAIVERS"]

#: Module name of the generated top.
TOP_NAME = "eie_top"

#: Verilator ``-Wall`` warnings that the generated Verilog raises, all of them
#: idioms of Yosys' ``write_verilog`` rather than design faults:
LINT_WAIVERS = {
    # Amaranth names the file, not Verilator; the module is eie_top.
    "DECLFILENAME": "the module name need not match the output file name",
    # Amaranth's reset/init values are written as `reg x = init;` and then
    # assigned in always blocks: that is how its `init=` is expressed.
    "PROCASSINIT": "registers carry their Amaranth init value in the declaration",
    # The flattened hierarchy keeps named wires for every port of every
    # submodule (e.g. unused halves of a record) for debugging.
    "UNUSEDSIGNAL": "wires kept for every submodule port and record field",
    # write_verilog relies on Verilog's sign/zero extension and truncation
    # rules (`!x` for `x == 0`, sign-extended comparisons with constants).
    # The bit-exact simulations against the golden model check the widths.
    "WIDTHEXPAND": "implicit extension in back-end expressions (checked by simulation)",
    "WIDTHTRUNC": "implicit truncation in back-end expressions (checked by simulation)",
}


def default_max_layers(n_layers=0):
    """Layer table depth: at least 8, enough for ``n_layers``, a power of 2."""
    depth = 8
    while depth < n_layers:
        depth *= 2
    return depth


def generate(hw=None, bundle=None, max_layers=None, bake=False, name=TOP_NAME):
    """Verilog text of an EIE instance.

    Parameters
    ----------
    hw : HwConfig, optional
        The configuration (default: the bundle's).
    bundle : eie.gen.bundle.Bundle, optional
        Sizes the layer table; with ``bake`` its model is baked into the
        memories' initial contents.
    max_layers : int, optional
        Layer table depth (default :func:`default_max_layers`).
    """
    from ..hw.eie import EIE

    if hw is None:
        if bundle is None:
            raise EieError("generate: give a hardware configuration or a bundle")
        hw = bundle.hw
    if not isinstance(hw, HwConfig):
        raise EieError(f"generate: not a hardware configuration: {hw!r}")
    n_layers = len(bundle.layers) if bundle is not None else 0
    if max_layers is None:
        max_layers = default_max_layers(n_layers)
    if n_layers > max_layers:
        raise EieError(f"generate: the bundle has {n_layers} layers, more than "
                       f"max_layers={max_layers}")
    try:
        top = EIE(hw, max_layers=max_layers, bundle=bundle if bake else None)
    except (TypeError, ValueError) as e:
        raise EieError(f"generate: {e}") from None
    text = verilog.convert(top, name=name, emit_src=False)
    return text if bake else drop_zero_init(text)


#: Memories whose zero initial contents the design relies on: the accumulators
#: start a run cleared (writeback clears them again after every layer).
ZERO_INIT_NEEDED = ("acc_rows",)

_INIT_BLOCK = re.compile(r"^  initial begin\n((?:    [\w\\$.]+\[\d+\] = \d+'h0+;\n)+)  end\n",
                         re.MULTILINE)


def drop_zero_init(text, keep=ZERO_INIT_NEEDED):
    """Remove the all-zero ``initial`` blocks of memories the host writes before use.

    Amaranth gives every memory an initial value, zeros by default, and Yosys
    writes one line per word: for a 64-PE instance that is most of the file
    and most of Verilator's compile time.  Only the accumulators must start at
    zero; the pointer, sparse-matrix, codebook, bias, activation, queue and
    layer-table memories are written (by the host or the datapath) before
    they are read, so in simulation they may start undefined.  (Block RAM on
    an FPGA starts at zero either way.)
    """
    def repl(match):
        name = match.group(1).split("[", 1)[0].strip()
        return match.group(0) if name in keep else ""
    return _INIT_BLOCK.sub(repl, text)
