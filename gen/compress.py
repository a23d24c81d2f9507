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
   after permuting the rows so that every PE has the same share of the
   nonzeros, in total and along the columns (:func:`balance_rows`; off with
   ``balance=False``).
"""

import heapq
import math
import os
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..config import ACT_BITS, ACT_MAX, CODEBOOK_SIZE, WEIGHT_BITS, HwConfig
from ..errors import CapacityError, ModelError
from .bundle import Bundle, Layer
from .encode import column_lengths, encode_layer, local_rows
from .kmeans import kmeans_1d
from .model import LSTM, Model, default_relu, float_forward, is_lstm, load_model
from ..recurrent import FC_KIND, LSTM_KIND

__all__ = ["compress", "CompressOptions", "load_model", "prune", "keep_largest", "share_weights",
           "balance_rows", "default_row_perm", "hardware_rows", "DEFAULT_ACT_FRAC", "LSTM", "Model"]

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
    balance: bool = True
    acc_width: int = 48
    fifo_depth: int = 8
    spmat_words: int = None
    ptr_depth: int = None
    act_depth: int = None
    bias_depth: int = None
    names: list = None
    progress: object = None
    kmeans_iter: int = 300
    saturation_threshold: float = 0.001
    strict: bool = False


def _per_layer(value, n, what, default):
    if value is None:
        return [default] * n
    if np.isscalar(value):
        return [value] * n
    value = list(value)
    if len(value) != n:
        raise ModelError(f"{what}: {len(value)} values given for {n} layers"
                         + (" (and the input)" if "act_frac" in what else ""))
    return value


def _matrix(w, name, what, elem="weight"):
    """A weight matrix as given (dense array or canonical COO: duplicates summed,
    as SciPy means them, explicit zeros dropped), checked for shape, dtype and NaN."""
    if sp.issparse(w):
        w = sp.coo_matrix(w, copy=True)
        w.sum_duplicates()
        w.eliminate_zeros()
    else:
        try:
            w = np.asarray(w)
        except (ValueError, TypeError) as e:
            raise ModelError(f"layer {name}: {what} are not a rectangular array of numbers "
                             f"({e})") from None
    vals = w.data if sp.issparse(w) else w
    if len(w.shape) != 2 or 0 in w.shape:
        raise ModelError(f"layer {name}: {what} must be a non-empty 2-D array "
                         f"(out x in), got shape {w.shape}")
    if vals.dtype.kind not in "fiub":
        raise ModelError(f"layer {name}: {what} have non-numeric dtype {vals.dtype}")
    if vals.dtype.kind == "f" and not np.isfinite(vals).all():
        bad = np.argwhere(~np.isfinite(vals))[0]
        at = tuple(bad) if vals.ndim == 2 else (w.row[bad[0]], w.col[bad[0]])
        raise ModelError(f"layer {name}: {elem} [{at[0]}, {at[1]}] is {vals[tuple(bad)]}")
    big = np.abs(vals) >= _WEIGHT_MAX + 0.5
    if big.any():
        bad = np.argwhere(big)[0]
        at = tuple(bad) if vals.ndim == 2 else (w.row[bad[0]], w.col[bad[0]])
        raise ModelError(f"layer {name}: {elem} [{at[0]}, {at[1]}] = {vals[tuple(bad)]:g} does "
                         f"not fit an int16 codebook (|w| < {_WEIGHT_MAX + 0.5:g}); scale the "
                         f"layer down")
    return w


def _vector(b, n, name, what):
    try:
        b = np.asarray(b)
    except (ValueError, TypeError) as e:
        raise ModelError(f"layer {name}: {what} is not a vector of numbers ({e})") from None
    if b.shape != (n,) or b.dtype.kind not in "fiub":
        raise ModelError(f"layer {name}: {what} must be a vector of {n} numbers, "
                         f"got {b.dtype} {b.shape}")
    if not np.isfinite(b.astype(np.float64)).all():
        i = int(np.argmax(~np.isfinite(b.astype(np.float64))))
        raise ModelError(f"layer {name}: {what} [{i}] is {b[i]}")
    return b.astype(np.float64)


def _check_model(weights, biases, names):
    """Validate the layers.

    Returns, per layer, ``(kind, w, b, hidden)``: ``w`` a dense array or COO
    matrix, unconverted (an LSTM's ``[W_ih | W_hh]``), ``b`` the float64 bias
    or None (an LSTM's ``b_ih + b_hh``).
    """
    layers = []
    width = None        # outputs of the previous layer, as the next one reads them
    for l, w in enumerate(weights):
        name = names[l]
        if is_lstm(w):
            if biases[l] is not None:
                raise ModelError(f"layer {name}: an LSTM carries its biases (b_ih, b_hh); "
                                 f"its entry in biases must be None")
            w_ih = _matrix(w.w_ih, name, "LSTM weights W_ih", "W_ih")
            w_hh = _matrix(w.w_hh, name, "LSTM weights W_hh", "W_hh")
            hidden = w_hh.shape[1]
            if w_hh.shape != (4 * hidden, hidden):
                raise ModelError(f"layer {name}: W_hh must be 4H x H (gates i, f, g, o), got "
                                 f"shape {w_hh.shape}")
            if w_ih.shape[0] != 4 * hidden:
                raise ModelError(f"layer {name}: W_ih has {w_ih.shape[0]} rows, W_hh "
                                 f"{w_hh.shape[0]}: both must be 4H = {4 * hidden}")
            bias = None
            for b, what in ((w.b_ih, "b_ih"), (w.b_hh, "b_hh")):
                if b is not None:
                    b = _vector(b, 4 * hidden, name, what)
                    bias = b if bias is None else bias + b
            if sp.issparse(w_ih) or sp.issparse(w_hh):
                mat = sp.hstack([sp.coo_matrix(w_ih), sp.coo_matrix(w_hh)]).tocoo()
            else:
                mat = np.hstack([w_ih, w_hh])
            n_in, kind, out_width = w_ih.shape[1], LSTM_KIND, hidden
        else:
            mat = _matrix(w, name, "weights")
            if biases[l] is not None and np.ndim(biases[l]) == 1 and \
                    np.shape(biases[l])[0] == mat.shape[1] != mat.shape[0]:
                raise ModelError(f"layer {name}: bias has {mat.shape[1]} numbers, the weights "
                                 f"{mat.shape[0]} rows; weights are out x in: is this layer's "
                                 f"matrix (shape {mat.shape}) transposed?")
            bias = None if biases[l] is None else _vector(biases[l], mat.shape[0], name, "bias")
            hidden, n_in, kind, out_width = 0, mat.shape[1], FC_KIND, mat.shape[0]
        if l and n_in != width:
            hint = ""
            if kind == FC_KIND and mat.shape[0] == width:
                hint = f"; weights are out x in: is this layer's matrix {mat.shape} transposed?"
            raise ModelError(f"layer {name}: takes {n_in} inputs but layer {names[l - 1]} "
                             f"has {width} outputs{hint}")
        layers.append((kind, mat, bias, hidden))
        width = out_width
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
    value or one per layer, ``None`` for a layer that keeps its zeros) or of all
    weights together (``scope="global"``);
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
    densities = _per_layer(density, len(layers), "density (--density)", None)
    return [_to_coo(w, m > 0 if d is None else
                    keep_largest(m, int(round(float(d) * w.shape[0] * w.shape[1]))))
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
        with np.errstate(over="ignore"):
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


def _calibrate(coos, biases, kinds, relu, x):
    """Activation fractional bits from the float model's ranges on inputs ``x``.

    Returns ``len(layers) + 1`` values: the model input's, then each layer's
    output's (for an LSTM, its gate pre-activations').  An LSTM's input
    (``[a; h]``, ``|h| < 1``) and the layer in front of it share one scale.
    """
    x = np.asarray(x)
    if x.dtype.kind not in "fiu":
        raise ModelError(f"calibration inputs must be real numbers, got dtype {x.dtype}")
    x = x.astype(np.float64)
    recurrent = LSTM_KIND in kinds
    n_in = coos[0][3][1] - (coos[0][3][0] // 4 if kinds[0] == LSTM_KIND else 0)
    if x.ndim == 1 and not recurrent:
        x = x[None, :]
    if recurrent and x.ndim == 2:
        x = x[None]
    want = 3 if recurrent else 2
    if x.ndim != want or x.shape[-1] != n_in or 0 in x.shape:
        shape = f"(batch, T, {n_in}) or (T, {n_in})" if recurrent else f"(batch, {n_in})"
        raise ModelError(f"calibration inputs must have shape {shape}, got {x.shape}")
    if not np.isfinite(x).all():
        raise ModelError("calibration inputs contain NaN or inf")
    layers = [(k, sp.csr_matrix((v, (r, c)), shape=s), b)
              for k, (r, c, v, s), b in zip(kinds, coos, biases)]
    stats = []
    float_forward(layers, relu, x, collect=stats)
    peaks = [stats[0][0]] + [out for _, out in stats]
    for l, kind in enumerate(kinds):      # an LSTM's input includes h (|h| < 1)
        if kind == LSTM_KIND:
            peaks[l] = max(peaks[l], stats[l][0], 1.0)
    return [_frac_for(p) for p in peaks]


#: Column segments along which :func:`balance_rows` evens out the PEs' work.
BALANCE_SEGMENTS = 64
#: Rows :func:`balance_rows` tries to swap each row with, drawn at random from
#: the rows nearest it in nonzero count.
BALANCE_CANDIDATES = 256
#: Passes of swaps over all rows (fewer if a pass moves no row).
BALANCE_PASSES = 3


def hardware_rows(rows, perm):
    """``rows`` (the user's numbering) as hardware rows under ``perm``
    (``perm[r]`` = original row of hardware row ``r``; ``None``: the same)."""
    if perm is None:
        return rows
    inv = np.empty_like(perm)
    inv[perm] = np.arange(perm.size)
    return inv[rows]


def default_row_perm(rows, cols, n_out, n_in, n_pe):
    """The row permutation :func:`compress` records by default: that of
    :func:`balance_rows`, or ``None`` where there is nothing to permute or the
    user's order is the most even."""
    if n_out < 2 or n_pe < 2:
        return None
    perm = balance_rows(rows, cols, n_out, n_in, n_pe)
    return None if np.array_equal(perm, np.arange(n_out)) else perm


def balance_rows(rows, cols, n_out, n_in, n_pe, seed=0):
    """A row permutation that spreads the work of the nonzeros at ``(rows,
    cols)`` over the PEs evenly in total and along the columns.

    The broadcast sends the columns in order, and it stops whenever one PE's
    queue is full: a PE whose rows are dense in a stretch of columns holds every
    other PE up there, even if its total is the average.  So each PE should
    have the same share of the work in every prefix of the columns, not only
    in all of them.  The work of a PE is its entries, padding included.

    Three orders are weighed, and the one whose PEs' cumulative entries (the
    padding that order makes included) at ``BALANCE_SEGMENTS`` column
    boundaries lie nearest their mean, in squared distance, is returned:

    1. the user's order (hardware row ``r`` is row ``r``);
    2. longest processing time first on the rows' nonzero counts: rows go,
       largest first, to the PE with the fewest nonzeros that still has room
       (PE ``k`` keeps its number of local rows);
    3. order 2 improved by swaps of two rows of different PEs that lower the
       same distance, counted in nonzeros: each row, in a random order, takes
       the best of ``BALANCE_CANDIDATES`` partners drawn from the rows nearest
       it in nonzero count (so a PE keeps its mix of dense and sparse rows,
       and with it its padding), for at most ``BALANCE_PASSES`` passes.

    The last boundary is the total, so the totals stay balanced.  The random
    draws use ``seed``: the same layer gives the same permutation.  Returns
    ``perm`` with ``perm[r]`` = original row of hardware row ``r``.
    """
    rows = np.asarray(rows, dtype=np.int64)
    cols = np.asarray(cols, dtype=np.int64)
    n_seg = max(1, min(BALANCE_SEGMENTS, n_in))
    seg_of_col = np.arange(n_in) * n_seg // max(1, n_in)
    seg_start = np.searchsorted(seg_of_col, np.arange(n_seg))

    def spread(perm):
        """Squared distance of the PEs' cumulative entries from their mean."""
        lengths = column_lengths(hardware_rows(rows, perm), cols, n_in, n_pe)
        prefix = np.cumsum(np.add.reduceat(lengths, seg_start, axis=1), axis=1)
        return float(((prefix - prefix.mean(axis=0)) ** 2).sum())

    count = np.bincount(rows, minlength=n_out)
    pe = _lpt(count, n_pe)
    orders = [np.arange(n_out), _perm_of(pe, n_pe)]
    if rows.size:
        _prefix_swaps(pe, count, rows, seg_of_col[cols], n_seg, n_pe, seed)
        orders.append(_perm_of(pe, n_pe))
    return min(orders, key=spread)


def _lpt(count, n_pe):
    """PE of every row, longest processing time first on ``count``."""
    n_out = count.size
    room = [local_rows(n_out, n_pe, k) for k in range(n_pe)]
    heap = [(0, k) for k in range(n_pe) if room[k]]
    heapq.heapify(heap)
    pe = np.empty(n_out, dtype=np.int64)
    filled = [0] * n_pe
    for row in np.argsort(-count, kind="stable"):
        load, k = heapq.heappop(heap)
        pe[row] = k
        filled[k] += 1
        if filled[k] < room[k]:
            heapq.heappush(heap, (load + int(count[row]), k))
    return pe


def _prefix_swaps(pe, count, rows, segs, n_seg, n_pe, seed):
    """Swap rows between PEs (``pe`` in place) to even out their cumulative
    nonzeros at the segment boundaries (see :func:`balance_rows`)."""
    n_out = count.size
    prefix = np.zeros((n_out, n_seg))
    np.add.at(prefix, (rows, segs), 1)
    prefix = np.cumsum(prefix, axis=1)
    load = np.zeros((n_pe, n_seg))
    np.add.at(load, pe, prefix)
    mean = load.sum(axis=0) / n_pe
    by_count = np.argsort(count, kind="stable")
    rank = np.empty(n_out, dtype=np.int64)
    rank[by_count] = np.arange(n_out)
    n_cand = BALANCE_CANDIDATES
    rng = np.random.default_rng(seed)
    for _ in range(BALANCE_PASSES):
        moved = 0
        for a in rng.permutation(n_out):
            # Moving row a from PE p to PE q and row b from q to p shifts d = prefix[a] -
            # prefix[b] from p to q: the squared error changes by 2 d.(e_q - e_p) + 2 |d|^2.
            b = by_count[np.clip(rank[a] + rng.integers(-n_cand, n_cand + 1, size=n_cand),
                                 0, n_out - 1)]
            d = prefix[a] - prefix[b]
            err = load - mean
            gain = 2 * np.einsum("ij,ij->i", d, err[pe[b]] - err[pe[a]]) \
                + 2 * np.einsum("ij,ij->i", d, d)
            gain[pe[b] == pe[a]] = np.inf
            best = int(np.argmin(gain))
            if gain[best] < -1e-9:
                p, q = pe[a], pe[b[best]]
                load[p] -= d[best]
                load[q] += d[best]
                pe[a], pe[b[best]] = q, p
                moved += 1
        if not moved:
            break


def _perm_of(pe, n_pe):
    """The permutation that gives PE ``k`` the rows ``pe == k``, in their order."""
    perm = np.empty(pe.size, dtype=np.int64)
    for k in range(n_pe):
        mine = np.flatnonzero(pe == k)
        perm[np.arange(mine.size) * n_pe + k] = mine
    return perm


def _integer(value, what, lo, hi, none_ok=False):
    """``value`` as an int (NumPy integers accepted) in ``[lo, hi]``."""
    if value is None and none_ok:
        return None
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise ModelError(f"{what} must be an integer, not {value!r}")
    if not lo <= value <= hi:
        raise ModelError(f"{what}={value} is out of range [{lo}, {hi}]")
    return int(value)


def _normalized(opts):
    """A copy of ``opts`` with numbers checked (NumPy scalars taken as numbers)."""
    import dataclasses
    if not isinstance(opts, CompressOptions):
        raise ModelError(f"options must be a CompressOptions, not {type(opts).__name__}")
    ints = {"n_pe": ("n_pe (--pes)", 1, 1024, False),
            "acc_width": ("acc_width (--acc-width)", 33, 64, False),
            "fifo_depth": ("fifo_depth (--fifo-depth)", 1, 1024, False),
            "spmat_words": ("spmat_words (--spmat-words)", 1, 1 << 24, True),
            "ptr_depth": ("ptr_depth (--ptr-depth)", 2, 1 << 24, True),
            "act_depth": ("act_depth (--act-depth)", 1, 1 << 20, True),
            "bias_depth": ("bias_depth (--bias-depth)", 0, 1 << 20, True),
            "kmeans_iter": ("kmeans_iter", 1, 1 << 20, False)}
    changes = {key: _integer(getattr(opts, key), *spec) for key, spec in ints.items()}
    density = opts.density
    if density is not None:
        if isinstance(density, (list, tuple, np.ndarray)):
            density = [None if d is None else _fraction(d) for d in density]
        else:
            density = _fraction(density)
    changes["density"] = density
    if opts.prune_scope not in ("layer", "global"):
        raise ModelError(f"prune_scope must be 'layer' or 'global', not {opts.prune_scope!r}")
    if opts.names is not None:
        names = list(opts.names) if not isinstance(opts.names, str) else [opts.names]
        if not all(isinstance(n, str) and n for n in names):
            raise ModelError("names (--names) must be non-empty strings")
        changes["names"] = names
    try:
        threshold = float(opts.saturation_threshold)
    except (TypeError, ValueError):
        threshold = -1.0
    if not 0 <= threshold <= 1:
        raise ModelError(f"saturation_threshold must be in [0, 1], not "
                         f"{opts.saturation_threshold!r}")
    return dataclasses.replace(opts, **changes)


def _fraction(d):
    if isinstance(d, (bool, np.bool_)) or not isinstance(d, (int, float, np.integer,
                                                              np.floating)) \
            or not 0 < float(d) <= 1:
        raise ModelError(f"density (--density) {d!r} must be in (0, 1]")
    return float(d)


def _pow2(n):
    return 1 << max(0, int(n) - 1).bit_length()


def compress(weights, biases=None, options=None, **kw):
    """Compress float layers into a :class:`~eie.gen.bundle.Bundle`.

    Parameters
    ----------
    weights : list, Model or path
        Layer weights, each ``out x in`` (array or SciPy sparse matrix) or an
        :class:`~eie.gen.model.LSTM`; consecutive layers must chain.  A
        :class:`~eie.gen.model.Model` (from :func:`load_model`) or a model
        file's path brings its biases, ReLU placement and names along.
    biases : list of array_like or None, optional
        Per layer bias (float) or ``None`` (``None`` for an LSTM, which
        carries its own).
    options : CompressOptions, optional
        Or pass its fields as keyword arguments.

    Returns
    -------
    Bundle
        The checked bundle; ``bundle.meta["compression"]`` holds per-layer
        statistics for :mod:`eie.gen.report`.
    """
    if options is not None and kw:
        raise ModelError("compress(): pass either options or keyword arguments, not both")
    try:
        opts = options or CompressOptions(**kw)
    except TypeError:
        known = set(CompressOptions.__dataclass_fields__)
        bad = sorted(k for k in kw if k not in known)
        raise ModelError(f"compress(): unknown argument {', '.join(bad)} (known: "
                         f"{', '.join(sorted(known))})") from None
    opts = _normalized(opts)
    if isinstance(weights, (str, os.PathLike)):
        weights = load_model(weights)
    given = weights if isinstance(weights, Model) else None
    if given is not None:
        weights, biases = (given.weights, given.biases if biases is None else biases)
    weights = list(weights)
    n = len(weights)
    if n == 0:
        raise ModelError("the model has no layers")
    biases = list(biases) if biases is not None else [None] * n
    if len(biases) != n:
        raise ModelError(f"{len(biases)} biases for {n} layers")
    names = list(opts.names) if opts.names else (
        given.names if given is not None and given.names else
        [f"{LSTM_KIND if is_lstm(w) else FC_KIND}{l + 1}" for l, w in enumerate(weights)])
    if len(names) != n:
        raise ModelError(f"{len(names)} layer names for {n} layers")
    checked = _check_model(weights, biases, names)
    kinds = [k for k, _, _, _ in checked]
    if opts.relu is not None:
        relu = [bool(r) for r in _per_layer(opts.relu, n, "relu (--relu)", None)]
    elif given is not None and given.relu is not None:
        relu = [bool(r) for r in given.relu]
    else:
        relu = default_relu(kinds)
    for l, k in enumerate(kinds):
        if k == LSTM_KIND and relu[l]:
            raise ModelError(f"layer {names[l]}: an LSTM layer has no ReLU (its output goes "
                             f"through the gates)")
    biases = [b for _, _, b, _ in checked]
    coos = prune([w for _, w, _, _ in checked], opts.density, opts.prune_scope)
    hiddens = [h for _, _, _, h in checked]
    del checked

    if opts.act_frac is not None and opts.calibration is not None:
        raise ModelError("act_frac (--act-frac) and calibration (--calibrate) exclude each "
                         "other: give fixed fractional bits or inputs to choose them from")
    if opts.act_frac is not None:
        fracs = _per_layer(opts.act_frac, n + 1, "act_frac (--act-frac)", None) \
            if not np.isscalar(opts.act_frac) else [opts.act_frac] * (n + 1)
        for f in fracs:
            if isinstance(f, (bool, np.bool_)) or not isinstance(f, (int, np.integer)) or \
                    not 0 <= f <= ACT_BITS - 1:
                raise ModelError(f"act_frac (--act-frac) {f!r} must be an integer in "
                                 f"[0, {ACT_BITS - 1}]")
        fracs = [int(f) for f in fracs]
    elif opts.calibration is not None:
        fracs = _calibrate(coos, biases, kinds, relu, opts.calibration)
    else:
        fracs = [DEFAULT_ACT_FRAC] * (n + 1)

    progress = opts.progress or (lambda it, **_: it)
    layers, stats = [], []
    in_frac = fracs[0]
    prev_perm = None
    for l in progress(range(n), description="compress", total=n):
        rows, cols, vals, (n_out, n_in) = coos[l]
        name = names[l]
        lstm = kinds[l] == LSTM_KIND
        if prev_perm is not None:  # follow the previous layer's row permutation
            x_part = cols < prev_perm.size      # an LSTM's h columns keep their order
            cols = np.where(x_part, hardware_rows(np.minimum(cols, prev_perm.size - 1),
                                                  prev_perm), cols)
        centroids, labels, info = share_weights(vals, opts.kmeans_iter)
        w_frac, cb = _choose_w_frac(centroids, labels, rows, n_out, biases[l], in_frac,
                                    opts.acc_width, name)
        codebook = np.zeros(CODEBOOK_SIZE, dtype=np.int64)
        codebook[1:1 + cb.size] = cb
        out_frac = min(fracs[l + 1], in_frac + w_frac)
        bias = None if biases[l] is None else \
            np.round(biases[l] * 2.0 ** (in_frac + w_frac)).astype(np.int64)
        perm = default_row_perm(rows, cols, n_out, n_in, opts.n_pe) if opts.balance else None
        rows = hardware_rows(rows, perm)
        entries, ptr = encode_layer(rows, cols, labels + 1, n_out, n_in, opts.n_pe)
        quantized = cb[labels] / 2.0 ** w_frac if vals.size else vals
        err = float(np.sqrt(np.mean((quantized - vals) ** 2)) /
                    max(np.sqrt(np.mean(vals ** 2)), 1e-300)) if vals.size else 0.0
        stats.append({"nnz": int(vals.size), "weights": int(n_out * n_in),
                      "codebook_mode": info["mode"], "wcss": info["wcss"],
                      "kmeans_iterations": info["iterations"], "rel_rms_error": err})
        layers.append(Layer(name=name, n_in=n_in, n_out=n_out, relu=relu[l], in_frac=in_frac,
                            w_frac=w_frac, out_frac=out_frac, codebook=codebook,
                            entries=entries, ptr=ptr, bias=bias, row_perm=perm,
                            kind=kinds[l], hidden=hiddens[l]))
        if not lstm:    # after an LSTM, the next layer reads h at the LSTM's in_frac
            in_frac = out_frac
        prev_perm = None if lstm else perm    # the host hands h on in its natural order

    hw = _size_hw(layers, opts)
    bundle = Bundle(hw, layers, {"compression": stats})
    bundle.check()
    if opts.calibration is not None:
        bundle.meta["calibration_saturation"] = _calibration_saturation(bundle, opts)
    return bundle


def _calibration_saturation(bundle, opts):
    """Values that saturate when the compressed model runs the calibration
    inputs (golden model); warns or refuses as :func:`eie.api.check_saturation`."""
    from ..api import check_saturation
    from ..sim import golden
    stats = golden.saturation_stats(bundle)
    codes, _ = golden.quantize_input(bundle, opts.calibration, what="calibration inputs",
                                     stats=stats[0])
    if bundle.recurrent:
        golden.forward_sequence(bundle, codes, stats)
    else:
        golden.forward(bundle, codes, stats)
    return check_saturation(stats, opts.saturation_threshold, opts.strict)


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
