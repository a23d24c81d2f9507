"""Every fault a careless or hostile user reported: one clear line or a correct
result, never a traceback and never a silently different output."""

import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

import eie
from eie.errors import (BundleError, EieError, InputError, ModelError, SaturationError,
                        SaturationWarning)
from eie.main import main


@pytest.fixture
def work(tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    np.savez(tmp_path / "m.npz", w0=rng.normal(0, .3, (8, 5)), b0=rng.normal(0, .1, 8),
             w1=rng.normal(0, .3, (3, 8)))
    monkeypatch.chdir(tmp_path)
    assert main(["compress", "m.npz", "-o", "b", "-q"]) == 0
    return tmp_path


def one_line(capsys, argv, status=1):
    assert main(argv) == status
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("eie: error: "), err
    return err[0]


# -- sparse inputs: canonical, duplicates summed ------------------------------------------

def test_duplicate_and_unsorted_sparse_entries_are_summed():
    dense = np.zeros((6, 4))
    dense[0, 0] = 0.75
    dense[5, 3] = -0.5
    dense[2, 1] = 0.25
    # (0, 0) given twice (0.5 + 0.25), unsorted, one explicit zero.
    rows, cols = np.array([5, 0, 2, 0, 3]), np.array([3, 0, 1, 0, 2])
    vals = np.array([-0.5, 0.5, 0.25, 0.25, 0.0])
    coo = sp.coo_matrix((vals, (rows, cols)), shape=(6, 4))
    csr = sp.csr_matrix((vals, cols, [0, 2, 2, 3, 4, 4, 5]), shape=(6, 4))  # not canonical
    csr = sp.csr_matrix((vals[[1, 3, 2, 4, 0]], cols[[1, 3, 2, 4, 0]], [0, 2, 2, 3, 4, 4, 5]),
                        shape=(6, 4))
    assert not csr.has_canonical_format
    want = eie.compress([dense], None, n_pe=2, act_frac=8)
    x = np.array([[1.0, 2.0, -1.0, 0.5]])
    for w in (coo, csr, coo.tocsc(), csr.tocsc()):
        got = eie.compress([w], None, n_pe=2, act_frac=8)
        assert got.layers[0].matrix().toarray().tolist() == \
            want.layers[0].matrix().toarray().tolist()
        np.testing.assert_array_equal(eie.infer(got, x), eie.infer(want, x))


# -- saturation --------------------------------------------------------------------------

def test_saturating_inputs_warn_and_strict_refuses(work, capsys):
    np.save("big.npy", np.full((2, 5), 1000.0))
    assert main(["simulate", "b", "--input", "big.npy", "--output", "y.npy", "-q"]) == 0
    err = capsys.readouterr().err
    assert "eie: warning: 10 of 10 input values (100.00%) saturate at 8 fractional bits; " \
           "5 fractional bits would hold them" in err
    line = one_line(capsys, ["simulate", "b", "--input", "big.npy", "--output", "y.npy",
                             "--strict"])
    assert "saturate" in line
    # A threshold above what saturates: quiet.
    assert main(["simulate", "b", "--input", "big.npy", "--output", "y.npy", "-q",
                 "--saturation-threshold", "1"]) == 0
    assert "warning" not in capsys.readouterr().err


def test_saturation_in_the_api_and_at_calibration(work):
    bundle = eie.Bundle.load("b")
    with pytest.warns(SaturationWarning, match="input values"):
        _, report = eie.simulate(bundle, np.full(5, 500.0))
    assert report["saturation"][0]["saturated"] == 5 and report["saturation"][0]["fits_frac"] == 6
    with pytest.raises(SaturationError):
        eie.simulate(bundle, np.full(5, 500.0), strict=True)
    model = eie.load_model("m.npz")
    calib = np.random.default_rng(0).normal(size=(50, 5))
    b = eie.compress(model, calibration=calib)          # calibrated: nothing saturates
    assert all(s["saturated"] == 0 for s in b.meta["calibration_saturation"])


# -- outputs, bundles on disk ------------------------------------------------------------

def test_output_goes_exactly_where_asked(work, capsys):
    np.save("x.npy", np.ones((1, 5)))
    assert main(["simulate", "b", "--input", "x.npy", "--output", "y.out", "-q"]) == 0
    assert os.path.exists("y.out") and not os.path.exists("y.out.npy")
    assert np.load("y.out").shape == (1, 3)
    os.mkdir("outdir")
    assert "outdir: is a directory" in one_line(
        capsys, ["simulate", "b", "--input", "x.npy", "--output", "outdir"])
    assert not os.path.exists("outdir.npy")


def test_compress_refuses_a_directory_that_is_not_a_bundle(work, capsys):
    os.mkdir("project")
    (work / "project" / "manifest.json").write_text('{"name": "my app"}')
    assert "not an EIE bundle" in one_line(capsys, ["compress", "m.npz", "-o", "project"])
    assert (work / "project" / "manifest.json").read_text() == '{"name": "my app"}'
    assert main(["compress", "m.npz", "-o", "b", "-q", "--pes", "2"]) == 0     # a bundle: ok
    assert eie.Bundle.load("b").n_pe == 2


def test_raw_inputs_must_be_int16(work, capsys):
    np.save("u.npy", np.full((1, 5), 2**64 - 1, dtype=np.uint64))
    line = one_line(capsys, ["simulate", "b", "--input", "u.npy", "--output", "y.npy", "--raw"])
    assert "18446744073709551615 is outside int16" in line
    np.save("f.npy", np.full((1, 5), 40000.0))
    assert "outside int16" in one_line(capsys, ["simulate", "b", "--input", "f.npy",
                                                "--output", "y.npy", "--raw"])


def test_input_npz_and_objects(work, capsys):
    np.savez("d.npz", x=np.ones((2, 5)), y=np.ones(2))
    assert "an .npz archive of 2 arrays" in one_line(
        capsys, ["simulate", "b", "--input", "d.npz", "--output", "y.npy"])
    np.savez("one.npz", x=np.ones((2, 5)))
    assert main(["simulate", "b", "--input", "one.npz", "--output", "y.npy", "-q"]) == 0
    np.save("obj.npy", np.array([None, 1], dtype=object), allow_pickle=True)
    assert "not a NumPy .npy file" in one_line(
        capsys, ["simulate", "b", "--input", "obj.npy", "--output", "y.npy"])


# -- model files -------------------------------------------------------------------------

def _npz_with(path, **arrays):
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize("make,msg", [
    (lambda p: np.savez(p, w0=np.array([[None, 1]], dtype=object)), r"cannot be read|dtype"),
    (lambda p: p.write_bytes(open(_npz_with(p, w0=np.ones((3, 4))), "rb").read()[:60]),
     "not a NumPy .npz file"),
    (lambda p: _corrupt_member(_npz_with(p, w0=np.ones((3, 4)))), "cannot be read"),
    (lambda p: np.save(str(p) + ".npy", np.ones(3)) or os.rename(str(p) + ".npy", p),
     "single .npy array"),
])
def test_bad_model_files(work, capsys, make, msg):
    path = work / "bad.npz"
    make(path)
    import re
    assert re.search(msg, one_line(capsys, ["compress", str(path), "-o", "out"]))


def _corrupt_member(path):
    """Flip bytes inside the stored member (a bad CRC)."""
    data = bytearray(open(path, "rb").read())
    with zipfile.ZipFile(path) as z:
        info = z.infolist()[0]
    start = info.header_offset + 30 + len(info.filename) + 80
    data[start:start + 8] = b"\xff" * 8
    open(path, "wb").write(bytes(data))


# -- options -----------------------------------------------------------------------------

@pytest.mark.parametrize("args,msg", [
    (["--names", "only"], "1 layer names for 2 layers"),
    (["--names", "a,b,c"], "3 layer names for 2 layers"),
    (["--acc-width", "0"], r"acc_width \(--acc-width\)=0 is out of range"),
    (["--acc-width", "-5"], r"acc_width \(--acc-width\)=-5 is out of range"),
    (["--act-frac", "3", "--calibrate", "c.npy"], "not allowed with argument"),
    (["--calibrate", "s.npy"], "calibration inputs must be real numbers"),
    (["--calibrate", "z.npy"], r"calibration inputs must have shape \(batch, 5\)"),
    (["--calibrate", "c128.npy"], "calibration inputs must be real numbers"),
    (["--density", "0"], r"\(--density\) 0.0 must be in"),
])
def test_bad_compress_options(work, capsys, args, msg):
    np.save("c.npy", np.ones((3, 5)))
    np.save("s.npy", np.array([["a"] * 5]))
    np.save("z.npy", np.zeros((0, 5)))
    np.save("c128.npy", np.ones((2, 5), dtype=complex))
    import re
    line = one_line(capsys, ["compress", "m.npz", "-o", "out", *args],
                    status=2 if "not allowed" in msg else 1)
    assert re.search(msg, line), line


@pytest.mark.parametrize("args,msg", [
    (["--baud", "-1"], "must be a positive rate"),
    (["--baud", "0"], "must be a positive rate"),
    (["--baud", "50000000"], "too fast"),
    (["--baud", "7000000"], "more than 2% off"),
    (["--max-layers", "0"], "the layer table holds 1 to"),
    (["--pes", "0"], "must be a positive number of PEs"),
    (["--board", "de10"], "unknown board 'de10'"),
])
def test_bad_synth_options(tmp_path, capsys, args, msg):
    argv = ["synth", "--board", "ulx3s-85f", "--build-dir", str(tmp_path / "d"), *args]
    if "--board" in args:
        argv = ["synth", "--build-dir", str(tmp_path / "d"), *args]
    assert msg in one_line(capsys, argv)
    assert not (tmp_path / "d").exists()


def test_usage_errors_are_one_line(capsys):
    line = one_line(capsys, ["compress"], status=2)
    assert "eie compress" in line
    one_line(capsys, ["simulate", "b", "--sim", "modelsim", "--input", "x", "--output", "y"],
             status=2)


# -- the Python API ----------------------------------------------------------------------

def test_api_errors_are_eie_errors(work):
    bundle = eie.Bundle.load("b")
    with pytest.raises(InputError, match="must be an eie.Bundle or a bundle directory"):
        eie.simulate(None, np.ones(5))
    y_path, _ = eie.simulate("b", np.ones(5))          # a path where a Bundle belongs
    np.testing.assert_array_equal(y_path, eie.simulate(bundle, np.ones(5))[0])
    with pytest.raises(BundleError, match="not a bundle directory"):
        eie.infer("nowhere", np.ones(5))
    with pytest.raises(InputError, match="not a rectangular array"):
        eie.infer(bundle, [[1, 2, 3, 4, 5], [1]])
    with pytest.raises(ModelError, match="unknown argument pes"):
        eie.compress([np.ones((2, 3))], pes=2)
    with pytest.raises(ModelError, match=r"n_pe \(--pes\) must be an integer"):
        eie.compress([np.ones((2, 3))], n_pe=2.5)
    b = eie.compress([np.ones((2, 3))], n_pe=np.int64(2), density=np.float32(0.5),
                     fifo_depth=np.int32(4))
    assert b.n_pe == 2 and b.hw.fifo_depth == 4
    with pytest.raises(ModelError, match="not a rectangular array"):
        eie.compress([[[1, 2], [3]]])
    for err in (BundleError, InputError, ModelError, SaturationError):
        assert issubclass(err, EieError)


def test_cache_dir_with_whitespace(tmp_path):
    """Verilator (GNU Make) cannot build under a path with spaces: such a cache
    is kept in the temporary directory, and the run works."""
    env = dict(os.environ, EIE_CACHE_DIR=str(tmp_path / "my cache"))
    code = ("import numpy as np, eie; b = eie.compress([np.eye(3)], None, n_pe=1); "
            "print(eie.simulate(b, np.ones(3), sim='verilator')[1]['golden_match'])")
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0 and proc.stdout.strip() == "True", proc.stderr[-2000:]


def test_manifest_edit_is_named(work, capsys):
    path = work / "b" / "manifest.json"
    man = json.loads(path.read_text())
    man["hw"]["n_pe"] = 4
    path.write_text(json.dumps(man))
    np.save("x.npy", np.ones((1, 5)))
    line = one_line(capsys, ["simulate", "b", "--input", "x.npy", "--output", "y.npy"])
    assert "manifest.json: edited since the bundle was written" in line
    del man["checksum"]           # the edit accepted: the file table still tells
    path.write_text(json.dumps(man))
    line = one_line(capsys, ["simulate", "b", "--input", "x.npy", "--output", "y.npy"])
    assert '"files"' in line and "n_pe=4" in line
