"""``eie run`` and ``eie.host.Board`` end to end against a board on a
pseudo-terminal (the gateware in Amaranth's simulator behind the bridge's byte
protocol): the same outputs and cycle counters as ``eie simulate``, and a
bundle compiled for other memories refused."""

import json

import numpy as np
import pytest
from serial_standin import SerialStandIn

import eie
from eie.errors import EieError
from eie.host import Board, program_command
from eie.main import main

pytest.importorskip("serial")


@pytest.fixture
def fc_model(tmp_path):
    rng = np.random.default_rng(21)
    np.savez(tmp_path / "m.npz", w0=np.where(rng.random((6, 5)) < .6, rng.normal(0, .5, (6, 5)), 0),
             b0=rng.normal(0, .1, 6), w1=rng.normal(0, .5, (3, 6)))
    np.save(tmp_path / "x.npy", rng.normal(size=(2, 5)))
    return tmp_path


def _compare(tmp_path, bundle_dir, x):
    for tag, cmd in (("g", ["simulate"]), ):
        assert main([*cmd, str(bundle_dir), "--input", str(x), "--output",
                     str(tmp_path / f"{tag}.npy"), "--report", str(tmp_path / f"{tag}.json"),
                     "-q"]) == 0
    ours, golden = np.load(tmp_path / "y.npy"), np.load(tmp_path / "g.npy")
    np.testing.assert_array_equal(ours, golden)
    run, sim = (json.loads((tmp_path / f"{t}.json").read_text()) for t in ("r", "g"))
    assert run["per_input"] == sim["per_input"]
    assert [l["cycles"] for l in run["layers"]] == [l["cycles"] for l in sim["layers"]]
    assert run["golden_match"] and run["cycle_model_match"] and run["sim"] == "board"
    return run


def test_eie_run_mlp(fc_model):
    d = fc_model
    assert main(["compress", str(d / "m.npz"), "-o", str(d / "b"), "--pes", "2", "-q"]) == 0
    bundle = eie.Bundle.load(d / "b")
    with SerialStandIn(bundle.hw) as dev:
        assert main(["run", str(d / "b"), "--port", dev, "--input", str(d / "x.npy"),
                     "--output", str(d / "y.npy"), "--report", str(d / "r.json"), "-q"]) == 0
    run = _compare(d, d / "b", d / "x.npy")
    assert run["board"]["n_pe"] == 2 and run["board"]["max_layers"] == 8


def test_eie_run_lstm_sequences(tmp_path):
    from test_lstm import lstm_model
    rng = np.random.default_rng(2)
    model = lstm_model(rng, sizes=(4, 3, 2, 2))
    bundle = eie.compress(model, n_pe=2, fifo_depth=2)
    bundle.save(tmp_path / "b")
    np.save(tmp_path / "x.npy", rng.normal(size=(2, 3, 4)))
    with SerialStandIn(bundle.hw) as dev:
        assert main(["run", str(tmp_path / "b"), "--port", dev, "--input",
                     str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"), "--report",
                     str(tmp_path / "r.json"), "-q"]) == 0
    run = _compare(tmp_path, tmp_path / "b", tmp_path / "x.npy")
    assert len(run["per_step"]) == 2 and len(run["per_step"][0]) == 3


def test_mismatched_bundle_is_refused(fc_model, capsys):
    """The bitstream's memories (read from INFO registers) differ from the
    bundle's: one line naming the parameter and both values."""
    d = fc_model
    assert main(["compress", str(d / "m.npz"), "-o", str(d / "small"), "--pes", "2", "-q"]) == 0
    assert main(["compress", str(d / "m.npz"), "-o", str(d / "big"), "--pes", "2", "-q",
                 "--spmat-words", "64", "--act-depth", "16"]) == 0
    board_hw = eie.Bundle.load(d / "big").hw
    small = eie.Bundle.load(d / "small")
    with SerialStandIn(board_hw) as dev:
        with pytest.raises(EieError, match=r"the accelerator's spmat_words is 64, the bundle's "
                                           r"\d+: compile the model for the bitstream"):
            Board(dev, small)
        assert main(["run", str(d / "small"), "--port", dev, "--input", str(d / "x.npy"),
                     "--output", str(d / "y.npy"), "-q"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "spmat_words is 64" in err[0]
        # Compiled for the board's configuration, it runs.
        (d / "hw.json").write_text(json.dumps({"hw": board_hw.to_json()}))
        assert main(["compress", str(d / "m.npz"), "-o", str(d / "fit"), "--config",
                     str(d / "hw.json"), "-q"]) == 0
        assert main(["run", str(d / "fit"), "--port", dev, "--input", str(d / "x.npy"),
                     "--output", str(d / "y.npy"), "-q"]) == 0


def test_compress_for_a_board_matches_synth(tmp_path, fc_model, capsys):
    from eie.gen.fpga import board_hw
    d = fc_model
    assert main(["compress", str(d / "m.npz"), "-o", str(d / "b"), "--board", "ulx3s-85f",
                 "--pes", "4", "-q"]) == 0
    assert eie.Bundle.load(d / "b").hw == board_hw("ulx3s-85f", 4)
    assert main(["compress", str(d / "m.npz"), "-o", str(d / "c"), "--board", "ulx3s-85f",
                 "--spmat-words", "64"]) == 1
    assert "fixed by --board" in capsys.readouterr().err


def test_program_command(tmp_path, monkeypatch, capsys):
    assert program_command("x.bit", loader="openFPGALoader") == \
        ["openFPGALoader", "-b", "ulx3s", "x.bit"]
    assert program_command("x.bit", flash=True, loader="L")[-2:] == ["-f", "x.bit"]
    bit = tmp_path / "top.bit"
    bit.write_bytes(b"\xff" * 16)
    # A stand-in openFPGALoader on PATH records its arguments.
    fake = tmp_path / "bin" / "openFPGALoader"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path / 'args'}\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}:/usr/bin:/bin")
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))
    assert main(["program", str(bit), "-q"]) == 0
    assert (tmp_path / "args").read_text().split() == ["-b", "ulx3s", str(bit)]
    assert main(["program", str(tmp_path / "none.bit")]) == 1
    assert "no such bitstream" in capsys.readouterr().err
