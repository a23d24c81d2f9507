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


SUITES = {"compiler": bench_compiler}
