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
    assert res["compressed_accuracy"] >= res["float_accuracy"] - 0.01
    # The RTL ran the whole test set in Verilator; the demo fails unless its
    # outputs equal the golden model's and its counters the cycle model's.
    assert res["rtl_accuracy"] == res["compressed_accuracy"]
    assert res["rtl_cycles_per_inference"] == res["cycles_per_inference"]
    assert res["compression_ratio"] >= 10
    assert res["density"] <= 0.105
    assert res["cycles_per_inference"] > 0


def test_demo_projects_at_a_synth_report(tmp_path, rng):
    w0 = rng.normal(size=(6, 4))
    np.savez(tmp_path / "m.npz", w0=w0)
    x = rng.normal(size=(10, 4))
    np.savez(tmp_path / "d.npz", x_test=x, y_test=np.argmax(x @ w0.T, axis=1))
    (tmp_path / "synth.json").write_text(json.dumps({"n_pe": 2, "fmax_mhz": 50.0}))
    out = tmp_path / "r.json"
    assert main(["demo", "--model", str(tmp_path / "m.npz"), "--data", str(tmp_path / "d.npz"),
                 "--pes", "2", "--sim", "none", "--fmax-report", str(tmp_path / "synth.json"),
                 "--out", str(tmp_path / "b"), "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert "rtl_accuracy" not in res
    assert res["inferences_per_s"] == pytest.approx(50e6 / res["cycles_per_inference"])


def test_recorded_builds_round_trip(tmp_path):
    from eie.gen.fpga import measured_builds, measured_fmax, record_builds

    path = tmp_path / "rec.json"
    assert measured_fmax(8, path=path) is None
    reports = [{"n_pe": n, "fmax_mhz": 100.0 - n, "luts": 1000 * n} for n in (1, 2, 4)]
    record_builds(reports, path=path, commit="abc", date="2026-01-01")
    ref = measured_fmax(3, path=path)
    assert (ref["n_pe"], ref["fmax_mhz"], ref["date"]) == (2, 98.0, "2026-01-01")
    assert measured_fmax(64, path=path)["n_pe"] == 4
    assert measured_fmax(64, path=path)["commit"] == "abc"
    # Builds of other commits keep theirs; the record then has none of its own.
    reports[2]["commit"] = "def"
    record_builds(reports, path=path, commit="abc", date="2026-01-01")
    assert measured_fmax(64, path=path)["commit"] == "def"
    assert measured_fmax(3, path=path)["commit"] == "abc"
    assert measured_builds(path=path)["commit"] is None
    # A build that missed its target is kept in the record, not used.
    record_builds(reports + [{"n_pe": 8, "fmax_mhz": 57.0, "timing_met": False}], path=path,
                  commit="abc")
    assert measured_fmax(64, path=path)["n_pe"] == 4
    assert measured_builds(path=path)["builds"][-1]["timing_met"] is False


def test_demo_with_user_model(tmp_path, rng):
    w0, w1 = rng.normal(size=(8, 5)), rng.normal(size=(3, 8))
    np.savez(tmp_path / "m.npz", w0=w0, w1=w1)
    x = rng.normal(size=(20, 5))
    y = np.argmax(np.maximum(x @ w0.T, 0) @ w1.T, axis=1)
    np.savez(tmp_path / "d.npz", x_test=x, y_test=y)
    out = tmp_path / "r.json"
    assert main(["demo", "--model", str(tmp_path / "m.npz"), "--data", str(tmp_path / "d.npz"),
                 "--sim", "none", "--out", str(tmp_path / "b"), "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["float_accuracy"] == 1.0 and res["compressed_accuracy"] >= 0.9


@pytest.mark.parametrize("args,msg", [
    (["--model", "m.npz"], "--model needs --data"),
    (["--model", "m.npz", "--data", "nope.npz"], "nope.npz: no such file"),
    (["--fmax-report", "nope.json"], "nope.json: no such file"),
    (["--fmax-report", "m.npz"], "m.npz: not an eie synth report"),
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


def test_bench_studies_and_markdown(tmp_path):
    out = tmp_path / "bench.json"
    md = tmp_path / "BENCHMARKS.md"
    assert main(["bench", "--quick", "--no-sklearn", "--suite", "table3", "--suite",
                 "loadbalance", "--suite", "rowperm", "--suite", "kmeans", "--json", str(out),
                 "--markdown", str(md), "--plots", str(tmp_path / "plots")]) == 0
    res = json.loads(out.read_text())
    for layer in res["loadbalance"]["layers"]:
        assert layer["speedup"][0] == 1.0
        assert all(0 < e <= 1 for e in layer["load_efficiency"] + layer["fifo_load_efficiency"])
        # More PEs never make a layer slower in the cycle model's terms here.
        assert layer["speedup"][3] > 2
    perm = {m["kind"]: m for m in res["rowperm"]["matrices"]}
    assert all(m["same_output"] for m in perm.values())
    assert perm["periodic"]["speedup"] > 1.5 and perm["lognormal"]["speedup"] > 1.2
    for row in res["table3"]["layers"]:
        assert row["us_at_800mhz"] == row["cycles"] / 800
        assert row["numpy_dense_us"] > 0 and row["scipy_sparse_us"] > 0
    assert all(r["kmeans_wcss"] > 0 for r in res["kmeans"]["layers"])
    text = md.read_text()
    assert "## Load balance" in text and "## Offline row permutation" in text
    for png in ("speedup_vs_pes", "load_efficiency_vs_pes", "load_efficiency_vs_fifo",
                "padding_vs_pes", "table3_cycles_over_ideal"):
        assert (tmp_path / "plots" / f"{png}.png").stat().st_size > 1000
        assert f"plots/{png}.png" in text


def test_bench_bad_fpga_pes(capsys):
    assert main(["bench", "--suite", "fpga", "--fpga-pes", "8,x"]) == 1
    assert "--fpga-pes must be a comma-separated list" in capsys.readouterr().err
    assert main(["bench", "--suite", "fpga", "--fpga-pes", "8@2@3"]) == 1
    assert "--fpga-pes must be a comma-separated list" in capsys.readouterr().err
