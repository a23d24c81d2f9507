"""Fuzzing the command line: mutated bundles, mutated model files, random options.

The property, for every case: either exactly one ``eie: error:`` line on
stderr and a non-zero exit, or success with a result identical to the
unmutated one where the mutation cannot matter. Never a traceback (an
exception escaping ``main``), never a silently different output.
"""

import contextlib
import io
import json
import os
import shutil

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import eie
from eie.gen.model import save_safetensors
from eie.main import main

FUZZ = settings(max_examples=int(os.environ.get("EIE_FUZZ_EXAMPLES", 200)), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])


def run(argv):
    """``main(argv)`` in-process: exit status and stderr lines (an exception
    escaping it fails the test with its traceback)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        status = main(argv)
    return status, err.getvalue().strip().splitlines()


def assert_one_error(status, lines):
    assert status != 0
    assert len(lines) == 1 and lines[0].startswith("eie: error: "), lines


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A valid model, its bundle, an input and the reference output."""
    d = tmp_path_factory.mktemp("fuzz")
    rng = np.random.default_rng(9)
    w0 = np.where(rng.random((7, 6)) < 0.5, rng.normal(0, .4, (7, 6)), 0)
    lstm = eie.LSTM(rng.normal(0, .4, (12, 7)), rng.normal(0, .4, (12, 3)), rng.normal(0, .1, 12))
    np.savez(d / "m.npz", w0=w0, b0=rng.normal(0, .1, 7), w1=rng.normal(0, .4, (4, 7)))
    np.savez(d / "r.npz", w0=w0, wih1=lstm.w_ih, whh1=lstm.w_hh, bih1=lstm.b_ih,
             w2=rng.normal(0, .4, (2, 3)))
    save_safetensors(d / "m.safetensors", {"fc.weight": w0, "fc.bias": np.ones(7),
                                           "out.weight": np.ones((2, 7))})
    np.save(d / "x.npy", rng.normal(size=(3, 6)))
    np.save(d / "xs.npy", rng.normal(size=(2, 4, 6)))
    for model, bundle, x in (("m.npz", "b", "x.npy"), ("r.npz", "rb", "xs.npy")):
        status, lines = run(["compress", str(d / model), "-o", str(d / bundle), "--pes", "3",
                             "--balance", "-q"])
        assert status == 0, lines
        status, lines = run(["simulate", str(d / bundle), "--input", str(d / x), "--output",
                             str(d / f"{bundle}.y.npy"), "--report", str(d / f"{bundle}.r.json"),
                             "-q"])
        assert status == 0, lines
    return d


def _simulate(d, bundle, x, tag):
    out, rep = d / f"out-{tag}.npy", d / f"rep-{tag}.json"
    for p in (out, rep):
        if p.exists():
            p.unlink()
    status, lines = run(["simulate", str(bundle), "--input", str(d / x), "--output", str(out),
                         "--report", str(rep), "-q", "--saturation-threshold", "1"])
    return status, lines, out, rep


def _same_result(d, name, out, rep):
    np.testing.assert_array_equal(np.load(out), np.load(d / f"{name}.y.npy"))
    assert json.loads(rep.read_text())["cycles"] == \
        json.loads((d / f"{name}.r.json").read_text())["cycles"]


@FUZZ
@given(data=st.data(), which=st.sampled_from(["b", "rb"]))
def test_mutated_bundle_bytes(base, tmp_path, data, which):
    """Bytes of any file of a bundle overwritten, inserted or deleted."""
    d = base
    bundle = tmp_path / "bundle"
    if bundle.exists():
        shutil.rmtree(bundle)
    shutil.copytree(d / which, bundle)
    name = data.draw(st.sampled_from(sorted(os.listdir(bundle))))
    blob = bytearray((bundle / name).read_bytes())
    at = data.draw(st.integers(0, max(0, len(blob) - 1)))
    kind = data.draw(st.sampled_from(["set", "insert", "delete", "truncate"]))
    chunk = data.draw(st.binary(min_size=1, max_size=8))
    if kind == "set":
        blob[at:at + len(chunk)] = chunk
    elif kind == "insert":
        blob[at:at] = chunk
    elif kind == "delete":
        del blob[at:at + len(chunk)]
    else:
        del blob[at:]
    (bundle / name).write_bytes(bytes(blob))
    status, lines, out, rep = _simulate(d, bundle, "xs.npy" if which == "rb" else "x.npy", "b")
    if status == 0:
        _same_result(d, which, out, rep)
    else:
        assert_one_error(status, lines)


VALUES = st.one_of(st.integers(-2**70, 2**70), st.sampled_from([0, 1, -1, 2, 10**20, True,
                                                                 False, None, "x", 0.5, [],
                                                                 {}, [0] * 16]),
                   st.floats(allow_nan=True), st.text(max_size=5))


@FUZZ
@given(data=st.data(), value=VALUES, which=st.sampled_from(["b", "rb"]),
       drop_checksum=st.booleans())
def test_mutated_manifest_fields(base, tmp_path, data, value, which, drop_checksum):
    """A manifest field set to an arbitrary value, with or without its checksum."""
    d = base
    bundle = tmp_path / "bundle"
    if bundle.exists():
        shutil.rmtree(bundle)
    shutil.copytree(d / which, bundle)
    man = json.loads((bundle / "manifest.json").read_text())
    where = data.draw(st.sampled_from(["hw", "layer", "top", "files"]))
    if where == "hw":
        target = man["hw"]
    elif where == "layer":
        target = man["layers"][data.draw(st.integers(0, len(man["layers"]) - 1))]
    elif where == "files":
        target = man["files"]
    else:
        target = man
    key = data.draw(st.sampled_from(sorted(target)))
    assume(target[key] != value or type(target[key]) is not type(value))
    target[key] = value
    if drop_checksum:
        man.pop("checksum", None)
    (bundle / "manifest.json").write_text(json.dumps(man))
    status, lines, out, rep = _simulate(d, bundle, "xs.npy" if which == "rb" else "x.npy", "m")
    if status == 0:
        # Only a field that cannot matter may be accepted without its checksum.
        assert drop_checksum or key == "checksum", (where, key, value)
        if key not in ("relu", "in_frac", "out_frac", "w_frac", "codebook", "name", "row_perm",
                       "fifo_depth", "acc_width", "compression", "calibration_saturation"):
            _same_result(d, which, out, rep)
    else:
        assert_one_error(status, lines)


@FUZZ
@given(data=st.data(), model=st.sampled_from(["m.npz", "r.npz", "m.safetensors"]))
def test_mutated_model_files(base, tmp_path, data, model):
    """Model files with bytes overwritten or cut: an error line, or (the .npz
    archive checks its members' CRC) the same bundle."""
    d = base
    blob = bytearray((d / model).read_bytes())
    at = data.draw(st.integers(0, len(blob) - 1))
    if data.draw(st.booleans()):
        chunk = data.draw(st.binary(min_size=1, max_size=6))
        blob[at:at + len(chunk)] = chunk
    else:
        del blob[at:]
    path = tmp_path / model
    path.write_bytes(bytes(blob))
    out = tmp_path / "out"
    if out.exists():
        shutil.rmtree(out)
    status, lines = run(["compress", str(path), "-o", str(out), "--pes", "3", "-q"])
    if status == 0:
        assert not lines or all(l.startswith("eie: warning: ") for l in lines), lines
        if model.endswith(".npz"):
            ref = eie.compress(str(d / model), n_pe=3)
            got = eie.Bundle.load(out)
            x = np.ones((2, 4, 6)) if got.recurrent else np.ones((1, 6))
            np.testing.assert_array_equal(eie.infer(got, x), eie.infer(ref, x))
    else:
        assert_one_error(status, lines)


OPTION_VALUES = st.sampled_from(["0", "1", "-1", "3", "0.5", "1.5", "1e9", "nan", "abc", "",
                                 "1,0", "8,8,8", "2,3", "a,b", "99999999999999999999"])
COMPRESS_OPTIONS = ["--pes", "--density", "--prune-scope", "--act-frac", "--relu", "--names",
                    "--acc-width", "--fifo-depth", "--spmat-words", "--ptr-depth",
                    "--act-depth", "--bias-depth", "--saturation-threshold", "--calibrate"]
SIMULATE_OPTIONS = ["--sim", "--saturation-threshold", "--input", "--output", "--report"]


@FUZZ
@given(data=st.data())
def test_random_compress_options(base, tmp_path, data):
    d = base
    opts = data.draw(st.lists(st.sampled_from(COMPRESS_OPTIONS), max_size=4, unique=True))
    argv = ["compress", str(d / data.draw(st.sampled_from(["m.npz", "r.npz"]))), "-o",
            str(tmp_path / "o"), "-q"]
    for opt in opts:
        value = data.draw(OPTION_VALUES)
        if opt == "--calibrate":
            value = str(d / data.draw(st.sampled_from(["x.npy", "xs.npy", "m.npz", "nope.npy"])))
        argv += [opt, value]
    argv += data.draw(st.lists(st.sampled_from(["--balance", "--strict"]), unique=True))
    status, lines = run(argv)
    if status == 0:
        assert all(l.startswith("eie: warning: ") for l in lines), lines
        eie.Bundle.load(tmp_path / "o")
    else:
        assert_one_error(status, lines)


@FUZZ
@given(data=st.data())
def test_random_simulate_options(base, tmp_path, data):
    d = base
    argv = ["simulate", str(d / data.draw(st.sampled_from(["b", "rb", "nowhere", "x.npy"])))]
    opts = data.draw(st.lists(st.sampled_from(SIMULATE_OPTIONS), max_size=5, unique=True))
    for opt in opts:
        if opt == "--input":
            value = str(d / data.draw(st.sampled_from(["x.npy", "xs.npy", "m.npz", "b", "no"])))
        elif opt in ("--output", "--report"):
            value = str(data.draw(st.sampled_from([tmp_path / "y.npy", tmp_path, d / "b"])))
        elif opt == "--sim":
            value = data.draw(st.sampled_from(["golden", "modelsim", ""]))
        else:
            value = data.draw(OPTION_VALUES)
        argv += [opt, value]
    argv += data.draw(st.lists(st.sampled_from(["--raw", "--strict", "-q"]), unique=True))
    status, lines = run(argv)
    if status == 0:
        assert all(l.startswith("eie: warning: ") for l in lines), lines
    else:
        assert_one_error(status, lines)
