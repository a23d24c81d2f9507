"""The generated Verilog under cocotb (Icarus and Verilator) against the models."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import random_layers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import eie
from eie.config import HwConfig
from eie.gen.verilog import generate
from eie.hw.geometry import bias_in_act_memory
from eie.main import main
from eie.sim import cycle_model, golden, rtl

SIMS = [pytest.param("icarus", marks=pytest.mark.skipif(
            shutil.which("iverilog") is None, reason="iverilog not installed")),
        "verilator"]


@pytest.fixture(scope="module")
def model():
    rng = np.random.default_rng(7)
    w, b = random_layers(rng, [45, 33, 19, 10], density=0.3)
    b[1] = None   # one layer without bias
    # 64 rows: the accumulators are read as block RAM (smaller memories, as
    # in test_rtl_large_array and the random models, as LUT RAM).
    bundle = eie.compress(w, b, n_pe=5, fifo_depth=2, relu=[True, False, False], act_depth=64)
    x = rng.normal(size=(3, 45)) * (rng.random((3, 45)) < 0.6)
    x[1] = 0      # all-zero input
    x[2] *= 40    # saturates
    codes = golden.quantize_input(bundle, x)[0]
    return bundle, codes


def _check(bundle, codes, y, cycles, layer_cycles):
    acts = golden.forward(bundle, codes)
    np.testing.assert_array_equal(y, acts[-1])
    for b, items in enumerate(cycle_model.run_cycles(bundle, acts)):
        assert layer_cycles[b].tolist() == [i.cycles for i in items]
        assert cycles[b] == sum(i.cycles for i in items) + cycle_model.RUN_OVERHEAD


@pytest.mark.parametrize("sim", SIMS)
def test_rtl_matches_models(sim, model):
    bundle, codes = model
    _check(bundle, codes, *rtl.run(bundle, codes, sim))


@pytest.mark.parametrize("sim", SIMS)
def test_rtl_large_array(sim):
    # Above 16 PEs: the group registers and the scanner's groups (values kept
    # and picked next to their PEs, host reads two cycles longer), 3 groups,
    # the last one partial.  The memories are shaped as on the 32-PE board:
    # 32 rows of 36-bit accumulators, the bias rows in the activation memory.
    rng = np.random.default_rng(19)
    w, b = random_layers(rng, [50, 41, 7], density=0.4)
    bundle = eie.compress(w, b, n_pe=19, fifo_depth=2, act_depth=32, acc_width=36,
                          bias_depth=100)
    assert bias_in_act_memory(bundle.hw)
    x = rng.normal(size=(2, 50)) * (rng.random((2, 50)) < 0.7)
    codes = golden.quantize_input(bundle, x)[0]
    _check(bundle, codes, *rtl.run(bundle, codes, sim))


def test_rtl_baked_model(model):
    bundle, codes = model
    _check(bundle, codes, *rtl.run(bundle, codes, "verilator", bake=True))


def test_cli_simulate_verilator_report(tmp_path, model):
    bundle, codes = model
    bundle.save(tmp_path / "b")
    np.save(tmp_path / "x.npy", codes.astype(np.int16))
    assert main(["simulate", str(tmp_path / "b"), "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "y.npy"), "--raw", "--sim", "verilator",
                 "--report", str(tmp_path / "r.json"), "-q"]) == 0
    assert main(["simulate", str(tmp_path / "b"), "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "g.npy"), "--raw",
                 "--report", str(tmp_path / "g.json"), "-q"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), np.load(tmp_path / "g.npy"))
    rtl_report = json.loads((tmp_path / "r.json").read_text())
    model_report = json.loads((tmp_path / "g.json").read_text())
    assert rtl_report["cycles"] == model_report["cycles"]
    assert [l["cycles"] for l in rtl_report["layers"]] == \
        [l["cycles"] for l in model_report["layers"]]
    assert rtl_report["golden_match"] and rtl_report["cycle_model_match"]


@pytest.fixture(scope="module")
def lstm_bundle():
    """fc (ReLU) -> LSTM -> fc, the LSTM's input width not a multiple of the PEs
    (so the layer in front writes local rows that hold h columns), balanced."""
    from test_lstm import lstm_model
    rng = np.random.default_rng(11)
    bundle = eie.compress(lstm_model(rng, sizes=(9, 7, 6, 4), density=0.5), n_pe=3,
                          fifo_depth=2, balance=True)
    x = rng.normal(size=(2, 5, 9)) * (rng.random((2, 5, 9)) < 0.6)
    x[1, 2] = 0       # an all-zero step
    return bundle, x


@pytest.mark.parametrize("sim", SIMS)
def test_rtl_lstm_sequences_match_models(sim, lstm_bundle):
    """Every step of every sequence: outputs bit for bit, cycles per step and
    per layer as the cycle model says."""
    bundle, x = lstm_bundle
    y_golden, golden_report = eie.simulate(bundle, x, raw=False)
    y, report = eie.simulate(bundle, x, sim=sim)
    assert report["golden_match"] and report["cycle_model_match"]
    np.testing.assert_array_equal(y, y_golden)
    assert report["per_step"] == golden_report["per_step"]
    assert [l["cycles"] for l in report["layers"]] == \
        [l["cycles"] for l in golden_report["layers"]]


def test_verilator_lint_clean():
    for hw in (HwConfig(n_pe=1, spmat_words=16, ptr_depth=16, act_depth=8),
               HwConfig(n_pe=6, spmat_words=100, ptr_depth=50, act_depth=12, bias_depth=7,
                        acc_width=40, fifo_depth=3),
               HwConfig(n_pe=19, spmat_words=16, ptr_depth=16, act_depth=8),
               # The bias rows in the activation memory (as at 32 PEs on the board).
               HwConfig(n_pe=2, spmat_words=16, ptr_depth=16, act_depth=32, acc_width=36,
                        bias_depth=100)):
        assert rtl.lint(generate(hw)) == []


def test_generate_cli(tmp_path, model, capsys):
    bundle, _ = model
    bundle.save(tmp_path / "b")
    out = tmp_path / "eie.v"
    assert main(["generate", str(tmp_path / "b"), "--bake", "-o", str(out)]) == 0
    text = out.read_text()
    assert "module eie_top" in text
    assert main(["generate", "--pes", "3", "--act-depth", "64", "-o", str(out), "-q"]) == 0
    assert main(["generate", str(tmp_path / "b"), "--pes", "3", "-o", str(out)]) == 1
    assert "the bundle fixes" in capsys.readouterr().err
    assert main(["generate", "--bake", "-o", str(out)]) == 1
    (tmp_path / "bad.json").write_text("{\"n_pe\": 4}")
    assert main(["generate", "--config", str(tmp_path / "bad.json"), "-o", str(out)]) == 1
    assert "lacks" in capsys.readouterr().err


# Large enough for any model drawn below: 3 layers of up to 39 rows on 3 PEs
# need 39 bias words and 120 pointers.
FIXED_HW = dict(n_pe=3, fifo_depth=2, spmat_words=256, ptr_depth=128, act_depth=16,
                bias_depth=64)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**31), n_layers=st.integers(1, 3),
       density=st.sampled_from([0.05, 0.3, 0.9]), act_density=st.sampled_from([0.1, 0.5, 1.0]),
       bias=st.booleans())
def test_verilator_differential(seed, n_layers, density, act_density, bias):
    # One hardware configuration (one cached build); the models vary and are
    # loaded through the host port.
    rng = np.random.default_rng(seed)
    sizes = [int(s) for s in rng.integers(1, 40, n_layers + 1)]
    w, b = random_layers(rng, sizes, density=density, bias=bias)
    bundle = eie.compress(w, b, **FIXED_HW)
    x = rng.normal(size=(2, sizes[0])) * (rng.random((2, sizes[0])) < act_density)
    codes = golden.quantize_input(bundle, x)[0]
    _check(bundle, codes, *rtl.run(bundle, codes, "verilator"))


@pytest.mark.skipif(shutil.which("iverilog") is None, reason="needs iverilog")
def test_concurrent_builds_share_the_cache(tmp_path, monkeypatch):
    """A build of a configuration another process is building waits for it
    (the cache directory's lock), then finds it cached."""
    import hashlib
    import subprocess
    import sys
    import time
    text = generate(HwConfig(n_pe=1, spmat_words=16, ptr_depth=16, act_depth=8))
    (tmp_path / "top.v").write_text(text)
    script = ("import sys; from pathlib import Path; from eie.sim import rtl; "
              "print(rtl.build('icarus', Path(sys.argv[1]).read_text()))")
    cache = tmp_path / "cache"
    monkeypatch.setenv("EIE_CACHE_DIR", str(cache))
    key = hashlib.sha256(text.encode()).hexdigest()[:20]
    cache.mkdir()
    with rtl._locked(cache / f"icarus-{key}.lock"):     # "another process" building
        proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "top.v")],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        time.sleep(3)
        assert proc.poll() is None                        # it waits
        assert not (cache / f"icarus-{key}").exists()
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert (Path(out.strip()) / "eie-built").exists()
    assert rtl.build("icarus", text) == Path(out.strip())   # cached
