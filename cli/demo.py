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
from .gen.retrain import forward_mlp, prune_retrain_share, train_mlp

__all__ = ["run_demo", "train_mlp"]

SIZES = (64, 256, 128, 10)
#: Per-layer target densities, reached in steps with retraining in between; the
#: first layer (64 inputs) keeps more of its weights, the wide hidden layer fewer:
#: 9.7% of all weights overall.
FINAL_DENSITY = (0.14, 0.07, 0.25)


def _accuracy(ws, bs, x, y):
    return float(np.mean(np.argmax(forward_mlp(ws, bs, x)[-1], axis=1) == y))


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

    figures = prune_retrain_share(ws, bs, x_tr, y_tr, list(FINAL_DENSITY), rng, log=log,
                                  progress=progress,
                                  evaluate=lambda w, b: _accuracy(w, b, x_te, y_te))
    pruned_acc, shared_acc = figures["pruned"], figures["shared"]
    density = sum(np.count_nonzero(w) for w in ws) / sum(w.size for w in ws)
    log(f"pruned to {density:.1%} with retraining: {pruned_acc:.2%}")
    log(f"4-bit weight sharing, centroids fine-tuned: {shared_acc:.2%}")
    return {"weights": ws, "biases": bs, "x_train": x_tr, "x_test": x_te,
            "y_test": y_te, "float_accuracy": float_acc, "pruned_accuracy": pruned_acc,
            "shared_accuracy": shared_acc}


def _load_user(model, data):
    """A user's model and data (``x_test``/``y_test``, or ``x``/``y``; optional
    ``x_train`` for calibration)."""
    from .gen.evaluate import Task, load_data
    from .gen.model import ARCHIVE_ERRORS, is_lstm
    m = load_model(model)
    x_te, y_te = load_data(data, "--data")
    try:
        with np.load(data, allow_pickle=False) as d:
            x_tr = d["x_train"] if "x_train" in d.files else x_te
    except ARCHIVE_ERRORS as e:
        raise InputError(f"{data}: x_train cannot be read ({e})") from None
    first = m.weights[0]
    n_in = np.shape(first.w_ih if is_lstm(first) else first)[1]
    if np.shape(x_te)[-1] != n_in:
        raise InputError(f"{data}: x has {np.shape(x_te)[-1]} features, the model takes "
                         f"{n_in}")
    name = os.path.splitext(os.path.basename(str(model)))[0]
    widths = [n_in] + [w.hidden if is_lstm(w) else np.shape(w)[0] for w in m.weights]
    return {"model": m, "x_train": x_tr, "x_test": x_te, "y_test": y_te,
            "task": Task.of(y_te, widths[-1]),
            "title": f"{name} {'-'.join(map(str, widths))}"}


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
             progress=None, sim="verilator", fmax_report=None, density=None):
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
    if model:
        from .gen.evaluate import evaluate
        st = _load_user(model, data)
        bundle = compress(st["model"], n_pe=n_pe, calibration=st["x_train"], density=density)
        ev = evaluate(st["model"], bundle, st["x_test"], st["y_test"], density=density)
        st.update(float_accuracy=ev["float"], pruned_accuracy=ev["pruned"])
    else:
        if density is not None:
            raise InputError("--density applies to --model; the digits demo prunes to its own "
                             "per-layer densities with retraining")
        st = _train_prune_share(seed, log, progress)
        bundle = compress(st["weights"], st["biases"], n_pe=n_pe, calibration=st["x_train"],
                          density=None)
    score = st["task"].score if "task" in st else \
        (lambda out, y: float(np.mean(np.argmax(out, axis=1) == y)))
    bundle.save(out_dir)
    rep = compression_report(bundle)
    y_golden, cyc = simulate(bundle, st["x_test"], progress=progress)
    golden_acc = score(y_golden, st["y_test"])
    res = {
        "title": st.get("title", "digits MLP " + "-".join(map(str, SIZES))),
        "metric": st["task"].metric if "task" in st else "accuracy",
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
        res["rtl_accuracy"] = score(y_rtl, st["y_test"])
        res["rtl_cycles_per_inference"] = rtl_rep["cycles"] / rtl_rep["batch"]
    if fpga is not None:
        res["fpga"] = {"n_pe": fpga["n_pe"], "fmax_mhz": fpga["fmax_mhz"],
                       "source": fpga.get("source") or f"recorded build ({fpga.get('date')})"}
        res["inferences_per_s"] = fpga["fmax_mhz"] * 1e6 / res["cycles_per_inference"]
    return res


def format_demo(res, console):
    from rich.table import Table
    table = Table(title="EIE demo: " + res.get("title", "digits MLP"), title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    metric = res.get("metric", "accuracy")

    def fmt(v):
        return f"{v:.4g}" if metric == "RMSE" else f"{v:.2%}"
    rows = [(f"float {metric}", fmt(res["float_accuracy"]))]
    if "pruned_accuracy" in res:
        rows.append(("pruned (float)", fmt(res["pruned_accuracy"])))
    if "shared_accuracy" in res:
        rows.append(("pruned + shared (float)", fmt(res["shared_accuracy"])))
    rows += [
        (f"compressed {metric} (golden, int16)", fmt(res["compressed_accuracy"])),
        ("weight density", f"{res['density']:.1%}"),
        ("compression ratio vs float32", f"{res['compression_ratio']:.1f}x"),
        ("  with Huffman coding", f"{res['compression_ratio_huffman']:.1f}x"),
        (f"cycles per inference ({res['n_pe']} PEs)", f"{res['cycles_per_inference']:.1f}"),
    ]
    if "rtl_accuracy" in res:
        rows.insert(len(rows) - 4, (f"RTL {metric} ({res['sim']}, bit-exact)",
                                    fmt(res["rtl_accuracy"])))
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

