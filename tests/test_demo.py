"""The end-to-end demo and the benchmark entry points (not timed)."""

import json

import numpy as np
import pytest

from eie.main import main


def test_demo_trains_compresses_and_runs(tmp_path):
    out = tmp_path / "demo.json"
    assert main(["demo", "--out", str(tmp_path / "b"), "--json", str(out), "--seed", "2"]) == 0
    res = json.loads(out.read_text())
    assert res["float_accuracy"] > 0.95
    assert res["compressed_accuracy"] >= res["float_accuracy"] - 0.02
    assert res["compression_ratio"] >= 10
    assert res["density"] <= 0.105
    assert res["cycles_per_inference"] > 0


def test_demo_with_user_model(tmp_path, rng):
    w0, w1 = rng.normal(size=(8, 5)), rng.normal(size=(3, 8))
    np.savez(tmp_path / "m.npz", w0=w0, w1=w1)
    x = rng.normal(size=(20, 5))
    y = np.argmax(np.maximum(x @ w0.T, 0) @ w1.T, axis=1)
    np.savez(tmp_path / "d.npz", x_test=x, y_test=y)
    out = tmp_path / "r.json"
    assert main(["demo", "--model", str(tmp_path / "m.npz"), "--data", str(tmp_path / "d.npz"),
                 "--out", str(tmp_path / "b"), "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["float_accuracy"] == 1.0 and res["compressed_accuracy"] >= 0.9


@pytest.mark.parametrize("args,msg", [
    (["--model", "m.npz"], "--model needs --data"),
    (["--model", "m.npz", "--data", "nope.npz"], "nope.npz: no such file"),
])
def test_demo_errors(tmp_path, rng, capsys, monkeypatch, args, msg):
    monkeypatch.chdir(tmp_path)
    np.savez("m.npz", w0=rng.normal(size=(3, 4)))
    assert main(["demo", *args]) == 1
    assert msg in capsys.readouterr().err


def test_bench_quick(tmp_path):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--no-sklearn", "--json", str(out)]) == 0
    res = json.loads(out.read_text())["compiler"]
    assert res["nnz"] == round(0.04 * res["n_in"] * res["n_out"])
    assert res["cycles"] >= res["ideal_cycles"] > 0
