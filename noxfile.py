"""Developer sessions: ``nox -s tests``, ``lint``, ``bench``, ``demo``."""

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True


@nox.session
def tests(session):
    """The test suite (the README's test command, inside a nox venv)."""
    session.install("-e", ".[dev]")
    session.install("--no-deps", "silero-vad")     # its weights; not its PyTorch dependency
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session):
    session.install("ruff")
    session.run("ruff", "check", "cli", "gen", "sim", "hw", "tests", "noxfile.py")


@nox.session
def bench(session):
    """Every benchmark in one run: BENCHMARKS.md, its plots in docs/bench and bench.json.

    Includes the FPGA builds (1 to 8 PEs, about 14 minutes on 2 cores; the other suites
    about 10) and records them as the package's reference Fmax.  ``nox -s bench --
    --quick`` is a smoke run (then pass ``--suite`` to skip the FPGA builds).
    """
    session.install("-e", ".[dev]")
    args = session.posargs or ["--suite", "all", "--record"]
    session.run("eie", "bench", *args, "--json", "bench.json", "--markdown", "BENCHMARKS.md")


@nox.session
def demo(session):
    """The end-to-end demo (the README's main job)."""
    session.install("-e", ".")
    session.run("eie", "demo", *session.posargs)


@nox.session
def vad(session):
    """silero-vad's LSTM on EIE (``eie demo --model silero-vad``)."""
    session.install("-e", ".[dev]")
    session.install("--no-deps", "silero-vad")
    session.run("eie", "demo", "--model", "silero-vad", *session.posargs)


@nox.session
def synth(session):
    """FPGA builds for the ULX3S (85F): bitstreams and reports in build/synth-*.

    ``nox -s synth -- 8 16`` builds those PE counts (default 8).
    """
    session.install("-e", ".")
    for pes in session.posargs or ["8"]:
        session.run("eie", "synth", "--board", "ulx3s-85f", "--pes", pes,
                    "--build-dir", f"build/synth-{pes}pe",
                    "--report", f"build/synth-{pes}pe/report.json")
