"""The ``eie`` command line: happy paths and one-line errors for bad input."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import random_layers

from eie.main import main


@pytest.fixture
def model(tmp_path, rng):
    w, b = random_layers(rng, [20, 16, 6], density=0.5)
    path = tmp_path / "m.npz"
    np.savez(path, w0=w[0], b0=b[0], w1=w[1])
    x = rng.normal(size=(3, 20))
    np.save(tmp_path / "x.npy", x)
    return tmp_path


def test_compress_balances_rows_unless_told_not_to(model):
    """The row permutation is the default; --no-balance keeps the user's order;
    both give the same outputs."""
    outs, busiest = [], []
    for flag, name in (([], "bal"), (["--no-balance"], "plain")):
        assert main(["compress", str(model / "m.npz"), "-o", str(model / name), "--pes", "4",
                     "-q", "--json", str(model / f"{name}.json"), *flag]) == 0
        manifest = json.loads((model / name / "manifest.json").read_text())
        perms = [layer["row_perm"] for layer in manifest["layers"]]
        assert (perms == [None, None]) == (name == "plain")
        # The report says which layers were permuted, and how busy the busiest PE is.
        rep = json.loads((model / f"{name}.json").read_text())["layers"]
        assert [r["rows_permuted"] for r in rep] == [p is not None for p in perms]
        busiest.append(rep[0]["busiest_pe"])
        assert busiest[-1] >= 1
        assert main(["simulate", str(model / name), "--input", str(model / "x.npy"),
                     "--output", str(model / f"{name}.npy"), "-q"]) == 0
        outs.append(np.load(model / f"{name}.npy"))
    assert np.array_equal(*outs)
    assert busiest[0] <= busiest[1]


def run(*args):
    return subprocess.run([sys.executable, "-m", "eie.main", *map(str, args)],
                          capture_output=True, text=True)


def test_compress_and_simulate(model, capsys):
    assert main(["compress", str(model / "m.npz"), "-o", str(model / "b"), "--pes", "3",
                 "--density", "0.3", "--json", str(model / "c.json")]) == 0
    out = capsys.readouterr().out
    assert "fc1" in out and "ratio" in out
    rep = json.loads((model / "c.json").read_text())
    assert rep["total"]["ratio"] > 1 and len(rep["layers"]) == 2
    assert main(["simulate", str(model / "b"), "--input", str(model / "x.npy"), "--output",
                 str(model / "y.npy"), "--report", str(model / "r.json")]) == 0
    y = np.load(model / "y.npy")
    assert y.shape == (3, 6) and y.dtype == np.float64
    r = json.loads((model / "r.json").read_text())
    assert r["cycles"] > 0 and [l["name"] for l in r["layers"]] == ["fc1", "fc2"]
    # --raw round trip: int16 codes in and out.
    np.save(model / "xr.npy", np.array([[5] * 20], dtype=np.int16))
    assert main(["simulate", str(model / "b"), "--input", str(model / "xr.npy"), "--output",
                 str(model / "yr.npy"), "--raw", "-q"]) == 0
    assert np.load(model / "yr.npy").dtype == np.int16
    assert main(["report", str(model / "b"), "--json", str(model / "c2.json")]) == 0


@pytest.mark.parametrize("setup,args,msg", [
    (None, ["compress", "nope.npz", "-o", "b"], "nope.npz: no such file"),
    (lambda d: np.savez(d / "bad.npz", w0=np.full((3, 4), np.nan)),
     ["compress", "bad.npz", "-o", "b"], r"layer fc1: weight \[0, 0\] is nan"),
    (lambda d: np.savez(d / "bad.npz", w0=np.ones((3, 4)), w1=np.ones((2, 5))),
     ["compress", "bad.npz", "-o", "b"], "layer fc2: takes 5 inputs but layer fc1 has 3"),
    (lambda d: (d / "bad.npz").write_text("hello"), ["compress", "bad.npz", "-o", "b"],
     "bad.npz: not a NumPy .npz file"),
    (lambda d: np.savez(d / "bad.npz", x=np.ones(3)), ["compress", "bad.npz", "-o", "b"],
     "no weight arrays"),
    (None, ["compress", "m.npz", "-o", "b", "--pes", "0"], r"n_pe \(--pes\)=0 is out of range"),
    (None, ["compress", "m.npz", "-o", "b", "--density", "1.5"], r"\(--density\) 1.5"),
    (None, ["compress", "m.npz", "-o", "b", "--spmat-words", "2"],
     r"layer fc1: PE \d+ needs sparse-matrix words"),
    (None, ["simulate", "missing_dir", "--input", "x.npy", "--output", "y.npy"],
     "missing_dir: not a bundle directory"),
    ("bundle", ["simulate", "b", "--input", "x5.npy", "--output", "y.npy"],
     r"x5.npy: expected 20 values per vector"),
    ("bundle", ["simulate", "b", "--input", "xnan.npy", "--output", "y.npy"],
     r"xnan.npy: value \[0, 3\] is nan"),
    ("bundle", ["simulate", "b", "--input", "nothere.npy", "--output", "y.npy"],
     "nothere.npy: no such file"),
    ("corrupt", ["simulate", "b", "--input", "x.npy", "--output", "y.npy"],
     "manifest.json: not valid JSON"),
])
def test_errors_are_one_line(model, setup, args, msg):
    os.chdir(model)
    if setup in ("bundle", "corrupt"):
        assert main(["compress", "m.npz", "-o", "b", "-q"]) == 0
        np.save("x5.npy", np.zeros(5))
        xn = np.zeros((1, 20))
        xn[0, 3] = np.nan
        np.save("xnan.npy", xn)
        if setup == "corrupt":
            (model / "b" / "manifest.json").write_text("{")
    elif setup:
        setup(model)
    proc = run(*args)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    assert lines[0].startswith("eie: error: ")
    import re
    assert re.search(msg, lines[0]), lines[0]
