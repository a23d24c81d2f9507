"""``eie demo``: Deep Compression and EIE end to end on a real (small) model.

An MLP (64-256-128-10) is trained on scikit-learn's bundled digits data set
(offline, fixed seed), pruned iteratively with retraining to about 10%
density, its weights shared (4-bit codebooks by k-means) with the centroids
fine-tuned as in Deep Compression, then compiled to a bundle and run on the
held-out set by the golden model and the cycle model, and by the generated
Verilog in Verilator (or Icarus), whose outputs must equal the golden model's
bit for bit and whose cycle counters must equal the cycle model's.
"""

import json
import os

import numpy as np

from .api import simulate
from .errors import EieError, InputError
from .gen import compress, compression_report, load_model
from .gen.fpga import measured_fmax
from .gen.compress import keep_largest
from .gen.kmeans import kmeans_1d

__all__ = ["run_demo", "train_mlp"]

SIZES = (64, 256, 128, 10)
#: Per-layer target densities, reached in steps with retraining in between; the
#: first layer (64 inputs) keeps more of its weights, the wide hidden layer fewer:
#: 9.7% of all weights overall.
FINAL_DENSITY = (0.14, 0.07, 0.25)
PRUNE_STEPS = (5.0, 3.0, 2.0, 1.4, 1.0)   # multiples of FINAL_DENSITY


def _forward(ws, bs, x):
    acts = [x]
    for l, (w, b) in enumerate(zip(ws, bs)):
        z = acts[-1] @ w.T + b
        acts.append(np.maximum(z, 0) if l < len(ws) - 1 else z)
    return acts


def _grads(ws, bs, x, y):
    acts = _forward(ws, bs, x)
    logits = acts[-1]
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    delta = p
    delta[np.arange(len(y)), y] -= 1
    delta /= len(y)
    gw, gb = [None] * len(ws), [None] * len(ws)
    for l in range(len(ws) - 1, -1, -1):
        gw[l] = delta.T @ acts[l]
        gb[l] = delta.sum(axis=0)
        if l:
            delta = (delta @ ws[l]) * (acts[l] > 0)
    return gw, gb


def _accuracy(ws, bs, x, y):
    return float(np.mean(np.argmax(_forward(ws, bs, x)[-1], axis=1) == y))


def _expand(shared):
    """Dense weight matrices from per-layer ``(labels, centroids)`` (label -1: pruned)."""
    return [np.where(lab >= 0, c[np.maximum(lab, 0)], 0.0) for lab, c in shared]


def train_mlp(x, y, ws, bs, epochs, rng, masks=None, lr=2e-3, shared=None, progress=None,
              label="train"):
    """Adam on cross-entropy.  ``masks`` keep pruned weights at zero; ``shared``
    (per layer ``(labels, centroids)``) trains the centroids instead (Deep
    Compression's codebook fine-tuning: a centroid's gradient is the sum of its
    weights' gradients)."""
    out = ws
    params = [c for _, c in shared] + list(bs) if shared else list(ws) + list(bs)
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    step = 0
    epochs_it = range(epochs)
    if progress:
        epochs_it = progress(epochs_it, description=label, total=epochs)
    for _ in epochs_it:
        order = rng.permutation(len(x))
        for i in range(0, len(x), 64):
            idx = order[i:i + 64]
            if shared:
                ws = _expand(shared)
            gw, gb = _grads(ws, bs, x[idx], y[idx])
            if shared:
                gw = [np.bincount(lab[lab >= 0], g[lab >= 0], minlength=c.size)
                      for (lab, c), g in zip(shared, gw)]
            elif masks:
                gw = [g * mk for g, mk in zip(gw, masks)]
            step += 1
            for p, g, mp, vp in zip(params, gw + gb, m, v):
                mp *= 0.9
                mp += 0.1 * g
                vp *= 0.999
                vp += 0.001 * g * g
                p -= lr * (mp / (1 - 0.9 ** step)) / (np.sqrt(vp / (1 - 0.999 ** step)) + 1e-8)
    if shared:
        out[:] = _expand(shared)
    return out, bs


def _digits(seed):
    from sklearn.datasets import load_digits
    data = load_digits()
    x = data.data / 16.0
    y = data.target
    order = np.random.default_rng(seed).permutation(len(x))
    n_test = len(x) // 4
    return x[order[n_test:]], y[order[n_test:]], x[order[:n_test]], y[order[:n_test]]


def _train_prune_share(seed, log, progress):
    rng = np.random.default_rng(seed)
    x_tr, y_tr, x_te, y_te = _digits(seed)
    ws = [rng.normal(0, np.sqrt(2 / n_in), (n_out, n_in)) for n_in, n_out in
          zip(SIZES, SIZES[1:])]
    bs = [np.zeros(n_out) for n_out in SIZES[1:]]
    train_mlp(x_tr, y_tr, ws, bs, 40, rng, progress=progress, label="train float")
    float_acc = _accuracy(ws, bs, x_te, y_te)
    log(f"float model: {float_acc:.2%} test accuracy")

    masks = [np.ones_like(w) for w in ws]
    for step in PRUNE_STEPS:
        for l, w in enumerate(ws):
            k = int(round(min(1.0, step * FINAL_DENSITY[l]) * w.size))
            masks[l] = keep_largest(np.abs(w).ravel(), k).reshape(w.shape).astype(float)
            w *= masks[l]
        final = step == PRUNE_STEPS[-1]
        train_mlp(x_tr, y_tr, ws, bs, 80 if final else 25, rng, masks=masks,
                  lr=1e-3 if final else 2e-3, progress=progress, label=f"prune x{step}")
    pruned_acc = _accuracy(ws, bs, x_te, y_te)
    density = sum(np.count_nonzero(w) for w in ws) / sum(w.size for w in ws)
    log(f"pruned to {density:.1%} with retraining: {pruned_acc:.2%}")

    shared = []
    for w in ws:
        labels = np.full(w.shape, -1)
        nz = w != 0
        c, lab, _, _ = kmeans_1d(w[nz], 15)
        labels[nz] = lab
        shared.append((labels, c))
    train_mlp(x_tr, y_tr, ws, bs, 10, rng, shared=shared, lr=5e-4, progress=progress,
              label="tune centroids")
    shared_acc = _accuracy(ws, bs, x_te, y_te)
    log(f"4-bit weight sharing, centroids fine-tuned: {shared_acc:.2%}")
    return {"weights": ws, "biases": bs, "x_train": x_tr, "x_test": x_te,
            "y_test": y_te, "float_accuracy": float_acc, "pruned_accuracy": pruned_acc,
            "shared_accuracy": shared_acc}


def _load_user(model, data):
    weights, biases = load_model(model)
    try:
        with np.load(data, allow_pickle=False) as d:
            x_te, y_te = d["x_test"], d["y_test"]
            x_tr = d["x_train"] if "x_train" in d.files else x_te
    except FileNotFoundError:
        raise InputError(f"{data}: no such file") from None
    except KeyError as e:
        raise InputError(f"{data}: missing array {e} (needs x_test and y_test)") from None
    except (ValueError, OSError, EOFError) as e:
        raise InputError(f"{data}: not a NumPy .npz file ({e})") from None
    if x_te.ndim != 2 or y_te.shape != (x_te.shape[0],):
        raise InputError(f"{data}: x_test must be (n, features) and y_test (n,), got "
                         f"{x_te.shape} and {y_te.shape}")
    ws = [np.asarray(w, dtype=np.float64) for w in weights]
    bs = [np.zeros(w.shape[0]) if b is None else np.asarray(b, np.float64)
          for w, b in zip(ws, biases)]
    if x_te.shape[1] != ws[0].shape[1]:
        raise InputError(f"{data}: x_test has {x_te.shape[1]} features, the model takes "
                         f"{ws[0].shape[1]}")
    acc = _accuracy(ws, bs, x_te, y_te)
    return {"weights": ws, "biases": bs, "x_train": x_tr, "x_test": x_te, "y_test": y_te,
            "float_accuracy": acc}


def fpga_reference(n_pe, report=None):
    """The routed Fmax to project at: an ``eie synth`` report, or the recorded
    build with ``n_pe`` PEs (or the largest recorded one below)."""
    if report is None:
        return measured_fmax(n_pe)
    try:
        with open(report) as f:
            rep = json.load(f)
        return {"n_pe": int(rep["n_pe"]), "fmax_mhz": float(rep["fmax_mhz"]),
                "date": None, "source": str(report)}
    except FileNotFoundError:
        raise InputError(f"{report}: no such file") from None
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise InputError(f"{report}: not an eie synth report ({e})") from None


def run_demo(out_dir="eie-demo", n_pe=8, seed=0, model=None, data=None, log=print,
             progress=None, sim="verilator", fmax_report=None):
    """Train (or load), compress and evaluate; returns the figures as a dict.

    ``sim`` (``verilator``, ``icarus`` or ``none``) also runs the held-out set
    on the generated Verilog; ``fmax_report`` is an ``eie synth`` report whose
    Fmax the inference rate is projected at (default: the recorded build).
    """
    if model is not None and data is None:
        raise InputError("--model needs --data (an .npz with x_test, y_test)")
    if sim not in ("verilator", "icarus", "none"):
        raise InputError(f"unknown simulator {sim!r}: choose verilator, icarus or none")
    fpga = fpga_reference(n_pe, fmax_report)
    st = _load_user(model, data) if model else _train_prune_share(seed, log, progress)
    bundle = compress(st["weights"], st["biases"], n_pe=n_pe, calibration=st["x_train"],
                      density=None)
    bundle.save(out_dir)
    rep = compression_report(bundle)
    y_golden, cyc = simulate(bundle, st["x_test"], progress=progress)
    golden_acc = float(np.mean(np.argmax(y_golden, axis=1) == st["y_test"]))
    res = {
        "float_accuracy": st["float_accuracy"],
        "compressed_accuracy": golden_acc,
        "compression_ratio": rep["total"]["ratio"],
        "compression_ratio_huffman": rep["total"]["ratio_huffman"],
        "density": rep["total"]["density"],
        "cycles_per_inference": cyc["cycles"] / cyc["batch"],
        "test_samples": int(len(st["y_test"])),
        "n_pe": n_pe, "bundle": os.path.abspath(out_dir), "sim": sim,
    }
    for key in ("pruned_accuracy", "shared_accuracy"):
        if key in st:
            res[key] = st[key]
    if sim != "none":
        log(f"running the {len(st['y_test'])} test inputs on the generated Verilog ({sim}; "
            f"the first build of a configuration takes a minute, later ones are cached)")
        y_rtl, rtl_rep = simulate(bundle, st["x_test"], sim=sim, bundle_dir=out_dir,
                                  progress=progress)
        if not (rtl_rep["golden_match"] and np.array_equal(y_rtl, y_golden)):
            raise EieError(f"the {sim} RTL's outputs differ from the golden model's "
                           f"(bundle {out_dir}): a hardware bug, please report it")
        if not rtl_rep["cycle_model_match"]:
            raise EieError(f"the {sim} RTL's cycle counters differ from the cycle model "
                           f"(bundle {out_dir}): a hardware bug, please report it")
        res["rtl_accuracy"] = float(np.mean(np.argmax(y_rtl, axis=1) == st["y_test"]))
        res["rtl_cycles_per_inference"] = rtl_rep["cycles"] / rtl_rep["batch"]
    if fpga is not None:
        res["fpga"] = {"n_pe": fpga["n_pe"], "fmax_mhz": fpga["fmax_mhz"],
                       "source": fpga.get("source") or f"recorded build ({fpga.get('date')})"}
        res["inferences_per_s"] = fpga["fmax_mhz"] * 1e6 / res["cycles_per_inference"]
    return res


def format_demo(res, console):
    from rich.table import Table
    table = Table(title="EIE demo: digits MLP " + "-".join(map(str, SIZES)),
                  title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [("float accuracy", f"{res['float_accuracy']:.2%}")]
    if "pruned_accuracy" in res:
        rows.append(("pruned (float)", f"{res['pruned_accuracy']:.2%}"))
        rows.append(("pruned + shared (float)", f"{res['shared_accuracy']:.2%}"))
    rows += [
        ("compressed accuracy (golden, int16)", f"{res['compressed_accuracy']:.2%}"),
        ("weight density", f"{res['density']:.1%}"),
        ("compression ratio vs float32", f"{res['compression_ratio']:.1f}x"),
        ("  with Huffman coding", f"{res['compression_ratio_huffman']:.1f}x"),
        (f"cycles per inference ({res['n_pe']} PEs)", f"{res['cycles_per_inference']:.1f}"),
    ]
    if "rtl_accuracy" in res:
        rows.insert(len(rows) - 4, (f"RTL accuracy ({res['sim']}, bit-exact)",
                                           f"{res['rtl_accuracy']:.2%}"))
    if "inferences_per_s" in res:
        f = res["fpga"]
        note = "" if f["n_pe"] == res["n_pe"] else f", measured at {f['n_pe']} PEs"
        rows.append((f"inferences/s at {f['fmax_mhz']:.1f} MHz (routed ULX3S Fmax{note})",
                     f"{res['inferences_per_s']:,.0f}"))
    for r in rows:
        table.add_row(*r)
    console.print(table)
    console.print(f"bundle written to {res['bundle']}")
    if "fpga" in res:
        console.print(f"Fmax from {res['fpga']['source']}")

