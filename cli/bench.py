"""Benchmarks behind ``eie bench`` (figures measured in one run on this machine).

Every figure is measured when the command runs; nothing is typed in but the
paper's own numbers (Tables 3 and 4 of Han et al., ``shared/seeds/004_*.txt``),
which are shown next to ours for comparison.

Suites:

``compiler``
    Deep Compression of the paper's VGG-6 layer for 64 PEs: compress, store,
    load, golden and cycle models, k-means next to scikit-learn's.
``table3``
    The nine Table 3 layers (synthetic weights and activations at the table's
    densities, 64 PEs): cycles (cycle model, which the RTL matches), cycles
    over ideal against the paper's actual over theoretical time, the time at
    the paper's 800 MHz and at the routed FPGA Fmax, and NumPy dense and SciPy
    sparse on this CPU.
``loadbalance``
    The paper's load-balance studies on the same layers: speedup, load
    efficiency and padding vs PE count (1..256), load efficiency vs FIFO depth
    (1..256).
``rowperm``
    The offline row permutation (``eie compress``'s default; ``--no-balance``
    turns it off; DESIGN §3 ``row_perm``) on skewed and uniform matrices.
``kmeans``
    Our 1-D k-means next to scikit-learn's ``KMeans`` on the nine layers.
``rtl``
    Table 3 layers at full size in Verilator, against the cycle model.
``fpga``
    ``eie synth`` for the ULX3S at several PE counts (``--record`` stores
    the builds as the package's reference Fmax).
"""

import os
import platform
import tempfile
import time

import numpy as np

from .api import simulate
from .config import HwConfig
from .errors import EieError
from .gen import Bundle, compress
from .gen.compress import default_row_perm, hardware_rows, prune
from .gen.encode import column_lengths
from .gen.kmeans import kmeans_1d, linear_init
from .sim import cycle_model, golden

__all__ = ["bench_compiler", "bench_table3", "bench_loadbalance", "bench_rowperm",
           "bench_kmeans", "bench_rtl", "bench_fpga", "machine_info", "SUITES"]

VGG6 = {"name": "VGG-6", "n_in": 25088, "n_out": 4096, "density": 0.04, "act_density": 0.183}


def machine_info():
    """The machine the figures were measured on."""
    info = {"python": platform.python_version(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "numpy": np.__version__}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return info


def _timed(fn, *args, **kw):
    t0 = time.perf_counter()
    result = fn(*args, **kw)
    return result, time.perf_counter() - t0


def _kmeans_pair(values, sklearn=True, log=print):
    """Our 1-D k-means and scikit-learn's ``KMeans`` (Lloyd, the same linear
    initialisation, one run, run to convergence with ``tol=0`` like ours) on
    ``values``: time, WCSS, iterations."""
    res = {"values": int(values.size)}
    (_, _, wcss, iters), res["kmeans_s"] = _timed(kmeans_1d, values, 15)
    res.update(kmeans_wcss=float(wcss), kmeans_iterations=int(iters))
    log(f"  1-D k-means (ours): {res['kmeans_s']:.2f} s, WCSS {wcss:.6g}, {iters} iterations")
    if sklearn:
        from sklearn.cluster import KMeans
        km = KMeans(n_clusters=15, init=linear_init(values, 15).reshape(-1, 1), n_init=1,
                    max_iter=300, algorithm="lloyd", tol=0)
        _, res["sklearn_s"] = _timed(km.fit, values.reshape(-1, 1))
        res.update(sklearn_wcss=float(km.inertia_), sklearn_iterations=int(km.n_iter_))
        log(f"  scikit-learn KMeans: {res['sklearn_s']:.2f} s, WCSS {km.inertia_:.6g}, "
            f"{km.n_iter_} iterations (ours {res['sklearn_s'] / res['kmeans_s']:.0f}x faster, "
            f"WCSS ratio {wcss / km.inertia_:.6f})")
    return res


def bench_compiler(layer=VGG6, n_pe=64, sklearn=True, log=print):
    """Compress, store, load and run one synthetic layer; returns the figures."""
    rng = np.random.default_rng(0)
    log(f"{layer['name']}: {layer['n_out']} x {layer['n_in']} float32 weights, "
        f"{layer['density']:.1%} kept, {n_pe} PEs")
    w = rng.standard_normal((layer["n_out"], layer["n_in"]), dtype=np.float32)
    w *= np.float32(1 / np.sqrt(layer["n_in"]))
    res = {"layer": layer["name"], "n_in": layer["n_in"], "n_out": layer["n_out"],
           "density": layer["density"], "n_pe": n_pe}
    bundle, res["compress_s"] = _timed(compress, [w], None, n_pe=n_pe, density=layer["density"])
    res["nnz"] = bundle.meta["compression"][0]["nnz"]
    log(f"  compress: {res['compress_s']:.2f} s ({res['nnz']} nonzeros)")
    with tempfile.TemporaryDirectory() as tmp:
        _, res["save_s"] = _timed(bundle.save, tmp)
        bundle, res["load_s"] = _timed(Bundle.load, tmp)
    log(f"  save: {res['save_s']:.2f} s, load and check: {res['load_s']:.2f} s")

    x = np.where(rng.random(layer["n_in"]) < layer["act_density"],
                 np.abs(rng.normal(0, 1, layer["n_in"])) + 0.01, 0.0)
    (_, report), res["simulate_s"] = _timed(simulate, bundle, x)
    res["cycles"] = report["cycles"]
    res["ideal_cycles"] = report["layers"][0]["ideal"]
    log(f"  golden + cycle model: {res['simulate_s']:.2f} s ({res['cycles']} cycles, "
        f"{res['cycles'] / res['ideal_cycles']:.3f} x ideal)")

    values = prune([w], layer["density"])[0][2]
    del w
    res.update(_kmeans_pair(values, sklearn, log))
    return res


#: Table 3 of the EIE paper (``shared/seeds/004_*.txt``): layer, inputs, outputs,
#: weight density, activation density; and Table 4's EIE actual / theoretical time
#: (us), whose ratio is the paper's cycles over ideal.
TABLE3 = [
    ("Alex-6", 9216, 4096, 0.09, 0.351, 30.3, 28.1),
    ("Alex-7", 4096, 4096, 0.09, 0.353, 12.2, 11.7),
    ("Alex-8", 4096, 1000, 0.25, 0.375, 9.9, 8.9),
    ("VGG-6", 25088, 4096, 0.04, 0.183, 34.4, 28.1),
    ("VGG-7", 4096, 4096, 0.04, 0.375, 8.7, 7.9),
    ("VGG-8", 4096, 1000, 0.23, 0.411, 8.4, 7.3),
    ("NT-We", 4096, 600, 0.10, 1.0, 8.0, 5.2),
    ("NT-Wd", 600, 8791, 0.11, 1.0, 13.9, 13.0),
    ("NT-LSTM", 1201, 2400, 0.10, 1.0, 7.5, 6.5),
]


#: Table 4 of the paper, batch 1: Core i7-5930k dense and sparse time (us) per layer.
PAPER_CPU = {
    "Alex-6": (7516.2, 3066.5), "Alex-7": (6187.1, 1282.1), "Alex-8": (1134.9, 890.5),
    "VGG-6": (35022.8, 3774.3), "VGG-7": (5372.8, 545.1), "VGG-8": (774.2, 777.3),
    "NT-We": (605.0, 261.2), "NT-Wd": (1361.4, 437.4), "NT-LSTM": (470.5, 260.0),
}
#: The paper's clock.
PAPER_MHZ = 800
PE_COUNTS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
FIFO_DEPTHS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def synthetic_layer(rng, n_in, n_out, density, act_density, n_pe, fifo_depth=8, scale=1,
                    **memories):
    """A random layer at the given densities, compressed, and one input for it."""
    n_in, n_out = max(1, n_in // scale), max(1, n_out // scale)
    w = rng.standard_normal((n_out, n_in), dtype=np.float32) * np.float32(1 / np.sqrt(n_in))
    bundle = compress([w], None, n_pe=n_pe, density=density, fifo_depth=fifo_depth, **memories)
    x = np.where(rng.random(n_in) < act_density, np.abs(rng.normal(0, 1, n_in)) + 0.05, 0.0)
    return bundle, x


def _median_time(fn, min_total=0.2, max_reps=200):
    """Median wall time of ``fn()`` over repeats (at least 3, about ``min_total`` s)."""
    times = []
    while len(times) < 3 or (sum(times) < min_total and len(times) < max_reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def _cpu_baselines(bundle, x):
    """NumPy dense and SciPy CSR matrix-vector time (float32, batch 1) of the
    pruned layer on this CPU."""
    import scipy.sparse as sp

    layer = bundle.layers[0]
    rows, cols, vals = layer.coo()
    weights = np.asarray(layer.codebook, dtype=np.float32)[vals]
    csr = sp.csr_matrix((weights, (rows, cols)), shape=(layer.n_out, layer.n_in))
    dense = csr.toarray()
    xv = np.asarray(x, dtype=np.float32)
    return {"numpy_dense_us": 1e6 * _median_time(lambda: dense @ xv),
            "scipy_sparse_us": 1e6 * _median_time(lambda: csr @ xv)}


def _compiled_rows(rows, cols, n_in, n_out, n_pe):
    """``rows`` (the user's order) in the hardware order ``eie compress`` gives
    them by default on ``n_pe`` PEs."""
    return hardware_rows(rows, default_row_perm(rows, cols, n_out, n_in, n_pe))


def _layer_cycles_at(rows, cols, n_in, n_out, act, n_pe, fifo_depth=8):
    """Cycle model of a layer with nonzeros at ``(rows, cols)`` (hardware rows)
    on ``n_pe`` PEs."""
    layer = _Lengths(n_in, n_out, column_lengths(rows, cols, n_in, n_pe))
    hw = HwConfig(n_pe=n_pe, spmat_words=1, ptr_depth=2, act_depth=1, fifo_depth=fifo_depth)
    return cycle_model.layer_cycles(layer, hw, act)


class _Lengths:
    """The parts of a bundle layer the cycle model reads (sizes, column lengths)."""

    def __init__(self, n_in, n_out, col_lengths, name="layer"):
        self.n_in, self.n_out, self.col_lengths, self.name = n_in, n_out, col_lengths, name


def fpga_reference(fpga=None, log=print):
    """The routed build to project at: this run's ``fpga`` suite, else the record."""
    from .gen.fpga import measured_fmax, median_build

    if fpga and fpga.get("builds"):
        builds = [b for b in fpga["builds"] if b.get("fmax_mhz")]
        source = "measured in this run"
    else:
        # The record's largest build (measured_fmax picks the largest <= n_pe).
        rec = measured_fmax(1 << 20)
        builds = [rec] if rec else []
        source = f"recorded build ({rec['date']})" if rec else None
    if not builds:
        log("  no routed FPGA build recorded: run eie bench --suite fpga --record")
        return None
    best = median_build(builds)
    return {"n_pe": best["n_pe"], "fmax_mhz": best["fmax_mhz"], "source": source,
            "seeds_mhz": best["seeds_mhz"], "timing_met": best.get("timing_met", True)}


def bench_table3(n_pe=64, fifo_depth=8, quick=False, fpga=None, cpu=True, log=print):
    """Table 3 layers: cycles vs ideal (cycle model = RTL) and vs the paper, time at
    800 MHz and at the routed FPGA Fmax, NumPy/SciPy on this CPU."""
    rng = np.random.default_rng(0)
    scale = 16 if quick else 1
    ref = fpga_reference(fpga, log)
    rows = []
    log(f"Table 3 layers, {n_pe} PEs, FIFO depth {fifo_depth}"
        + (" (1/16 size)" if quick else ""))
    for name, n_in, n_out, wd, ad, actual, theory in TABLE3:
        bundle, x = synthetic_layer(rng, n_in, n_out, wd, ad, n_pe, fifo_depth, scale)
        _, report = simulate(bundle, x)
        layer = report["layers"][0]
        ratio = report["cycles"] / layer["ideal"] if layer["ideal"] else float("nan")
        paper = actual / theory
        # The static floor (the busiest PE's entries in the active columns), and
        # two studies of the cycle model: two broadcasts per cycle, and empty
        # columns taking no credit.
        codes = golden.quantize_input(bundle, x)[0][0]
        one = cycle_model.layer_cycles(bundle.layers[0], bundle.hw, codes)
        two = cycle_model.layer_cycles(bundle.layers[0], bundle.hw, codes, broadcasts=2)
        skip = cycle_model.layer_cycles(bundle.layers[0], bundle.hw, codes,
                                        empty_skips_credit=True)
        floor = float(one.work.max() / one.ideal) if one.ideal else float("nan")
        ratio_two, ratio_skip = ((m.cycles + cycle_model.RUN_OVERHEAD) / one.ideal
                                 if one.ideal else float("nan") for m in (two, skip))
        row = {"layer": name, "n_in": bundle.n_in, "n_out": bundle.n_out,
               "weight_density": wd, "act_density": ad, "cycles": report["cycles"],
               "ideal": layer["ideal"], "ratio": ratio, "paper_ratio": paper,
               "floor": floor, "ratio_two_broadcasts": ratio_two,
               "ratio_empty_skips_credit": ratio_skip,
               "beats_paper": bool(ratio < paper),
               "us_at_800mhz": report["cycles"] / PAPER_MHZ, "paper_actual_us": actual,
               "paper_cpu_dense_us": PAPER_CPU[name][0],
               "paper_cpu_sparse_us": PAPER_CPU[name][1]}
        if ref is not None:
            # The same layer as the compiler lays it out for the build's PEs.
            compiled = bundle.layers[0]
            rws, cls, _ = compiled.coo()
            if compiled.row_perm is not None:      # back to the user's rows
                rws = compiled.row_perm[rws]
            rws = _compiled_rows(rws, cls, bundle.n_in, bundle.n_out, ref["n_pe"])
            fc = _layer_cycles_at(rws, cls, bundle.n_in, bundle.n_out, codes, ref["n_pe"],
                                  fifo_depth)
            row.update(fpga_pes=ref["n_pe"], fpga_mhz=ref["fmax_mhz"], fpga_cycles=fc.cycles,
                       fpga_us=fc.cycles / ref["fmax_mhz"])
        if cpu:
            row.update(_cpu_baselines(bundle, x))
            row["numpy_over_eie800"] = row["numpy_dense_us"] / row["us_at_800mhz"]
            row["scipy_over_eie800"] = row["scipy_sparse_us"] / row["us_at_800mhz"]
            if ref is not None:
                row["scipy_over_fpga"] = row["scipy_sparse_us"] / row["fpga_us"]
        rows.append(row)
        extra = ""
        if cpu:
            extra = (f"; {row['us_at_800mhz']:.1f} us at 800 MHz vs NumPy "
                     f"{row['numpy_dense_us']:.0f} us, SciPy {row['scipy_sparse_us']:.0f} us")
        log(f"  {name:8s} {report['cycles']:8d} cycles, ideal {layer['ideal']:10.1f}: "
            f"{ratio:.3f} x (floor {floor:.3f}, two broadcasts {ratio_two:.3f}, empty skips "
            f"credit {ratio_skip:.3f}; paper "
            f"{paper:.3f}) {'ok' if ratio < paper else 'WORSE'}{extra}")
    ratios = [r["ratio"] for r in rows]
    return {"n_pe": n_pe, "fifo_depth": fifo_depth, "quick": quick, "fpga": ref,
            "layers": rows, "geomean_ratio": float(np.exp(np.mean(np.log(ratios))))}


def _random_pattern(rng, n_in, n_out, density):
    """Coordinates of ``round(density * n_out * n_in)`` distinct random positions."""
    total = n_in * n_out
    k = int(round(density * total))
    picks = np.unique(rng.integers(0, total, size=int(k * 1.1) + 16))
    while picks.size < k:
        picks = np.union1d(picks, rng.integers(0, total, size=k))
    picks = rng.permutation(picks)[:k]
    return picks // n_in, picks % n_in


def bench_loadbalance(quick=False, pe_counts=PE_COUNTS, fifo_depths=FIFO_DEPTHS, log=print):
    """Speedup, load efficiency and padding vs PE count (FIFO 8), load efficiency
    vs FIFO depth (64 PEs), on the Table 3 layers (cycle model), with the rows in
    the order ``eie compress`` gives them by default for each PE count.

    Load efficiency is ideal over compute cycles: the fraction of cycles the
    average PE's arithmetic unit is busy (the paper's Figure 13 measures the
    stalled fraction of ALU cycles).
    """
    rng = np.random.default_rng(1)
    scale = 16 if quick else 1
    out = {"pe_counts": list(pe_counts), "fifo_depths": list(fifo_depths), "quick": quick,
           "layers": []}
    log("Load balance (cycle model): PEs " + ",".join(map(str, pe_counts))
        + "; FIFO depths " + ",".join(map(str, fifo_depths)) + " at 64 PEs")
    for name, n_in, n_out, wd, ad, _, _ in TABLE3:
        n_in, n_out = max(1, n_in // scale), max(1, n_out // scale)
        rws, cls = _random_pattern(rng, n_in, n_out, wd)
        act = (rng.random(n_in) < ad).astype(np.int64)
        hw_rows = {n: _compiled_rows(rws, cls, n_in, n_out, n) for n in {*pe_counts, 64}}
        by_pe = [_layer_cycles_at(hw_rows[n], cls, n_in, n_out, act, n) for n in pe_counts]
        by_fifo = [_layer_cycles_at(hw_rows[64], cls, n_in, n_out, act, 64, f)
                   for f in fifo_depths]
        nnz_active = int(np.count_nonzero(act[cls]))
        row = {
            "layer": name,
            "cycles": [c.cycles for c in by_pe],
            "speedup": [by_pe[0].cycles / c.cycles for c in by_pe],
            "load_efficiency": [c.ideal / c.compute_cycles for c in by_pe],
            "padding": [(int(c.work.sum()) - nnz_active) / max(1, nnz_active) for c in by_pe],
            "fifo_load_efficiency": [c.ideal / c.compute_cycles for c in by_fifo],
        }
        out["layers"].append(row)
        log(f"  {name:8s} speedup at {pe_counts[-1]} PEs {row['speedup'][-1]:.1f}x, load "
            f"efficiency {row['load_efficiency'][0]:.2f}..{row['load_efficiency'][-1]:.2f}; "
            f"FIFO {fifo_depths[0]}: {row['fifo_load_efficiency'][0]:.2f}, "
            f"{fifo_depths[-1]}: {row['fifo_load_efficiency'][-1]:.2f}")
    return out


def _skewed_layer(rng, n_in, n_out, density, kind):
    """Float weights whose rows have very different densities (mean ``density``).

    ``lognormal``: each row's density drawn from a log-normal (sigma 1.5);
    ``periodic``: rows ``i`` with ``i % 64 < 8`` are 8 times denser than the
    others (the interleaving puts them all on the same 8 of 64 PEs).
    """
    if kind == "lognormal":
        d = rng.lognormal(0, 1.5, n_out)
    else:
        d = np.where(np.arange(n_out) % 64 < 8, 8.0, 1.0)
    d = np.minimum(1.0, d * density / d.mean())
    w = np.zeros((n_out, n_in), dtype=np.float32)
    for i in range(n_out):
        k = int(round(d[i] * n_in))
        cols = rng.choice(n_in, k, replace=False)
        w[i, cols] = rng.standard_normal(k).astype(np.float32) / np.sqrt(n_in)
    return w


def bench_rowperm(n=4096, density=0.09, act_density=0.35, n_pe=64, quick=False, log=print):
    """Cycles and compile time without (``--no-balance``) and with (the default)
    the offline row permutation on skewed and uniform matrices; the outputs must
    be identical (the permutation is undone by the host reader)."""
    rng = np.random.default_rng(2)
    if quick:
        n = n // 4
    res = []
    log(f"Row permutation (default; --no-balance) on {n}x{n} layers, {density:.0%} weights, "
        f"{act_density:.0%} activations, {n_pe} PEs")
    for kind in ("lognormal", "periodic", "uniform"):
        if kind == "uniform":
            w = rng.standard_normal((n, n)).astype(np.float32)
            w[rng.random((n, n)) >= density] = 0
        else:
            w = _skewed_layer(rng, n, n, density, kind)
        x = np.where(rng.random(n) < act_density, np.abs(rng.normal(0, 1, n)) + 0.05, 0.0)
        row = {"kind": kind}
        outputs = []
        for balance in (False, True):
            bundle, seconds = _timed(compress, [w], None, n_pe=n_pe, balance=balance)
            y, rep = simulate(bundle, x)
            key = "balanced" if balance else "plain"
            row[f"{key}_cycles"] = rep["cycles"]
            row[f"{key}_ideal"] = rep["layers"][0]["ideal"]
            row[f"{key}_compress_s"] = seconds
            outputs.append(y)
        row["speedup"] = row["plain_cycles"] / row["balanced_cycles"]
        row["same_output"] = bool(np.array_equal(outputs[0], outputs[1]))
        res.append(row)
        log(f"  {kind:9s} {row['plain_cycles']:6d} -> {row['balanced_cycles']:6d} cycles "
            f"({row['speedup']:.2f}x; ideal {row['balanced_ideal']:.0f}; compress "
            f"{row['plain_compress_s']:.1f} -> {row['balanced_compress_s']:.1f} s), outputs "
            f"identical: {row['same_output']}")
    return {"n": n, "density": density, "act_density": act_density, "n_pe": n_pe,
            "matrices": res}


def bench_kmeans(quick=False, sklearn=True, log=print):
    """Our 1-D k-means next to scikit-learn's on the pruned Table 3 layers."""
    rng = np.random.default_rng(3)
    scale = 16 if quick else 1
    res = []
    log("k-means (15 clusters) on the pruned Table 3 layers")
    for name, n_in, n_out, wd, _, _, _ in TABLE3:
        n_in, n_out = max(1, n_in // scale), max(1, n_out // scale)
        w = rng.standard_normal((n_out, n_in), dtype=np.float32) * np.float32(1 / np.sqrt(n_in))
        values = prune([w], wd)[0][2]
        del w
        log(f" {name}: {values.size} nonzeros")
        res.append({"layer": name, **_kmeans_pair(values, sklearn, log)})
    return {"layers": res}


def bench_rtl(layers=("NT-We", "NT-LSTM"), n_pe=64, sim="verilator", quick=False, log=print):
    """Table 3 layers at full size on the generated Verilog (one build for all,
    the model loaded through the host port): cycles and outputs against the
    cycle and golden models."""
    rng = np.random.default_rng(4)
    scale = 16 if quick else 1
    specs = [t for t in TABLE3 if t[0] in layers]
    if len(specs) != len(layers):
        raise EieError(f"unknown Table 3 layer in {', '.join(layers)}")
    made = [synthetic_layer(rng, n_in, n_out, wd, ad, n_pe, scale=scale)
            for _, n_in, n_out, wd, ad, _, _ in specs]
    # One hardware configuration that holds every layer: a single build.
    keys = ("spmat_words", "ptr_depth", "act_depth")
    common = {k: max(getattr(b.hw, k) for b, _ in made) for k in keys}
    rng = np.random.default_rng(4)
    made = [synthetic_layer(rng, n_in, n_out, wd, ad, n_pe, scale=scale, **common)
            for _, n_in, n_out, wd, ad, _, _ in specs]
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        old = os.environ.get("EIE_CACHE_DIR")
        os.environ["EIE_CACHE_DIR"] = cache      # a cold build: the first time includes it
        try:
            for (name, *_), (bundle, x) in zip(specs, made):
                golden_y, model = simulate(bundle, x)
                (y, report), seconds = _timed(simulate, bundle, x, sim=sim)
                row = {"layer": name, "n_in": bundle.n_in, "n_out": bundle.n_out,
                       "n_pe": n_pe, "sim": sim, "seconds": seconds,
                       "cycles": report["cycles"], "model_cycles": model["cycles"],
                       "entries": model["layers"][0]["entries"],
                       "golden_match": report["golden_match"]
                       and bool(np.array_equal(y, golden_y)),
                       "cycle_model_match": report["cycle_model_match"]}
                rows.append(row)
                log(f"  RTL {sim}: {name} {bundle.n_out}x{bundle.n_in} on {n_pe} PEs: "
                    f"{seconds:.1f} s{' including the build' if len(rows) == 1 else ''}; "
                    f"{row['cycles']} cycles (cycle model {row['model_cycles']}), golden "
                    f"match {row['golden_match']}")
        finally:
            if old is None:
                del os.environ["EIE_CACHE_DIR"]
            else:
                os.environ["EIE_CACHE_DIR"] = old
    return {"hw": {"n_pe": n_pe, **common}, "layers": rows}


def bench_fpga(pes=(1, 2, 4, 8), board="ulx3s-85f", build_root="build/bench-fpga",
               record=False, log=print):
    """Routed builds (``eie synth``'s flow, the board's memories) at several PE counts.

    ``pes`` holds PE counts, or ``(n_pe, seed)`` pairs for other placement seeds
    than 1.
    """
    import datetime
    import subprocess

    from .gen.fpga import board_hw, record_builds, synthesize

    builds = []
    for item in pes:
        n, seed = item if isinstance(item, tuple) else (item, 1)
        hw = board_hw(board, n)
        log(f"  synth {n} PE{'s' if n > 1 else ''}, seed {seed} ({hw.spmat_words} words, "
            f"{hw.ptr_depth} pointers, {hw.act_depth} activations per PE)...")
        rep = synthesize(board, hw, os.path.join(build_root, f"{n}pe-seed{seed}"), seed=seed)
        builds.append(rep)
        log(f"  {n:3d} PEs: {rep['luts']} LUT4, {rep['ffs']} FF, {rep['ebr']} EBR, "
            f"{rep['mult18']} MULT18, {rep['fmax_mhz']} MHz "
            f"({'met' if rep['timing_met'] else 'NOT met'} at {rep['target_mhz']:.0f}), "
            f"{rep['seconds']:.0f} s ({rep['placer']}, {rep['router']})")
    out = {"board": board, "builds": builds}
    if record:
        try:
            commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                                    text=True, cwd=os.path.dirname(__file__)).stdout.strip()
        except OSError:
            commit = None
        path = record_builds(builds, board, commit=commit or None,
                             date=datetime.date.today().isoformat())
        log(f"  recorded in {path}")
    return out


SUITES = {"compiler": bench_compiler, "table3": bench_table3, "loadbalance": bench_loadbalance,
          "rowperm": bench_rowperm, "kmeans": bench_kmeans, "rtl": bench_rtl,
          "fpga": bench_fpga}
