"""The bundle: a compiled model on disk (DESIGN.md section 4).

This module is the only reader and the only writer of bundles.  A bundle is a
directory with ``manifest.json``, per-PE sparse-matrix and pointer images
(``spmat_pe{k}.hex``, ``ptr_pe{k}.hex``) and one ``bias_l{l}.npy`` per layer
with a bias.  :meth:`Bundle.load` checks everything it reads and raises
:class:`~eie.errors.BundleError` (or :class:`~eie.errors.CapacityError`) with
a one-line message naming the file, layer and PE at fault.
"""

import hashlib
import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from ..config import (ACT_BITS, CODEBOOK_SIZE, ENTRIES_PER_WORD, WEIGHT_BITS, HwConfig)
from ..errors import BundleError, CapacityError
from ..recurrent import FC_KIND, LSTM_KIND
from .encode import decode_pe, local_rows, pack_words, unpack_entries
from .model import ARCHIVE_ERRORS

__all__ = ["Layer", "Bundle", "FORMAT", "VERSION"]

FORMAT = "eie-bundle"
VERSION = 1
MAX_FRAC = 40


@dataclass(eq=False)
class Layer:
    """One compiled layer: numerics (DESIGN.md section 2) and per-PE images.

    Attributes
    ----------
    entries : list of numpy.ndarray
        Per PE, the layer's entry bytes (``uint8``).
    ptr : numpy.ndarray
        ``(n_pe, n_in + 1)`` column pointers, relative to the layer's first entry.
    bias : numpy.ndarray or None
        int64 bias at the accumulator's scale, in the user's (original) row order.
    row_perm : numpy.ndarray or None
        ``row_perm[r]`` is the original row of hardware row ``r``.
    """

    name: str
    n_in: int
    n_out: int
    relu: bool
    in_frac: int
    w_frac: int
    out_frac: int
    codebook: np.ndarray
    entries: list
    ptr: np.ndarray
    bias: np.ndarray = None
    row_perm: np.ndarray = None
    spmat_base: int = 0
    ptr_base: int = 0
    extra: dict = field(default_factory=dict)
    kind: str = FC_KIND
    hidden: int = 0

    @property
    def is_lstm(self):
        return self.kind == LSTM_KIND

    @property
    def input_width(self):
        """Inputs the layer takes from the layer in front (an LSTM's ``I``)."""
        return self.n_in - self.hidden

    @property
    def output_width(self):
        """Values the layer hands on (an LSTM's ``h``: ``H``)."""
        return self.hidden if self.is_lstm else self.n_out

    @property
    def output_frac(self):
        """Fractional bits of what the layer hands on (an LSTM's ``h``: ``in_frac``)."""
        return self.in_frac if self.is_lstm else self.out_frac

    @property
    def n_pe(self):
        return len(self.entries)

    @property
    def shift(self):
        """Right shift from the accumulator's scale to the output's."""
        return self.in_frac + self.w_frac - self.out_frac

    @property
    def n_words(self):
        """Words the layer takes in every PE (its largest PE, rounded up)."""
        return max(-(-e.size // ENTRIES_PER_WORD) for e in self.entries)

    @property
    def n_entries(self):
        return int(sum(e.size for e in self.entries))

    @property
    def col_lengths(self):
        """``(n_pe, n_in)`` entries (padding included) per PE and column."""
        return np.diff(self.ptr, axis=1)

    def hw_bias(self):
        """Bias in hardware row order (zeros if the layer has none)."""
        if self.bias is None:
            return np.zeros(self.n_out, dtype=np.int64)
        return self.bias if self.row_perm is None else self.bias[self.row_perm]

    def coo(self):
        """Nonzero codebook indices as (hardware row, column, index) arrays.

        Decodes the per-PE entries, checking them as :func:`decode_pe` does.
        """
        if getattr(self, "_coo", None) is None:
            rows, cols, vals = [], [], []
            for k in range(self.n_pe):
                where = f"layer {self.name}: PE {k}"
                lrow, col, v = decode_pe(self.entries[k], self.ptr[k],
                                         local_rows(self.n_out, self.n_pe, k), where)
                rows.append(lrow * self.n_pe + k)
                cols.append(col)
                vals.append(v)
            self._coo = tuple(np.concatenate(a) for a in (rows, cols, vals))
        return self._coo

    def matrix(self):
        """The integer weight matrix (hardware row order) as a CSR int64 matrix."""
        if getattr(self, "_matrix", None) is None:
            rows, cols, vals = self.coo()
            w = np.asarray(self.codebook, dtype=np.int64)[vals]
            self._matrix = sp.csr_matrix((w, (rows, cols)), shape=(self.n_out, self.n_in),
                                         dtype=np.int64)
        return self._matrix

    def row_abs_sums(self):
        """Per hardware row, the sum of the weights' magnitudes (integers)."""
        rows, _, vals = self.coo()
        w = np.abs(np.asarray(self.codebook, dtype=np.int64)[vals])
        return np.bincount(rows, weights=w, minlength=self.n_out)

    def manifest_entry(self):
        obj = {
            "name": self.name, "n_in": self.n_in, "n_out": self.n_out, "relu": self.relu,
            "in_frac": self.in_frac, "w_frac": self.w_frac, "out_frac": self.out_frac,
            "codebook": [int(c) for c in self.codebook],
            "spmat_base": self.spmat_base, "ptr_base": self.ptr_base,
            "bias": None, "row_perm": None if self.row_perm is None else
            [int(r) for r in self.row_perm],
        }
        if self.is_lstm:
            obj.update(kind=LSTM_KIND, hidden=int(self.hidden))
        obj.update(self.extra)
        return obj


class Bundle:
    """A compiled model: hardware configuration plus layers.

    Parameters
    ----------
    hw : HwConfig
        The hardware the images are laid out for.
    layers : list of Layer
        The layers, in order.  Their ``spmat_base``/``ptr_base`` are assigned
        here (layers back to back in every PE's memories).
    meta : dict, optional
        Extra top-level manifest keys (informational).
    """

    def __init__(self, hw, layers, meta=None):
        self.hw = hw
        self.layers = list(layers)
        self.meta = dict(meta or {})
        spmat_base = ptr_base = 0
        for layer in self.layers:
            layer.spmat_base, layer.ptr_base = spmat_base, ptr_base
            spmat_base += layer.n_words
            ptr_base += layer.n_in + 1

    @property
    def n_pe(self):
        return self.hw.n_pe

    @property
    def n_in(self):
        """Width of the model's input (an LSTM first layer's ``I``)."""
        return self.layers[0].input_width

    @property
    def n_out(self):
        """Width of the model's output (an LSTM last layer's ``H``)."""
        return self.layers[-1].output_width

    @property
    def in_frac(self):
        return self.layers[0].in_frac

    @property
    def out_frac(self):
        """Fractional bits of the model's output codes."""
        return self.layers[-1].output_frac

    @property
    def recurrent(self):
        """Whether the model has an LSTM layer (its inputs are sequences)."""
        return any(layer.is_lstm for layer in self.layers)

    @property
    def total_words(self):
        last = self.layers[-1]
        return last.spmat_base + last.n_words

    @property
    def total_ptrs(self):
        last = self.layers[-1]
        return last.ptr_base + last.n_in + 1

    @property
    def bias_rows(self):
        """Per PE, bias memory words needed: local rows of every layer with a bias."""
        return sum(-(-l.n_out // self.n_pe) for l in self.layers if l.bias is not None)

    def bias_bases(self):
        """Per layer, the base of its bias in every PE's bias memory (None if no bias)."""
        bases, base = [], 0
        for layer in self.layers:
            if layer.bias is None:
                bases.append(None)
            else:
                bases.append(base)
                base += -(-layer.n_out // self.n_pe)
        return bases

    def spmat_image(self, pe):
        """PE ``pe``'s sparse-matrix memory contents (``uint64`` words)."""
        image = np.zeros(self.total_words, dtype=np.uint64)
        for layer in self.layers:
            image[layer.spmat_base:layer.spmat_base + layer.n_words] = \
                pack_words(layer.entries[pe], layer.n_words)
        return image

    def ptr_image(self, pe):
        """PE ``pe``'s pointer memory contents."""
        return np.concatenate([layer.ptr[pe] for layer in self.layers]).astype(np.int64)

    # -- checks -----------------------------------------------------------------------

    def check(self):
        """Check numerics, chaining, accumulator bounds and capacity.

        Raises
        ------
        BundleError
            Inconsistent layers (shapes that don't chain, bad codebook, ...).
        CapacityError
            The layers do not fit the memories of ``self.hw``.
        """
        if not self.layers:
            raise BundleError("the model has no layers")
        names = set()
        for l, layer in enumerate(self.layers):
            where = f"layer {layer.name}"
            if layer.name in names:
                raise BundleError(f"{where}: duplicate layer name")
            names.add(layer.name)
            if layer.n_pe != self.n_pe:
                raise BundleError(f"{where}: images for {layer.n_pe} PEs, hardware has "
                                  f"{self.n_pe}")
            for frac in ("in_frac", "w_frac", "out_frac"):
                value = getattr(layer, frac)
                if not 0 <= value <= MAX_FRAC:
                    raise BundleError(f"{where}: {frac}={value} out of range [0, {MAX_FRAC}]")
            if not 0 <= layer.shift < self.hw.acc_width - 1:
                raise BundleError(f"{where}: output shift in_frac + w_frac - out_frac = "
                                  f"{layer.shift} must be in [0, {self.hw.acc_width - 2}]")
            cb = np.asarray(layer.codebook)
            lim = 1 << (WEIGHT_BITS - 1)
            if cb.shape != (CODEBOOK_SIZE,) or cb[0] != 0 or cb.min() < -lim or cb.max() >= lim:
                raise BundleError(f"{where}: codebook must be {CODEBOOK_SIZE} int16 values "
                                  f"with entry 0 equal to 0")
            if layer.kind not in (FC_KIND, LSTM_KIND):
                raise BundleError(f"{where}: kind {layer.kind!r} is not \"fc\" or \"lstm\"")
            if layer.is_lstm:
                h = layer.hidden
                if not (isinstance(h, int) and 0 < h < layer.n_in and layer.n_out == 4 * h):
                    raise BundleError(f"{where}: an LSTM with hidden={h!r} needs n_out = 4 * "
                                      f"hidden and n_in > hidden (n_in={layer.n_in}, "
                                      f"n_out={layer.n_out})")
                if layer.relu:
                    raise BundleError(f"{where}: an LSTM layer cannot have relu set")
            elif layer.hidden:
                raise BundleError(f"{where}: \"hidden\" is set on a fully connected layer")
            if l > 0:
                prev = self.layers[l - 1]
                if layer.input_width != prev.output_width:
                    what = "LSTM hidden size" if prev.is_lstm else "n_out"
                    raise BundleError(f"{where}: takes {layer.input_width} inputs, which does "
                                      f"not chain with layer {prev.name}'s {what} "
                                      f"{prev.output_width}")
                if layer.in_frac != prev.output_frac:
                    what = "in_frac (the scale of its h)" if prev.is_lstm else "out_frac"
                    raise BundleError(f"{where}: in_frac={layer.in_frac} differs from layer "
                                      f"{prev.name}'s {what}={prev.output_frac}")
            if layer.bias is not None and layer.bias.shape != (layer.n_out,):
                raise BundleError(f"{where}: bias has shape {layer.bias.shape}, expected "
                                  f"({layer.n_out},)")
            if layer.row_perm is not None:
                perm = np.asarray(layer.row_perm)
                if perm.shape != (layer.n_out,) or not np.array_equal(np.sort(perm),
                                                                       np.arange(layer.n_out)):
                    raise BundleError(f"{where}: row_perm is not a permutation of "
                                      f"0..{layer.n_out - 1}")
            # Accumulator bound (DESIGN.md section 2), per row.
            bound = np.abs(layer.hw_bias()).astype(np.float64) + \
                layer.row_abs_sums() * float(1 << (ACT_BITS - 1))
            limit = float(1 << (self.hw.acc_width - 1))
            if (bound >= limit).any():
                r = int(np.argmax(bound))
                raise CapacityError(f"{where}: row {r} can reach 2^{math.log2(bound[r]):.1f} "
                                    f"in the accumulator, beyond acc_width={self.hw.acc_width}")
        self.check_capacity()

    def check_capacity(self):
        """Raise :class:`CapacityError` naming the layer and PE that does not fit."""
        hw, n_pe = self.hw, self.n_pe
        for layer in self.layers:
            where = f"layer {layer.name}"
            used = [-(-e.size // ENTRIES_PER_WORD) for e in layer.entries]
            k = int(np.argmax(used))
            if layer.spmat_base + used[k] > hw.spmat_words:
                raise CapacityError(
                    f"{where}: PE {k} needs sparse-matrix words {layer.spmat_base}.."
                    f"{layer.spmat_base + used[k] - 1}, but spmat_words is {hw.spmat_words}")
            if layer.ptr_base + layer.n_in + 1 > hw.ptr_depth:
                raise CapacityError(
                    f"{where}: PE 0 needs pointers {layer.ptr_base}..{layer.ptr_base + layer.n_in}"
                    f", but ptr_depth is {hw.ptr_depth}")
            for what, n in (("inputs", layer.n_in), ("rows", layer.n_out)):
                if -(-n // n_pe) > hw.act_depth:
                    raise CapacityError(
                        f"{where}: PE 0 holds {-(-n // n_pe)} local {what}, but act_depth is "
                        f"{hw.act_depth}")
            if int(layer.ptr[:, -1].max(initial=0)) >= 1 << hw.ptr_width:
                raise CapacityError(f"{where}: pointers exceed ptr_width={hw.ptr_width}")
        spans = sorted((l.spmat_base, l.spmat_base + l.n_words, l.name) for l in self.layers)
        for (_, end, a), (start, _, b) in zip(spans, spans[1:]):
            if start < end:
                raise BundleError(f"layer {b}: sparse-matrix words overlap layer {a}'s")
        spans = sorted((l.ptr_base, l.ptr_base + l.n_in + 1, l.name) for l in self.layers)
        for (_, end, a), (start, _, b) in zip(spans, spans[1:]):
            if start < end:
                raise BundleError(f"layer {b}: pointers overlap layer {a}'s")
        if self.bias_rows > hw.bias_depth:
            raise CapacityError(f"bias: PE 0 needs {self.bias_rows} bias words, but bias_depth "
                                f"is {hw.bias_depth}")

    # -- disk ------------------------------------------------------------------------

    def save(self, path):
        """Write the bundle to directory ``path``, atomically.

        The files go to a temporary sibling directory that then takes the
        place of ``path``, so a failure leaves an existing bundle whole.  The
        manifest records the SHA-256 of every other file (``"files"``).  An
        existing ``path`` must be an empty directory or a bundle.
        """
        self.check()
        path = os.path.abspath(os.fspath(path))
        _check_target(path)
        parent = os.path.dirname(path)
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.tmp-", dir=parent)
        try:
            self._write(tmp)
            _replace_dir(tmp, path)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise

    def _write(self, path):
        files = {}
        layers = []
        for l, layer in enumerate(self.layers):
            entry = layer.manifest_entry()
            if layer.bias is not None:
                entry["bias"] = f"bias_l{l}.npy"
                np.save(os.path.join(path, entry["bias"]), layer.bias.astype(np.int64))
                files[entry["bias"]] = None
            layers.append(entry)
        ptr_bytes = -(-self.hw.ptr_width // 8)
        for k in range(self.n_pe):
            _write_hex(os.path.join(path, f"spmat_pe{k}.hex"), self.spmat_image(k), 8)
            _write_hex(os.path.join(path, f"ptr_pe{k}.hex"), self.ptr_image(k), ptr_bytes)
            files[f"spmat_pe{k}.hex"] = files[f"ptr_pe{k}.hex"] = None
        manifest = {"format": FORMAT, "version": VERSION, "hw": self.hw.to_json(),
                    "layers": layers,
                    "files": {name: _sha256(os.path.join(path, name)) for name in sorted(files)}}
        manifest.update({k: v for k, v in self.meta.items()
                         if k not in manifest and k != "checksum"})
        manifest["checksum"] = _manifest_checksum(manifest)
        with open(os.path.join(path, "manifest.json"), "w") as f:
            json.dump(manifest, f, indent=1)
            f.write("\n")

    @classmethod
    def load(cls, path):
        """Read and check the bundle in directory ``path``.

        Files listed in the manifest's ``"files"`` (every bundle this package
        writes) must have their recorded SHA-256; every number is range-checked
        before anything is allocated from it.
        """
        if not isinstance(path, (str, os.PathLike)):
            raise BundleError(f"a bundle is a directory path, not {type(path).__name__}")
        path = os.fspath(path)
        mpath = os.path.join(path, "manifest.json")
        if not os.path.isdir(path):
            raise BundleError(f"{path}: not a bundle directory")
        try:
            with open(mpath) as f:
                manifest = json.load(f)
        except FileNotFoundError:
            raise BundleError(f"{mpath}: missing") from None
        except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
            raise BundleError(f"{mpath}: not valid JSON ({e})") from None
        except OSError as e:
            raise BundleError(f"{mpath}: cannot read ({e.strerror})") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise BundleError(f"{mpath}: \"format\" is not \"{FORMAT}\"")
        if manifest.get("version") != VERSION:
            raise BundleError(f"{mpath}: unsupported version {manifest.get('version')!r}")
        if "checksum" in manifest and manifest["checksum"] != _manifest_checksum(manifest):
            raise BundleError(f"{mpath}: edited since the bundle was written (its \"checksum\" "
                              f"does not match; compress again, or delete the key to accept "
                              f"the edit)")
        hw = HwConfig.from_json(manifest.get("hw"), mpath)
        specs = manifest.get("layers")
        if not isinstance(specs, list) or not specs:
            raise BundleError(f"{mpath}: \"layers\" must be a non-empty list")
        _verify_files(path, mpath, manifest, hw, specs)
        for l, spec in enumerate(specs):
            _check_spec(mpath, l, spec, hw)

        spmat = [_read_hex(os.path.join(path, f"spmat_pe{k}.hex"), 64, 16)
                 for k in range(hw.n_pe)]
        ptrs = [_read_hex(os.path.join(path, f"ptr_pe{k}.hex"), 63) for k in range(hw.n_pe)]
        for l, spec in enumerate(specs):
            prev = specs[l - 1] if l else None
            if prev is not None and _width(spec, "in") != _width(prev, "out"):
                takes = f"n_in={spec['n_in']}" if not spec.get("hidden") else \
                    f"n_in - hidden = {_width(spec, 'in')}"
                gives = f"n_out={prev['n_out']}" if not prev.get("hidden") else \
                    f"hidden={prev['hidden']}"
                raise BundleError(f"{mpath}: layer {spec['name']}: {takes} does not chain with "
                                  f"layer {prev['name']}'s {gives}")
        layers = [_load_layer(path, mpath, l, spec, hw, spmat, ptrs)
                  for l, spec in enumerate(specs)]
        meta = {k: v for k, v in manifest.items()
                if k not in ("format", "version", "hw", "layers", "files", "checksum")}
        bundle = cls(hw, layers, meta)
        for layer, spec in zip(layers, specs):
            if (layer.spmat_base, layer.ptr_base) != (spec["spmat_base"], spec["ptr_base"]):
                # Bases need not be packed; keep the manifest's.
                layer.spmat_base, layer.ptr_base = spec["spmat_base"], spec["ptr_base"]
        bundle.check()
        return bundle


_KINDS = (FC_KIND, LSTM_KIND)

_LAYER_KEYS = {"name": str, "n_in": int, "n_out": int, "relu": bool, "in_frac": int,
               "w_frac": int, "out_frac": int, "codebook": list, "spmat_base": int,
               "ptr_base": int}


def _width(spec, side):
    """A checked layer spec's input width (an LSTM's I) or output width (its H)."""
    hidden = spec.get("hidden") or 0
    if side == "in":
        return spec["n_in"] - hidden
    return hidden if spec.get("kind") == LSTM_KIND else spec["n_out"]


def _verify_files(path, mpath, manifest, hw, specs):
    """Check the manifest's ``"files"`` table (if any) against the files."""
    files = manifest.get("files")
    if files is None:
        return
    if not isinstance(files, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and len(v) == 64 for k, v in files.items()):
        raise BundleError(f"{mpath}: \"files\" must map file names to SHA-256 hex digests")
    want = {f"{kind}_pe{k}.hex" for k in range(hw.n_pe) for kind in ("spmat", "ptr")}
    want |= {spec["bias"] for spec in specs if isinstance(spec, dict) and
             isinstance(spec.get("bias"), str)}
    if set(files) != want:
        extra, missing = sorted(set(files) - want), sorted(want - set(files))
        what = f"lists {', '.join(extra[:3])}" if extra else \
            f"does not list {', '.join(missing[:3])}"
        raise BundleError(f"{mpath}: \"files\" {what}, which does not match n_pe="
                          f"{hw.n_pe} and the layers' bias files (manifest edited?)")
    for name, digest in files.items():
        fpath = os.path.join(path, name)
        try:
            actual = _sha256(fpath)
        except FileNotFoundError:
            raise BundleError(f"{fpath}: missing") from None
        except OSError as e:
            raise BundleError(f"{fpath}: cannot read ({e.strerror})") from None
        if actual != digest.lower():
            raise BundleError(f"{fpath}: changed since the bundle was written (its SHA-256 "
                              f"differs from the manifest's)")


def _check_spec(mpath, l, spec, hw):
    """Types and ranges of a layer's manifest entry, before anything is read for it."""
    if not isinstance(spec, dict):
        raise BundleError(f"{mpath}: layer {l} is not an object")
    for key, typ in _LAYER_KEYS.items():
        value = spec.get(key)
        if not isinstance(value, typ) or (typ is int and isinstance(value, bool)):
            raise BundleError(f"{mpath}: layer {l}: \"{key}\" missing or not {typ.__name__}")
    where = f"{mpath}: layer {spec['name']}"
    limit = hw.n_pe * hw.act_depth
    for key, lo, hi in (("n_in", 1, limit), ("n_out", 1, limit), ("in_frac", 0, MAX_FRAC),
                        ("w_frac", 0, MAX_FRAC), ("out_frac", 0, MAX_FRAC),
                        ("spmat_base", 0, hw.spmat_words - 1), ("ptr_base", 0, hw.ptr_depth - 1)):
        if not lo <= spec[key] <= hi:
            raise BundleError(f"{where}: {key}={spec[key]} is out of range [{lo}, {hi}]"
                              + (" (n_pe * act_depth)" if key in ("n_in", "n_out") else ""))
    cb = spec["codebook"]
    lim = 1 << (WEIGHT_BITS - 1)
    if len(cb) != CODEBOOK_SIZE or not all(isinstance(c, int) and not isinstance(c, bool) and
                                           -lim <= c < lim for c in cb) or cb[0] != 0:
        raise BundleError(f"{where}: codebook must be {CODEBOOK_SIZE} int16 values with "
                          f"entry 0 equal to 0")
    perm = spec.get("row_perm")
    if perm is not None and not (
            isinstance(perm, list) and len(perm) == spec["n_out"] and
            all(isinstance(r, int) and not isinstance(r, bool) and 0 <= r < spec["n_out"]
                for r in perm)):
        raise BundleError(f"{where}: row_perm must be null or a list of {spec['n_out']} "
                          f"integers in [0, {spec['n_out'] - 1}]")
    if spec.get("bias") is not None and (not isinstance(spec["bias"], str) or
                                         os.path.basename(spec["bias"]) != spec["bias"]):
        raise BundleError(f"{where}: bias must be null or a file name in the bundle")
    kind = spec.get("kind", FC_KIND)
    if kind not in _KINDS:
        raise BundleError(f"{mpath}: layer {l}: \"kind\" must be \"fc\" or \"lstm\", not "
                          f"{kind!r}")
    hidden = spec.get("hidden")
    if (kind == FC_KIND and hidden not in (0, None)) or (kind == LSTM_KIND and not (
            isinstance(hidden, int) and not isinstance(hidden, bool) and
            0 < hidden < spec["n_in"])):
        raise BundleError(f"{mpath}: layer {l}: \"hidden\" must be the LSTM's hidden size, "
                          f"below n_in, not {hidden!r}")


def _load_layer(path, mpath, l, spec, hw, spmat, ptrs):
    name = spec["name"]
    where = f"layer {name}"
    n_in, n_out = spec["n_in"], spec["n_out"]
    codebook = spec["codebook"]
    p0, p1 = spec["ptr_base"], spec["ptr_base"] + n_in + 1
    for k in range(hw.n_pe):
        if ptrs[k].size < p1:
            raise BundleError(f"{os.path.join(path, f'ptr_pe{k}.hex')}: {ptrs[k].size} lines, "
                              f"{where} needs lines {p0}..{p1 - 1}")
    entries, ptr = [], np.zeros((hw.n_pe, n_in + 1), dtype=np.int64)
    for k in range(hw.n_pe):
        ptr[k] = ptrs[k][p0:p1]
        start = spec["spmat_base"] * ENTRIES_PER_WORD
        count = int(ptr[k, -1])
        if count < 0 or start + count > spmat[k].size * ENTRIES_PER_WORD:
            raise BundleError(f"{os.path.join(path, f'spmat_pe{k}.hex')}: {where} points past "
                              f"the end of the file")
        entries.append(unpack_entries(spmat[k], start, count).copy())

    bias = None
    if spec.get("bias") is not None:
        bpath = os.path.join(path, str(spec["bias"]))
        try:
            bias = np.load(bpath, allow_pickle=False)
        except FileNotFoundError:
            raise BundleError(f"{bpath}: missing") from None
        except ARCHIVE_ERRORS as e:
            raise BundleError(f"{bpath}: not a NumPy array file ({e})") from None
        if bias.dtype.kind not in "iu" or bias.shape != (n_out,):
            raise BundleError(f"{bpath}: expected an integer vector of length {n_out}, got "
                              f"{bias.dtype} {bias.shape}")
        if bias.dtype.kind == "u" and bias.size and int(bias.max()) >= 1 << 63:
            raise BundleError(f"{bpath}: value {int(bias.max())} does not fit int64")
        bias = bias.astype(np.int64)
    perm = spec.get("row_perm")
    if perm is not None:
        perm = np.asarray(perm, dtype=np.int64)
    extra = {k: v for k, v in spec.items() if k not in _LAYER_KEYS and k not in
             ("bias", "row_perm", "kind", "hidden")}
    layer = Layer(name=name, n_in=n_in, n_out=n_out, relu=spec["relu"],
                  in_frac=spec["in_frac"], w_frac=spec["w_frac"], out_frac=spec["out_frac"],
                  codebook=np.asarray(codebook, dtype=np.int64), entries=entries, ptr=ptr,
                  bias=bias, row_perm=perm, extra=extra, kind=spec.get("kind", FC_KIND),
                  hidden=spec.get("hidden") or 0)
    layer.coo()  # decode now: a corrupt image fails at load time
    return layer


def _manifest_checksum(manifest):
    """SHA-256 of the manifest's canonical JSON, its ``"checksum"`` key left out."""
    body = {k: v for k, v in manifest.items() if k != "checksum"}
    try:
        text = json.dumps(body, sort_keys=True, separators=(",", ":"), allow_nan=True)
    except (TypeError, ValueError):
        return None
    return hashlib.sha256(text.encode()).hexdigest()


def _sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def is_bundle(path):
    """Whether directory ``path`` holds a bundle's manifest (not checked further)."""
    try:
        with open(os.path.join(path, "manifest.json")) as f:
            manifest = json.load(f)
    except (OSError, ValueError):
        return False
    return isinstance(manifest, dict) and manifest.get("format") == FORMAT


def _check_target(path):
    if os.path.exists(path):
        if not os.path.isdir(path):
            raise BundleError(f"{path}: exists and is not a directory; a bundle is a directory")
        if os.listdir(path) and not is_bundle(path):
            raise BundleError(f"{path}: a non-empty directory that is not an EIE bundle; "
                              f"refusing to write into it (choose a new or empty directory)")


def _replace_dir(new, path):
    """Put directory ``new`` at ``path``; an old directory there is removed only
    once the new one is in place."""
    if not os.path.exists(path):
        os.rename(new, path)
        return
    old = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.old-", dir=os.path.dirname(path))
    os.rmdir(old)
    os.rename(path, old)
    try:
        os.rename(new, path)
    except BaseException:
        os.rename(old, path)
        raise
    shutil.rmtree(old, ignore_errors=True)


def _write_hex(path, values, nbytes):
    """Write one value per line, ``2 * nbytes`` hex digits (``$readmemh`` format)."""
    values = np.asarray(values, dtype=np.uint64)
    raw = values.astype(">u8").view(np.uint8).reshape(-1, 8)[:, 8 - nbytes:]
    lines = np.frombuffer(raw.tobytes().hex().encode(), dtype=f"S{2 * nbytes}")
    with open(path, "wb") as f:
        for chunk in range(0, lines.size, 1 << 16):
            f.write(b"".join(line + b"\n" for line in lines[chunk:chunk + (1 << 16)].tolist()))


def _read_hex(path, max_bits, digits=None):
    """Read a ``$readmemh``-style file: one hex value per line (exactly
    ``digits`` hex digits each, if given)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise BundleError(f"{path}: missing") from None
    except OSError as e:
        raise BundleError(f"{path}: cannot read ({e.strerror})") from None
    lines = data.split()
    if not lines:
        return np.zeros(0, dtype=np.uint64)
    widths = set(map(len, lines))
    if digits is not None and widths != {digits}:
        i = next(i for i, x in enumerate(lines) if len(x) != digits)
        raise BundleError(f"{path}: line {i + 1} has {len(lines[i])} hex digits, expected "
                          f"{digits} (one 64-bit word per line)")
    try:
        if len(widths) == 1 and len(lines[0]) <= 16 and len(lines[0]) % 2 == 0:
            nbytes = len(lines[0]) // 2
            raw = np.frombuffer(bytes.fromhex(b"".join(lines).decode("ascii")), dtype=np.uint8)
            full = np.zeros((raw.size // nbytes, 8), dtype=np.uint8)
            full[:, 8 - nbytes:] = raw.reshape(-1, nbytes)
            values = full.view(">u8").ravel().astype(np.uint64)
        else:
            values = np.array([int(x, 16) for x in lines], dtype=np.uint64)
    except (ValueError, UnicodeDecodeError, OverflowError):
        for i, x in enumerate(lines):
            try:
                if int(x, 16) >> 64:
                    raise BundleError(f"{path}: line {i + 1} does not fit 64 bits")
            except ValueError:
                raise BundleError(f"{path}: line {i + 1} ({x[:20].decode(errors='replace')!r}) "
                                  f"is not hexadecimal") from None
        raise BundleError(f"{path}: unreadable") from None
    if max_bits < 64 and values.size and int(values.max()) >> max_bits:
        raise BundleError(f"{path}: a value does not fit {max_bits} bits")
    return values
