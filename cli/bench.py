"""Benchmarks behind ``eie bench`` (figures measured in one run on this machine).

Suite ``compiler``: Deep Compression of the paper's VGG-6 layer (25088 inputs,
4096 outputs, 4% weight density; Table 3 in ``shared/seeds/004_*.txt``) for 64
PEs, the bundle written and read back, the golden and cycle models run on one
input at the table's 18.3% activation density, and the 1-D k-means next to
scikit-learn's ``KMeans`` from the same linear initialisation (time and WCSS).
"""

import os
import platform
import tempfile
import time

import numpy as np

from .api import simulate
from .gen import Bundle, compress
from .gen.compress import prune
from .gen.kmeans import kmeans_1d, linear_init

__all__ = ["bench_compiler", "machine_info", "SUITES"]

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
    (_, _, wcss, iters), res["kmeans_s"] = _timed(kmeans_1d, values, 15)
    res.update(kmeans_wcss=wcss, kmeans_iterations=iters)
    log(f"  1-D k-means (ours): {res['kmeans_s']:.2f} s, WCSS {wcss:.6g}, {iters} iterations")
    if sklearn:
        from sklearn.cluster import KMeans
        km = KMeans(n_clusters=15, init=linear_init(values, 15).reshape(-1, 1), n_init=1,
                    max_iter=300, algorithm="lloyd")
        _, res["sklearn_s"] = _timed(km.fit, values.reshape(-1, 1))
        res.update(sklearn_wcss=float(km.inertia_), sklearn_iterations=int(km.n_iter_))
        log(f"  scikit-learn KMeans: {res['sklearn_s']:.2f} s, WCSS {km.inertia_:.6g}, "
            f"{km.n_iter_} iterations (ours {res['sklearn_s'] / res['kmeans_s']:.0f}x faster, "
            f"WCSS ratio {wcss / km.inertia_:.6f})")
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


def synthetic_layer(rng, n_in, n_out, density, act_density, n_pe, fifo_depth=8, scale=1):
    """A random layer at the given densities, compressed, and one input for it."""
    n_in, n_out = max(1, n_in // scale), max(1, n_out // scale)
    w = rng.standard_normal((n_out, n_in), dtype=np.float32) * np.float32(1 / np.sqrt(n_in))
    bundle = compress([w], None, n_pe=n_pe, density=density, fifo_depth=fifo_depth)
    x = np.where(rng.random(n_in) < act_density, np.abs(rng.normal(0, 1, n_in)) + 0.05, 0.0)
    return bundle, x


def bench_table3(n_pe=64, fifo_depth=8, quick=False, log=print):
    """Cycles / ideal on the paper's Table 3 layers (cycle model = RTL), vs the paper."""
    rng = np.random.default_rng(0)
    scale = 16 if quick else 1
    rows = []
    log(f"Table 3 layers, {n_pe} PEs, FIFO depth {fifo_depth}"
        + (" (1/16 size)" if quick else ""))
    for name, n_in, n_out, wd, ad, actual, theory in TABLE3:
        bundle, x = synthetic_layer(rng, n_in, n_out, wd, ad, n_pe, fifo_depth, scale)
        _, report = simulate(bundle, x)
        layer = report["layers"][0]
        ratio = report["cycles"] / layer["ideal"] if layer["ideal"] else float("nan")
        paper = actual / theory
        row = {"layer": name, "n_in": bundle.n_in, "n_out": bundle.n_out,
               "weight_density": wd, "act_density": ad, "cycles": report["cycles"],
               "ideal": layer["ideal"], "ratio": ratio, "paper_ratio": paper,
               "beats_paper": bool(ratio < paper)}
        rows.append(row)
        log(f"  {name:8s} {report['cycles']:8d} cycles, ideal {layer['ideal']:10.1f}: "
            f"{ratio:.3f} x (paper {paper:.3f}) {'ok' if ratio < paper else 'WORSE'}")
    return {"n_pe": n_pe, "fifo_depth": fifo_depth, "quick": quick, "layers": rows}


def bench_rtl(n=1024, density=0.09, act_density=0.35, n_pe=64, sim="verilator", log=print):
    """A 64-PE n x n layer in Verilator: build and run time, cycles vs the cycle model."""
    rng = np.random.default_rng(1)
    bundle, x = synthetic_layer(rng, n, n, density, act_density, n_pe)
    golden_y, model = simulate(bundle, x)
    with tempfile.TemporaryDirectory() as cache:
        old = os.environ.get("EIE_CACHE_DIR")
        os.environ["EIE_CACHE_DIR"] = cache      # a cold build: the time includes it
        try:
            (y, report), seconds = _timed(simulate, bundle, x, sim=sim)
        finally:
            if old is None:
                del os.environ["EIE_CACHE_DIR"]
            else:
                os.environ["EIE_CACHE_DIR"] = old
    layer = model["layers"][0]
    res = {"n": n, "density": density, "act_density": act_density, "n_pe": n_pe, "sim": sim,
           "seconds": seconds, "cycles": report["cycles"], "model_cycles": model["cycles"],
           "ideal": layer["ideal"], "entries": layer["entries"],
           "golden_match": report["golden_match"] and bool(np.array_equal(y, golden_y)),
           "cycle_model_match": report["cycle_model_match"]}
    log(f"RTL {sim}: {n}x{n} at {density:.0%} weights, {act_density:.0%} activations, "
        f"{n_pe} PEs: {seconds:.1f} s including the build; {report['cycles']} cycles "
        f"(cycle model {model['cycles']}), {layer['entries'] / report['cycles'] / n_pe:.3f} "
        f"entries per PE per cycle, golden match {res['golden_match']}")
    return res


SUITES = {"compiler": bench_compiler, "table3": bench_table3, "rtl": bench_rtl}
