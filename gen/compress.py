"""Deep Compression of fully connected layers into an EIE bundle.

The pipeline, per layer (Han et al., Deep Compression, sections 2-3):

1. magnitude pruning to a target density (optional; per layer or global);
2. weight sharing: the layer's nonzero weights take at most 15 distinct values,
   exactly when the layer already has at most 15, otherwise the centroids of a
   1-D k-means with linear initialisation (:mod:`eie.gen.kmeans`);
3. fixed point: the codebook is rounded to int16 with the most fractional bits
   (``w_frac``) that keep every entry in range and keep the accumulator bound
   of DESIGN.md section 2; activations use ``act_frac`` fractional bits, fixed
   or calibrated on sample inputs;
4. EIE's interleaved CSC encoding for ``n_pe`` PEs (:mod:`eie.gen.encode`),
   optionally after permuting rows to balance the nonzeros across PEs.
"""

import heapq
import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..config import ACT_BITS, ACT_MAX, CODEBOOK_SIZE, WEIGHT_BITS, HwConfig
from ..errors import CapacityError, ModelError
from .bundle import Bundle, Layer
from .encode import encode_layer, local_rows
from .kmeans import kmeans_1d

__all__ = ["compress", "CompressOptions", "load_model", "prune", "keep_largest", "share_weights",
           "balance_rows", "DEFAULT_ACT_FRAC"]

DEFAULT_ACT_FRAC = 8
MAX_W_FRAC = 31
N_CLUSTERS = CODEBOOK_SIZE - 1
_WEIGHT_MAX = (1 << (WEIGHT_BITS - 1)) - 1


@dataclass
class CompressOptions:
    """Options of :func:`compress`; see the CLI's ``eie compress --help``.

    Memory sizes left ``None`` are chosen to fit the model (powers of two).
    """

    n_pe: int = 8
    density: object = None
    prune_scope: str = "layer"
    relu: object = None
    act_frac: object = None
    calibration: object = None
    balance: bool = False
    acc_width: int = 48
    fifo_depth: int = 8
    spmat_words: int = None
    ptr_depth: int = None
    act_depth: int = None
    bias_depth: int = None
    names: list = None
    progress: object = None
    kmeans_iter: int = 300


def load_model(path):
    """Read ``w0, w1, ...`` and optional ``b0, b1, ...`` from an ``.npz`` file."""
    try:
        data = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise ModelError(f"{path}: no such file") from None
    except (ValueError, OSError, EOFError) as e:
        raise ModelError(f"{path}: not a NumPy .npz file ({e})") from None
    with data:
        if not hasattr(data, "files"):
            raise ModelError(f"{path}: not an .npz archive (a single array?)")
        keys = set(data.files)
        weights, biases = [], []
        while f"w{len(weights)}" in keys:
            l = len(weights)
            weights.append(data[f"w{l}"])
            biases.append(data[f"b{l}"] if f"b{l}" in keys else None)
        if not weights:
            raise ModelError(f"{path}: no weight arrays (expected w0, w1, ...; found "
                             f"{', '.join(sorted(keys)) or 'nothing'})")
        extra = sorted(k for k in keys if k not in {f"w{l}" for l in range(len(weights))} |
                       {f"b{l}" for l in range(len(weights))})
        if extra:
            raise ModelError(f"{path}: unexpected arrays {', '.join(extra)} (layers must be "
                             f"w0..w{len(weights) - 1} without gaps)")
    return weights, biases


def _per_layer(value, n, what, default):
    if value is None:
        return [default] * n
    if np.isscalar(value):
        return [value] * n
    value = list(value)
    if len(value) != n:
        raise ModelError(f"{what}: {len(value)} values given for {n} layers")
    return value


def _check_model(weights, biases, names):
    """Validate the layers; returns them as dense arrays or COO matrices, unconverted."""
    layers = []
    for l, w in enumerate(weights):
        name = names[l]
        w = w.tocoo() if sp.issparse(w) else np.asarray(w)
        vals = w.data if sp.issparse(w) else w
        if len(w.shape) != 2 or 0 in w.shape:
            raise ModelError(f"layer {name}: weights must be a non-empty 2-D array "
                             f"(out x in), got shape {w.shape}")
        if vals.dtype.kind not in "fiub":
            raise ModelError(f"layer {name}: weights have non-numeric dtype {vals.dtype}")
        if vals.dtype.kind == "f" and not np.isfinite(vals).all():
            bad = np.argwhere(~np.isfinite(vals))[0]
            at = tuple(bad) if vals.ndim == 2 else (w.row[bad[0]], w.col[bad[0]])
            raise ModelError(f"layer {name}: weight [{at[0]}, {at[1]}] is {vals[tuple(bad)]}")
        if l and w.shape[1] != layers[-1].shape[0]:
            raise ModelError(f"layer {name}: takes {w.shape[1]} inputs but layer {names[l - 1]} "
                             f"has {layers[-1].shape[0]} outputs")
        b = biases[l]
        if b is not None:
            b = np.asarray(b)
            if b.shape != (w.shape[0],) or b.dtype.kind not in "fiub":
                raise ModelError(f"layer {name}: bias must be a vector of {w.shape[0]} numbers, "
                                 f"got {b.dtype} {b.shape}")
            if not np.isfinite(b.astype(np.float64)).all():
                i = int(np.argmax(~np.isfinite(b.astype(np.float64))))
                raise ModelError(f"layer {name}: bias [{i}] is {b[i]}")
        layers.append(w)
    return layers


def _magnitudes(w):
    """Flat magnitudes of a layer's stored values (dense: all of them)."""
    return np.abs(w.data if sp.issparse(w) else w.ravel())


def keep_largest(mag, k):
    """Mask of the ``k`` largest nonzero magnitudes (ties broken by position)."""
    keep = mag > 0
    if k >= np.count_nonzero(keep):
        return keep
    if k <= 0:
        return np.zeros(mag.size, dtype=bool)
    thr = np.partition(mag, mag.size - k)[mag.size - k]
    keep = mag > thr
    need = k - int(np.count_nonzero(keep))
    if need > 0:
        keep[np.flatnonzero(mag == thr)[:need]] = True
    return keep


def _to_coo(w, keep):
    """``(rows, cols, float64 values, shape)`` of the kept values of a layer."""
    if sp.issparse(w):
        return (w.row[keep].astype(np.int64), w.col[keep].astype(np.int64),
                w.data[keep].astype(np.float64), w.shape)
    idx = np.flatnonzero(keep)
    rows, cols = np.divmod(idx, w.shape[1])
    return rows, cols, w.ravel()[idx].astype(np.float64), w.shape


def prune(layers, density=None, scope="layer"):
    """Magnitude pruning; returns COO layers ``(rows, cols, vals, shape)``.

    ``density`` is a fraction of each layer's weights (``scope="layer"``; one
    value or one per layer) or of all weights together (``scope="global"``);
    ``None`` keeps every nonzero.  The largest magnitudes are kept, ties broken
    by position.
    """
    mags = [_magnitudes(w) for w in layers]
    if density is None:
        return [_to_coo(w, m > 0) for w, m in zip(layers, mags)]
    if scope == "global":
        if not np.isscalar(density):
            raise ModelError("--density: global pruning takes one density")
        total = sum(w.shape[0] * w.shape[1] for w in layers)
        keep = keep_largest(np.concatenate(mags), int(round(float(density) * total)))
        bounds = np.cumsum([0] + [m.size for m in mags])
        return [_to_coo(w, keep[bounds[l]:bounds[l + 1]]) for l, w in enumerate(layers)]
    if scope != "layer":
        raise ModelError(f"prune scope must be 'layer' or 'global', not {scope!r}")
    densities = _per_layer(density, len(layers), "--density", None)
    return [_to_coo(w, keep_largest(m, int(round(float(d) * w.shape[0] * w.shape[1]))))
            for w, m, d in zip(layers, mags, densities)]


def share_weights(vals, max_iter=300):
    """Weight sharing of a layer's nonzero values.

    Returns
    -------
    centroids : numpy.ndarray
        At most 15 float values (the layer's distinct values when it has at most 15).
    labels : numpy.ndarray
        Index into ``centroids`` of each value.
    info : dict
        ``mode`` ("exact" or "kmeans"), ``wcss``, ``iterations``.
    """
    if vals.size == 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64), {"mode": "empty", "wcss": 0.0,
                                                          "iterations": 0}
    distinct = np.unique(vals)
    if distinct.size <= N_CLUSTERS:
        return distinct, np.searchsorted(distinct, vals), {"mode": "exact", "wcss": 0.0,
                                                           "iterations": 0}
    c, labels, wcss, it = kmeans_1d(vals, N_CLUSTERS, max_iter=max_iter)
    return c, labels, {"mode": "kmeans", "wcss": wcss, "iterations": it}


def _choose_w_frac(centroids, labels, rows, n_out, bias, in_frac, acc_width, name):
    """Most fractional bits that keep the codebook in int16 and the accumulator bound."""
    limit = 1 << (acc_width - 1)
    for f in range(MAX_W_FRAC, -1, -1):
        cb = np.round(centroids * 2.0 ** f)
        if cb.size and np.abs(cb).max() > _WEIGHT_MAX:
            continue
        rowsum = np.bincount(rows, weights=np.abs(cb[labels]), minlength=n_out) if rows.size \
            else np.zeros(n_out)
        bmag = np.zeros(n_out) if bias is None else np.abs(np.round(bias * 2.0 ** (in_frac + f)))
        if (bmag + rowsum * float(1 << (ACT_BITS - 1)) < limit).all():
            return f, cb.astype(np.int64)
    if centroids.size and np.abs(centroids).max() >= _WEIGHT_MAX + 0.5:
        raise ModelError(f"layer {name}: weight {np.abs(centroids).max():g} does not fit an "
                         f"int16 codebook")
    raise CapacityError(f"layer {name}: the accumulator bound fails even with w_frac=0; "
                        f"increase acc_width (now {acc_width})")


def _frac_for(maxabs):
    if maxabs <= 0:
        return ACT_BITS - 1
    f = math.floor(math.log2(ACT_MAX / (maxabs * 1.25)))
    return int(min(ACT_BITS - 1, max(0, f)))


def _calibrate(coos, biases, relu, x):
    """Activation fractional bits from the float model's ranges on inputs ``x``."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim == 1:
        x = x[None, :]
    n_in = coos[0][3][1]
    if x.ndim != 2 or x.shape[1] != n_in:
        raise ModelError(f"calibration inputs must have {n_in} columns, got shape {x.shape}")
    if not np.isfinite(x).all():
        raise ModelError("calibration inputs contain NaN or inf")
    fracs = [_frac_for(np.abs(x).max())]
    a = x
    for (r, c, v, s), b, f in zip(coos, biases, relu):
        w = sp.csr_matrix((v, (r, c)), shape=s)
        a = (w @ a.T).T
        if b is not None:
            a = a + b
        if f:
            a = np.maximum(a, 0)
        fracs.append(_frac_for(np.abs(a).max()))
    return fracs


def balance_rows(row_cost, n_pe):
    """A row permutation that balances ``row_cost`` over PEs.

    PE ``k`` keeps its number of local rows; rows go, largest cost first, to the
    PE with the least load that still has room (longest processing time
    first).  Returns ``perm`` with ``perm[r]`` = original row of hardware row ``r``.
    """
    n_out = len(row_cost)
    room = [local_rows(n_out, n_pe, k) for k in range(n_pe)]
    heap = [(0, k) for k in range(n_pe) if room[k]]
    heapq.heapify(heap)
    assigned = [[] for _ in range(n_pe)]
    for row in np.argsort(-np.asarray(row_cost), kind="stable"):
        load, k = heapq.heappop(heap)
        assigned[k].append(int(row))
        if len(assigned[k]) < room[k]:
            heapq.heappush(heap, (load + row_cost[row], k))
    perm = np.empty(n_out, dtype=np.int64)
    for k, rows in enumerate(assigned):
        for local, row in enumerate(sorted(rows)):
            perm[local * n_pe + k] = row
    return perm


def _pow2(n):
    return 1 << max(0, int(n) - 1).bit_length()


def compress(weights, biases=None, options=None, **kw):
    """Compress float layers into a :class:`~eie.gen.bundle.Bundle`.

    Parameters
    ----------
    weights : list of array_like or scipy.sparse matrix
        Layer weights, each ``out x in``; consecutive layers must chain.
    biases : list of array_like or None, optional
        Per layer bias (float) or ``None``.
    options : CompressOptions, optional
        Or pass its fields as keyword arguments.

    Returns
    -------
    Bundle
        The checked bundle; ``bundle.meta["compression"]`` holds per-layer
        statistics for :mod:`eie.gen.report`.
    """
    opts = options or CompressOptions(**kw)
    if options is not None and kw:
        raise TypeError("pass either options or keyword arguments")
    if not isinstance(opts.n_pe, int) or isinstance(opts.n_pe, bool) or opts.n_pe < 1:
        raise ModelError(f"--pes must be a positive integer, not {opts.n_pe!r}")
    n = len(weights)
    if n == 0:
        raise ModelError("the model has no layers")
    biases = list(biases) if biases is not None else [None] * n
    if len(biases) != n:
        raise ModelError(f"{len(biases)} biases for {n} layers")
    names = list(opts.names) if opts.names else [f"fc{l + 1}" for l in range(n)]
    relu = [bool(r) for r in _per_layer(opts.relu, n, "--relu", None)] if opts.relu is not None \
        else [l < n - 1 for l in range(n)]
    layers_in = _check_model(weights, biases, names)
    biases = [None if b is None else np.asarray(b, dtype=np.float64) for b in biases]
    if opts.density is not None:
        for d in ([opts.density] if np.isscalar(opts.density) else opts.density):
            if not (isinstance(d, (int, float)) and 0 < d <= 1):
                raise ModelError(f"--density {d!r} must be in (0, 1]")
    coos = prune(layers_in, opts.density, opts.prune_scope)
    del layers_in

    if opts.act_frac is not None:
        fracs = _per_layer(opts.act_frac, n + 1, "--act-frac", None) \
            if not np.isscalar(opts.act_frac) else [opts.act_frac] * (n + 1)
        for f in fracs:
            if not isinstance(f, (int, np.integer)) or not 0 <= f <= ACT_BITS - 1:
                raise ModelError(f"--act-frac {f!r} must be an integer in [0, {ACT_BITS - 1}]")
        fracs = [int(f) for f in fracs]
    elif opts.calibration is not None:
        fracs = _calibrate(coos, biases, relu, opts.calibration)
    else:
        fracs = [DEFAULT_ACT_FRAC] * (n + 1)

    progress = opts.progress or (lambda it, **_: it)
    layers, stats = [], []
    in_frac = fracs[0]
    prev_perm = None
    for l in progress(range(n), description="compress", total=n):
        rows, cols, vals, (n_out, n_in) = coos[l]
        name = names[l]
        if prev_perm is not None:  # follow the previous layer's row permutation
            inv = np.empty_like(prev_perm)
            inv[prev_perm] = np.arange(prev_perm.size)
            cols = inv[cols]
        centroids, labels, info = share_weights(vals, opts.kmeans_iter)
        w_frac, cb = _choose_w_frac(centroids, labels, rows, n_out, biases[l], in_frac,
                                    opts.acc_width, name)
        codebook = np.zeros(CODEBOOK_SIZE, dtype=np.int64)
        codebook[1:1 + cb.size] = cb
        out_frac = min(fracs[l + 1], in_frac + w_frac)
        bias = None if biases[l] is None else \
            np.round(biases[l] * 2.0 ** (in_frac + w_frac)).astype(np.int64)
        perm = None
        if opts.balance and n_out > 1 and opts.n_pe > 1:
            perm = balance_rows(np.bincount(rows, minlength=n_out), opts.n_pe)
            inv = np.empty_like(perm)
            inv[perm] = np.arange(n_out)
            rows = inv[rows]
        entries, ptr = encode_layer(rows, cols, labels + 1, n_out, n_in, opts.n_pe)
        quantized = cb[labels] / 2.0 ** w_frac if vals.size else vals
        err = float(np.sqrt(np.mean((quantized - vals) ** 2)) /
                    max(np.sqrt(np.mean(vals ** 2)), 1e-300)) if vals.size else 0.0
        stats.append({"nnz": int(vals.size), "weights": int(n_out * n_in),
                      "codebook_mode": info["mode"], "wcss": info["wcss"],
                      "kmeans_iterations": info["iterations"], "rel_rms_error": err})
        layers.append(Layer(name=name, n_in=n_in, n_out=n_out, relu=relu[l], in_frac=in_frac,
                            w_frac=w_frac, out_frac=out_frac, codebook=codebook,
                            entries=entries, ptr=ptr, bias=bias, row_perm=perm))
        in_frac = out_frac
        prev_perm = perm

    hw = _size_hw(layers, opts)
    bundle = Bundle(hw, layers, {"compression": stats})
    bundle.check()
    return bundle


def _size_hw(layers, opts):
    n_pe = opts.n_pe
    probe = Bundle(HwConfig(n_pe=n_pe, spmat_words=1, ptr_depth=2, act_depth=1,
                            acc_width=opts.acc_width, fifo_depth=opts.fifo_depth), layers)
    need = {
        "spmat_words": max(1, probe.total_words),
        "ptr_depth": max(2, probe.total_ptrs + probe.total_ptrs % 2),
        "act_depth": max(-(-max(l.n_in, l.n_out) // n_pe) for l in layers),
        "bias_depth": probe.bias_rows,
    }
    sizes = {}
    for key, value in need.items():
        fixed = getattr(opts, key)
        sizes[key] = _pow2(value) if fixed is None else fixed
        if key == "bias_depth" and fixed is None and value == 0:
            sizes[key] = 0
    return HwConfig(n_pe=n_pe, acc_width=opts.acc_width, fifo_depth=opts.fifo_depth, **sizes)
