"""Compression report: what the encoding costs, per layer and in total.

Sizes are in bits.  ``dense`` is the float32 matrix; ``encoded`` is what the
hardware stores (8-bit entries including padding, pointers at the width the
layer needs, the 16-entry int16 codebook); ``huffman`` replaces the entries by
Huffman codes of the 4-bit index stream and of the 4-bit run-length stream, as
Deep Compression reports (section 3 of the paper).  Biases are left out, as in
the paper's tables.

Where a layer's shape is one of AlexNet's FC layers, the seeds' figures (Deep
Compression Table 4, in ``shared/seeds/004_*.txt``) are shown next to ours.
"""

import numpy as np

from ..config import CODEBOOK_SIZE, WEIGHT_BITS
from .huffman import huffman_bits

__all__ = ["compression_report", "format_report", "ALEXNET_TABLE4"]

#: Deep Compression, Table 4 (AlexNet), keyed by (n_in, n_out): density after
#: pruning, weight bits (P+Q, +H), index bits (P+Q, +H), compress rate (P+Q, P+Q+H).
ALEXNET_TABLE4 = {
    (9216, 4096): {"layer": "AlexNet fc6", "density": 0.09, "weight_bits": 5, "weight_bits_h": 3.9,
                   "index_bits": 4, "index_bits_h": 3.2, "rate": 0.030, "rate_h": 0.0239},
    (4096, 4096): {"layer": "AlexNet fc7", "density": 0.09, "weight_bits": 5, "weight_bits_h": 3.6,
                   "index_bits": 4, "index_bits_h": 3.7, "rate": 0.030, "rate_h": 0.0246},
    (4096, 1000): {"layer": "AlexNet fc8", "density": 0.25, "weight_bits": 5, "weight_bits_h": 4.0,
                   "index_bits": 4, "index_bits_h": 3.2, "rate": 0.073, "rate_h": 0.0585},
}


def _layer_report(layer, stats):
    entries = np.concatenate(layer.entries) if layer.entries else np.zeros(0, np.uint8)
    n_entries = int(entries.size)
    nnz = int(np.count_nonzero(entries & 0xF))
    ptr_width = max(1, int(layer.ptr[:, -1].max(initial=0)).bit_length())
    ptr_bits = layer.n_pe * (layer.n_in + 1) * ptr_width
    codebook_bits = CODEBOOK_SIZE * WEIGHT_BITS
    huff_v = huffman_bits(entries & 0xF)
    huff_z = huffman_bits(entries >> 4)
    per_pe = np.array([e.size for e in layer.entries], dtype=np.float64)
    dense = 32 * layer.n_in * layer.n_out
    encoded = 8 * n_entries + ptr_bits + codebook_bits
    huffman = huff_v + huff_z + ptr_bits + codebook_bits
    rep = {
        "name": layer.name, "n_in": layer.n_in, "n_out": layer.n_out,
        "nnz": nnz, "density": nnz / (layer.n_in * layer.n_out),
        "entries": n_entries, "padding": n_entries - nnz,
        # The busiest PE's entries over the PEs' mean: what load balance costs
        # this layer when every input is nonzero (the row order's doing).
        "busiest_pe": float(per_pe.max() / per_pe.mean()) if n_entries else None,
        "rows_permuted": layer.row_perm is not None,
        "ptr_width": ptr_width,
        "bits_per_nnz": encoded / nnz if nnz else None,
        "weight_bits_h": huff_v / nnz if nnz else None,
        "index_bits_h": huff_z / nnz if nnz else None,
        "dense_bits": dense, "encoded_bits": encoded, "huffman_bits": huffman,
        "ratio": dense / encoded, "ratio_huffman": dense / huffman,
        "w_frac": layer.w_frac, "in_frac": layer.in_frac, "out_frac": layer.out_frac,
        "kind": layer.kind,
    }
    if stats:
        rep.update({k: stats[k] for k in ("codebook_mode", "wcss", "rel_rms_error") if k in stats})
    paper = ALEXNET_TABLE4.get((layer.n_in, layer.n_out))
    if paper:
        rep["paper"] = paper
    return rep


def compression_report(bundle):
    """Per-layer and total figures of a bundle (a JSON-ready dict)."""
    stats = bundle.meta.get("compression") or [None] * len(bundle.layers)
    layers = [_layer_report(layer, s) for layer, s in zip(bundle.layers, stats)]
    total = {k: sum(r[k] for r in layers)
             for k in ("nnz", "entries", "padding", "dense_bits", "encoded_bits", "huffman_bits")}
    weights = sum(r["n_in"] * r["n_out"] for r in layers)
    total["density"] = total["nnz"] / weights
    total["ratio"] = total["dense_bits"] / total["encoded_bits"]
    total["ratio_huffman"] = total["dense_bits"] / total["huffman_bits"]
    total["bits_per_nnz"] = total["encoded_bits"] / total["nnz"] if total["nnz"] else None
    return {"n_pe": bundle.n_pe, "layers": layers, "total": total}


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def format_report(report, console=None):
    """Render :func:`compression_report` as a rich table (returned, or printed to console)."""
    from rich.table import Table

    table = Table(title=f"Compression for {report['n_pe']} PEs (bits per nonzero; ratio vs "
                        f"float32)", title_justify="left",
                  caption="max PE: the busiest PE's entries over the PEs' mean; * rows permuted to "
                          "balance the PEs (the default; --no-balance keeps your order)",
                  caption_justify="left")
    for col, justify in (("layer", "left"), ("shape", "right"), ("density", "right"),
                         ("padding", "right"), ("max PE", "right"), ("bits/nz", "right"),
                         ("w bits +H", "right"),
                         ("idx bits +H", "right"), ("codebook", "left"),
                         ("frac in/w/out", "right"), ("ratio", "right"), ("ratio +H", "right")):
        table.add_column(col, justify=justify)
    for r in report["layers"]:
        kind = " (LSTM)" if r.get("kind") == "lstm" else ""
        table.add_row(r["name"] + kind, f"{r['n_out']}x{r['n_in']}", f"{r['density']:.2%}",
                      f"{r['padding']}",
                      _fmt(r.get("busiest_pe"), ".3f") + ("*" if r.get("rows_permuted") else ""),
                      _fmt(r["bits_per_nnz"], ".2f"),
                      _fmt(r["weight_bits_h"], ".2f"), _fmt(r["index_bits_h"], ".2f"),
                      r.get("codebook_mode", "-"),
                      f"{r['in_frac']}/{r['w_frac']}/{r['out_frac']}", f"{r['ratio']:.1f}x",
                      f"{r['ratio_huffman']:.1f}x")
        paper = r.get("paper")
        if paper:
            table.add_row(f"  [dim]{paper['layer']} (paper)[/dim]", "", f"{paper['density']:.0%}",
                          "", "", f"{paper['weight_bits'] + paper['index_bits']}",
                          f"{paper['weight_bits_h']}", f"{paper['index_bits_h']}", "", "",
                          f"{1 / paper['rate']:.1f}x", f"{1 / paper['rate_h']:.1f}x",
                          style="dim")
    t = report["total"]
    table.add_row("total", "", f"{t['density']:.2%}", f"{t['padding']}", "",
                  _fmt(t["bits_per_nnz"], ".2f"), "", "", "", "", f"{t['ratio']:.1f}x",
                  f"{t['ratio_huffman']:.1f}x", style="bold")
    if console is not None:
        console.print(table)
    return table
