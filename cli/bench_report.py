"""BENCHMARKS.md and its plots from the results of ``eie bench`` (one run)."""

import os
from pathlib import Path

__all__ = ["write_plots", "write_markdown"]


def _figure():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    return plt, fig, ax


def _save(plt, fig, ax, path, xlabel, ylabel, title, log_x=True):
    if log_x:
        ax.set_xscale("log", base=2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


#: Distinguishable series: marker and line style cycle together (9 layers, no
#: two alike even in grey).
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "<")
_LINES = ("-", "--", ":", "-.")


def _style(i):
    return {"marker": _MARKERS[i % len(_MARKERS)], "linestyle": _LINES[i % len(_LINES)],
            "markersize": 4}


def _fpga_plot(builds, out_dir):
    """Fmax and LUT4 per PE against the PE count, from routed builds."""
    from .gen.fpga import median_build

    every = sorted(builds, key=lambda b: b["n_pe"])
    # One point per PE count (the median seed); other seeds as dots.
    builds = [median_build([b for b in every if b["n_pe"] == n])
              for n in sorted({b["n_pe"] for b in every})]
    pes = [b["n_pe"] for b in builds]
    plt, fig, ax = _figure()
    ax.plot(pes, [b["fmax_mhz"] for b in builds], color="C0", **_style(0),
            label="Fmax (MHz, median seed)")
    ax.scatter([b["n_pe"] for b in every], [b["fmax_mhz"] for b in every], color="C0",
               s=10, marker="x", label="Fmax, each seed")
    ax.axhline(100, color="C0", linewidth=0.8, alpha=0.5)
    ax2 = ax.twinx()
    ax2.plot(pes, [b["luts"] / b["n_pe"] for b in builds], color="C3", **_style(1),
             label="LUT4 per PE")
    ax2.plot(pes, [b["ebr"] / b["n_pe"] * 100 for b in builds], color="C2", **_style(2),
             label="EBR per PE (x100)")
    ax2.set_ylabel("per PE")
    lines = ax.get_lines()[:1] + ax.collections[:1] + ax2.get_lines()
    ax.legend(lines, [l.get_label() for l in lines], fontsize=7, loc="lower left")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("PEs")
    ax.set_ylabel("Fmax (MHz)")
    ax.set_title("Routed ULX3S (ECP5-85F) builds: Fmax and resources per PE")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    path = Path(out_dir) / "fpga_vs_pes.png"
    fig.savefig(path)
    plt.close(fig)
    return path


def write_plots(results, out_dir):
    """PNG plots of the load-balance and Table 3 results; returns {name: path}."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    plots = {}
    lb = results.get("loadbalance")
    if lb:
        pes, fifos = lb["pe_counts"], lb["fifo_depths"]
        for key, name, ylabel, title, x, xlabel in (
                ("speedup", "speedup_vs_pes", "speedup over 1 PE",
                 "Speedup vs PE count (FIFO depth 8)", pes, "PEs"),
                ("load_efficiency", "load_efficiency_vs_pes", "load efficiency",
                 "Load efficiency vs PE count (FIFO depth 8)", pes, "PEs"),
                ("padding", "padding_vs_pes", "padding entries per nonzero",
                 "Padding zeros vs PE count", pes, "PEs"),
                ("fifo_load_efficiency", "load_efficiency_vs_fifo", "load efficiency",
                 "Load efficiency vs FIFO depth (64 PEs)", fifos, "FIFO depth")):
            plt, fig, ax = _figure()
            for i, layer in enumerate(lb["layers"]):
                ax.plot(x, layer[key], label=layer["layer"], **_style(i))
            if key == "speedup":
                ax.plot(x, x, "k--", linewidth=0.8, label="linear")
                ax.set_yscale("log", base=2)
            path = out_dir / f"{name}.png"
            _save(plt, fig, ax, path, xlabel, ylabel, title)
            plots[name] = path
    t3 = results.get("table3")
    if t3:
        import numpy as np

        plt, fig, ax = _figure()
        names = [r["layer"] for r in t3["layers"]]
        x = np.arange(len(names))
        ax.bar(x - 0.2, [r["ratio"] for r in t3["layers"]], 0.4, label="this EIE (cycle model)")
        ax.bar(x + 0.2, [r["paper_ratio"] for r in t3["layers"]], 0.4,
               label="paper (actual / theoretical)")
        ax.set_xticks(x, names, rotation=30, fontsize=8)
        ax.set_ylim(0.9, max(r["paper_ratio"] for r in t3["layers"]) * 1.05)
        path = out_dir / "table3_cycles_over_ideal.png"
        _save(plt, fig, ax, path, "", "cycles / ideal",
              f"Table 3 layers, {t3['n_pe']} PEs: cycles over ideal", log_x=False)
        plots["table3_cycles_over_ideal"] = path
    fpga = results.get("fpga")
    if not fpga:
        from .gen.fpga import measured_builds
        fpga = measured_builds()
    builds = [b for b in (fpga or {}).get("builds", []) if b.get("fmax_mhz") and b.get("luts")]
    if builds:
        plots["fpga_vs_pes"] = _fpga_plot(builds, out_dir)
    return plots


def _opt(row, key):
    return f"{row[key]:.3f}" if key in row else "-"


def _table(header, rows):
    lines = ["| " + " | ".join(header) + " |",
             "|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _machine(m):
    return (f"{m.get('cpu', 'unknown CPU')}, {m.get('cpus')} CPUs, {m.get('machine')}, "
            f"Python {m.get('python')}, NumPy {m.get('numpy')}")


def write_markdown(results, path, plots, command):
    """Write BENCHMARKS.md from one run's results."""
    path = Path(path)
    rel = {k: os.path.relpath(v, path.parent) for k, v in plots.items()}
    out = ["# Benchmarks", "",
           f"Every figure below was measured by one command, `{command}`, on "
           f"{results['date']} on this machine: {_machine(results['machine'])}. "
           "Nothing is typed in except the paper's own figures (Tables 3 and 4 of Han et al., "
           "EIE, ISCA 2016, quoted from `shared/seeds/004_*.txt`), shown for comparison. "
           "CPU times are medians of repeated runs on a shared machine: compare the ratios "
           "within one run, not the absolute times across machines.", ""]

    fpga = results.get("fpga")
    origin = "measured in this run"
    if not fpga:
        # No builds in this run: the record they were measured in (eie bench
        # --suite fpga --record), which the Table 3 projection uses too.
        from .gen.fpga import measured_builds
        fpga = measured_builds()
        at = (f"commit {fpga['commit']}" if fpga.get("commit")
              else "the commits listed")
        origin = (f"not run by this command but recorded in `gen/fpga_measured.json` on "
                  f"{fpga.get('date')}, {at} (`eie bench --suite fpga "
                  f"--record` measures and records them)")
    if fpga and fpga.get("builds"):
        out += ["## FPGA builds (ULX3S, ECP5-85F)", "",
                f"Builds {origin}. "
                "`eie synth`'s flow (Yosys, nextpnr-ecp5, ecppack from PyPI; target "
                "100 MHz; the placement seed, nextpnr's placer and router as listed), the "
                "accelerator "
                "with the UART bridge, memories chosen by "
                "`board_hw` to fit the device's 208 block RAMs (per PE: 64-bit words, "
                "pointers, activations, bias words; accumulator bits).", "",
                _table(["PEs", "memories per PE", "LUT4", "FF", "EBR", "MULT18", "Fmax (MHz)",
                        "100 MHz met", "seed", "build (s)", "placer, router", "commit"],
                       [[b["n_pe"], _memories(b.get("hw")), f"{b['luts']:,}", f"{b['ffs']:,}",
                         b["ebr"], b["mult18"], f"{b['fmax_mhz']:.1f}",
                         "yes" if b["timing_met"] else "no", b.get("seed", 1),
                         f"{b['seconds']:.0f}",
                         f"{b.get('placer') or 'heap'}, {b.get('router') or 'router1'}",
                         b.get("commit") or fpga.get("commit") or ""]
                        for b in fpga["builds"]]), ""]
        if "fpga_vs_pes" in rel:
            out += [f"![Fmax and resources per PE]({rel['fpga_vs_pes']})", ""]

    t3 = results.get("table3")
    if t3:
        ref = t3.get("fpga")
        out += [f"## Table 3 layers ({t3['n_pe']} PEs, FIFO depth {t3['fifo_depth']})", "",
                "Synthetic weights and activations at the table's densities (uniformly random "
                "positions), compressed by the compiler (with its default row order, which "
                "evens out every PE's work along the columns). Cycles come from the cycle "
                "model, which the RTL matches cycle for cycle (see RTL below). Ideal = entries "
                "(padding included) / PEs. The paper's ratio is Table 4's actual over "
                "theoretical time.",
                ""]
        header = ["layer", "size (in x out)", "cycles", "cycles / ideal", "static floor",
                  "two broadcasts", "empty skips credit", "paper", "us at 800 MHz", "paper us"]
        if ref:
            header += [f"us on FPGA ({ref['n_pe']} PEs, {ref['fmax_mhz']:.1f} MHz)"]
        have_cpu = "numpy_dense_us" in t3["layers"][0]
        if have_cpu:
            header += ["NumPy dense us", "SciPy CSR us", "SciPy / EIE@800"]
            if ref:
                header += ["SciPy / FPGA"]
        rows = []
        for r in t3["layers"]:
            row = [r["layer"], f"{r['n_in']} x {r['n_out']}", f"{r['cycles']:,}",
                   f"{r['ratio']:.3f}", _opt(r, "floor"), _opt(r, "ratio_two_broadcasts"),
                   _opt(r, "ratio_empty_skips_credit"), f"{r['paper_ratio']:.3f}",
                   f"{r['us_at_800mhz']:.1f}", f"{r['paper_actual_us']:.1f}"]
            if ref:
                row.append(f"{r['fpga_us']:,.0f}")
            if have_cpu:
                row += [f"{r['numpy_dense_us']:,.0f}", f"{r['scipy_sparse_us']:,.0f}",
                        f"{r['scipy_over_eie800']:.0f}x"]
                if ref:
                    row.append(f"{r['scipy_over_fpga']:.2f}x")
            rows.append(row)
        beats = sum(r["beats_paper"] for r in t3["layers"])
        geo = t3.get("geomean_ratio")
        out += [_table(header, rows), "",
                f"Cycles over ideal beat the paper's on {beats} of {len(t3['layers'])} layers"
                + (f"; geometric mean {geo:.3f}." if geo else "."), "",
                "Static floor: the busiest PE's entries in the active columns over the ideal, "
                "which no schedule beats. Two broadcasts: the cycle model with a broadcast of "
                "two activations per cycle (a study, not built: it would take a second "
                "LNZD output, two more read ports on every PE's pointer memory (a copy of it) "
                "and a queue "
                "taking two pushes per cycle). A PE drops a column it has no entries in "
                "as the pointer read finds it empty and returns its credit at once, so such "
                "columns cost it no cycle. Empty skips credit: the cycle model with such a "
                "column taking no credit at all, so that only the PEs with entries in a column "
                "can stop its broadcast (a study, not built: the broadcast would have to know "
                "as it fires which PEs the column is empty in, from a bitmap of n_in x PEs "
                "bits or a look-ahead read of every PE's pointers, and AND the PEs' "
                "full-or-empty flags instead of their credit flags).", ""]
        if ref:
            slow = ("" if ref.get("timing_met", True) else
                    f" (below the 100 MHz target: a bitstream for it is built with `eie synth "
                    f"--freq {int(ref['fmax_mhz'])}`)")
            met = " that met its target" if ref.get("timing_met", True) else ""
            out += [f"FPGA column: the cycle model at {ref['n_pe']} PEs (the largest routed "
                    f"build{met}, {ref['source']}) at its routed Fmax{slow}; a projection, since "
                    "these layers are larger than that build's on-chip memories.", ""]
        if "table3_cycles_over_ideal" in rel:
            out += [f"![cycles over ideal]({rel['table3_cycles_over_ideal']})", ""]

    rtl = results.get("rtl")
    if rtl:
        out += ["## RTL at full size (Verilator)", "",
                f"The generated Verilog of one {rtl['hw']['n_pe']}-PE instance "
                f"({rtl['hw']['spmat_words']} words, {rtl['hw']['ptr_depth']} pointers, "
                f"{rtl['hw']['act_depth']} activations per PE), the model loaded through the "
                "host port, run under cocotb; the first time includes the build.", "",
                _table(["layer", "size", "RTL cycles", "cycle model", "outputs = golden",
                        "wall time (s)"],
                       [[r["layer"], f"{r['n_in']} x {r['n_out']}", f"{r['cycles']:,}",
                         f"{r['model_cycles']:,}", "yes" if r["golden_match"] else "NO",
                         f"{r['seconds']:.0f}"] for r in rtl["layers"]]), ""]

    lb = results.get("loadbalance")
    if lb:
        out += ["## Load balance (the paper's Figures 11 to 13)", "",
                "Cycle model on the nine layers (random sparsity patterns at the table's "
                "densities, rows in the order the compiler gives them by default for each PE "
                "count). Speedup is cycles at 1 PE over cycles at N PEs; load efficiency is "
                "ideal over compute cycles, the fraction of cycles the average PE's arithmetic "
                "unit is busy; padding counts the padding entries per nonzero in "
                "nonzero-activation columns. Speedup can exceed the PE count: with more PEs "
                "each PE holds fewer local rows, so fewer zero runs exceed 15 and fewer "
                "padding entries are needed (the paper's Figure 12).", ""]
        pes = lb["pe_counts"]
        out += [_table(["layer"] + [f"{p} PEs" for p in pes],
                       [[l["layer"]] + [f"{s:.1f}x / {e:.2f}" for s, e in
                                        zip(l["speedup"], l["load_efficiency"])]
                        for l in lb["layers"]]), "",
                "(speedup / load efficiency)", ""]
        fifos = lb["fifo_depths"]
        out += [_table(["layer"] + [f"FIFO {f}" for f in fifos],
                       [[l["layer"]] + [f"{e:.3f}" for e in l["fifo_load_efficiency"]]
                        for l in lb["layers"]]), "",
                "(load efficiency at 64 PEs vs FIFO depth)", ""]
        for name in ("speedup_vs_pes", "load_efficiency_vs_pes", "padding_vs_pes",
                     "load_efficiency_vs_fifo"):
            if name in rel:
                out += [f"![{name}]({rel[name]})", ""]

    rp = results.get("rowperm")
    if rp:
        out += ["## Offline row permutation (`eie compress`'s default)", "",
                f"{rp['n']} x {rp['n']} layers at {rp['density']:.0%} mean weight density, "
                f"{rp['act_density']:.0%} activations, {rp['n_pe']} PEs. `lognormal`: row "
                "densities drawn from a log-normal (sigma 1.5); `periodic`: rows i with "
                "i mod 64 < 8 eight times denser (all on the same 8 PEs); `uniform`: no skew. "
                "The permutation is applied by the compiler and undone when outputs are read, "
                "so it costs nothing at run time, only compile time (compress, seconds); the "
                "outputs are checked to be identical.", "",
                _table(["matrix", "cycles with --no-balance", "cycles (default)", "speedup",
                        "ideal", "compress s, --no-balance / default", "outputs identical"],
                       [[m["kind"], f"{m['plain_cycles']:,}", f"{m['balanced_cycles']:,}",
                         f"{m['speedup']:.2f}x", f"{m['balanced_ideal']:.0f}",
                         f"{m['plain_compress_s']:.1f} / {m['balanced_compress_s']:.1f}",
                         "yes" if m["same_output"] else "NO"] for m in rp["matrices"]]), ""]

    km = results.get("kmeans")
    if km:
        have = "sklearn_s" in km["layers"][0]
        header = ["layer", "nonzeros", "ours (s)", "ours WCSS"]
        if have:
            header += ["scikit-learn (s)", "scikit-learn WCSS", "speedup", "WCSS ours / sklearn"]
        rows = []
        for r in km["layers"]:
            row = [r["layer"], f"{r['values']:,}", f"{r['kmeans_s']:.3f}",
                   f"{r['kmeans_wcss']:.6g}"]
            if have:
                row += [f"{r['sklearn_s']:.2f}", f"{r['sklearn_wcss']:.6g}",
                        f"{r['sklearn_s'] / max(r['kmeans_s'], 1e-9):.0f}x",
                        f"{r['kmeans_wcss'] / r['sklearn_wcss']:.4f}"]
            rows.append(row)
        out += ["## Weight sharing: k-means next to scikit-learn", "",
                "15 clusters (plus the reserved zero) on each pruned Table 3 layer, both from "
                "the same linear initialisation, Lloyd's algorithm to convergence "
                "(scikit-learn: `KMeans(n_init=1, algorithm=\"lloyd\", tol=0)`).", "",
                _table(header, rows), ""]

    comp = results.get("compiler")
    if comp:
        out += ["## Compiler speed (VGG-6, 64 PEs)", "",
                _table(["step", "seconds"],
                       [["compress (prune, share, quantize, balance rows, encode)",
                         f"{comp['compress_s']:.2f}"],
                        ["save bundle", f"{comp['save_s']:.2f}"],
                        ["load and check bundle", f"{comp['load_s']:.2f}"],
                        ["golden + cycle model, one input", f"{comp['simulate_s']:.2f}"]]), ""]
    path.write_text("\n".join(out))
    return path


def _memories(hw):
    if not hw:
        return ""
    return (f"{hw['spmat_words']}, {hw['ptr_depth']}, {hw['act_depth']}, {hw['bias_depth']}; "
            f"{hw['acc_width']} bit")
