"""LSTM layers (an EIE layer [W_ih | W_hh] plus the host's gate arithmetic):
compiler, bundle, golden and cycle models, command line and bad input."""

import json

import numpy as np
import pytest

import eie
from eie.errors import BundleError, InputError, ModelError
from eie.main import main
from eie.recurrent import segments
from eie.sim import cycle_model, golden

VALUES = [-1.0, -0.5, -0.25, 0.25, 0.5, 0.75, 1.0]


def lstm_model(rng, sizes=(6, 7, 5, 3), density=0.6, values=None):
    """fc (ReLU) -> LSTM -> fc for sizes (n_in, I, H, n_out)."""
    n_in, i, h, n_out = sizes

    def mat(shape):
        w = rng.choice(values, size=shape) if values else rng.normal(0, 0.5, shape)
        return np.where(rng.random(shape) < density, w, 0.0)

    def vec(n):
        return rng.choice(values, size=n) / 4 if values else rng.normal(0, 0.1, n)

    lstm = eie.LSTM(mat((4 * h, i)), mat((4 * h, h)), vec(4 * h), vec(4 * h))
    return eie.Model([mat((i, n_in)), lstm, mat((n_out, h))], [vec(i), None, vec(n_out)])


def contract_reference(model, frac, w_fracs, x):
    """DESIGN.md section 7 written out on the float weights (exact at the
    bundle's ``w_fracs``): integers, output stage, host gate arithmetic."""
    def stage(acc, shift, relu):
        y = (acc + (1 << (shift - 1))) >> shift if shift else acc
        y = np.clip(y, -32768, 32767)
        return np.maximum(y, 0) if relu else y

    w0, lstm, w2 = model.weights
    b0, _, b2 = model.biases
    ints = [np.asarray(w) * 2 ** wf for w, wf in zip((w0, lstm.matrix(), w2), w_fracs)]
    assert all(np.array_equal(w, np.round(w)) for w in ints)
    ints = [w.astype(np.int64) for w in ints]
    bias = [np.round(np.asarray(b) * 2 ** (frac + wf)).astype(np.int64)
            for b, wf in zip((b0, lstm.bias(), b2), w_fracs)]
    s0, s1, s2 = w_fracs
    hidden = lstm.hidden
    out = []
    for seq in x:
        h = np.zeros(hidden, dtype=np.int64)
        c = np.zeros(hidden)
        ys = []
        for xt in seq:
            a = np.clip(np.round(xt * 2 ** frac), -32768, 32767).astype(np.int64)
            a = stage(ints[0] @ a + bias[0], s0, True)
            z = stage(ints[1] @ np.concatenate([a, h]) + bias[1], s1, False) / 2.0 ** frac
            i, f, g, o = np.split(z, 4)
            sig = lambda v: 1 / (1 + np.exp(-v))        # noqa: E731
            c = sig(f) * c + sig(i) * np.tanh(g)
            hf = sig(o) * np.tanh(c)
            h = np.clip(np.round(hf * 2 ** frac), -32768, 32767).astype(np.int64)
            ys.append(stage(ints[2] @ h + bias[2], s2, False))
        out.append(ys)
    return np.array(out)


@pytest.mark.parametrize("n_pe,balance", [(1, False), (3, False), (4, True)])
def test_golden_equals_the_contract(rng, n_pe, balance):
    model = lstm_model(rng, values=VALUES)
    bundle = eie.compress(model, n_pe=n_pe, act_frac=8, balance=balance)
    assert [l.kind for l in bundle.layers] == ["fc", "lstm", "fc"]
    assert all(l.extra.get("codebook_mode", "exact") for l in bundle.layers)
    x = rng.normal(0, 1, (3, 6, 6)) * (rng.random((3, 6, 6)) < 0.7)
    want = contract_reference(model, 8, [l.w_frac for l in bundle.layers], x)
    got = eie.infer(bundle, x, raw=False)
    np.testing.assert_array_equal(np.round(got * 256).astype(np.int64), want)
    single = eie.infer(bundle, x[1])
    np.testing.assert_array_equal(single, got[1])


def test_compressed_lstm_tracks_the_float_model(rng):
    model = lstm_model(rng, sizes=(10, 12, 8, 4), density=1.0)
    x = rng.normal(0, 1, (4, 9, 10))
    bundle = eie.compress(model, n_pe=4, calibration=x)
    y = eie.infer(bundle, x)

    def rel_rms(a, b):
        return np.sqrt(np.mean((a - b) ** 2)) / np.sqrt(np.mean(b ** 2))

    # Against the float model with the bundle's shared weights: fixed point only.
    shared = []
    for layer in bundle.layers:
        w = layer.matrix().toarray() / 2.0 ** layer.w_frac
        b = layer.bias / 2.0 ** (layer.in_frac + layer.w_frac)
        shared.append((eie.LSTM(w[:, :-layer.hidden], w[:, -layer.hidden:], b), None)
                      if layer.is_lstm else (w, b))
    y_shared = eie.Model(*zip(*shared)).forward(x)
    assert y.shape == y_shared.shape == (4, 9, 4)
    assert rel_rms(y, y_shared) < 0.02
    # Against the original float model: weight sharing (15 values) costs more.
    assert rel_rms(y, model.forward(x)) < 0.25


def test_lstm_layout_and_manifest(tmp_path, rng):
    model = lstm_model(rng)
    bundle = eie.compress(model, n_pe=2, act_frac=[8, 9, 10, 11])
    lstm = bundle.layers[1]
    assert (lstm.n_in, lstm.n_out, lstm.hidden, lstm.relu) == (7 + 5, 20, 5, False)
    # One codebook over [W_ih | W_hh]; the next layer reads h at the LSTM's in_frac.
    assert bundle.layers[2].in_frac == lstm.in_frac == 9
    assert lstm.out_frac == 10
    bundle.save(tmp_path / "b")
    spec = json.loads((tmp_path / "b" / "manifest.json").read_text())["layers"]
    assert (spec[1]["kind"], spec[1]["hidden"]) == ("lstm", 5)
    assert "kind" not in spec[0]
    again = eie.Bundle.load(tmp_path / "b")
    x = rng.normal(size=(2, 3, 6))
    np.testing.assert_array_equal(eie.infer(again, x), eie.infer(bundle, x))


def test_lstm_first_and_last_layers(rng):
    """An LSTM alone: the input is x_t (I wide) and the output h (H wide)."""
    lstm = eie.LSTM(rng.normal(0, .5, (12, 4)), rng.normal(0, .5, (12, 3)))
    bundle = eie.compress([lstm], None, n_pe=2)
    assert (bundle.n_in, bundle.n_out) == (4, 3)
    x = rng.normal(size=(5, 4))
    y, report = eie.simulate(bundle, x)
    assert y.shape == (5, 3) and np.abs(y).max() <= 1
    assert report["steps"] == 5 and len(report["per_step"][0]) == 5
    np.testing.assert_allclose(y, eie.Model([lstm], [None]).forward(x[None])[0], atol=0.1)


def test_cycle_report_counts_every_step(rng):
    bundle = eie.compress(lstm_model(rng), n_pe=3)
    x = rng.normal(size=(2, 4, 6))
    _, report = eie.simulate(bundle, x)
    codes = golden.quantize_input(bundle, x)[0]
    _, acts = golden.forward_sequence(bundle, codes)
    runs = len(segments(bundle.layers))
    assert runs == 3 and report["runs_per_step"] == 3
    for b in range(2):
        for t in range(4):
            layers = [cycle_model.layer_cycles(layer, bundle.hw, acts[t][l][b])
                      for l, layer in enumerate(bundle.layers)]
            assert report["per_step"][b][t] == sum(i.cycles for i in layers) + \
                runs * cycle_model.RUN_OVERHEAD
    assert report["cycles"] == sum(map(sum, report["per_step"]))
    assert report["per_input"] == [sum(s) for s in report["per_step"]]
    assert sum(l["cycles"] for l in report["layers"]) + 2 * 4 * runs == report["cycles"]


def test_segments():
    class L:
        def __init__(self, kind):
            self.kind = kind
    assert segments([L("fc"), L("fc")]) == [(0, 1)]
    assert segments([L("lstm")]) == [(0, 0)]
    assert segments([L("fc"), L("lstm"), L("fc"), L("fc"), L("lstm")]) == \
        [(0, 0), (1, 1), (2, 3), (4, 4)]


def test_npz_model_and_cli(tmp_path, rng):
    model = lstm_model(rng)
    (w0, lstm, w2), (b0, _, b2) = model
    np.savez(tmp_path / "m.npz", w0=w0, b0=b0, wih1=lstm.w_ih, whh1=lstm.w_hh, bih1=lstm.b_ih,
             bhh1=lstm.b_hh, w2=w2, b2=b2)
    loaded = eie.load_model(tmp_path / "m.npz")
    assert isinstance(loaded.weights[1], eie.LSTM) and loaded.weights[1].hidden == 5
    x = rng.normal(size=(2, 5, 6))
    np.save(tmp_path / "x.npy", x)
    assert main(["compress", str(tmp_path / "m.npz"), "-o", str(tmp_path / "b"), "--pes", "2",
                 "--calibrate", str(tmp_path / "x.npy"), "-q"]) == 0
    assert main(["simulate", str(tmp_path / "b"), "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "y.npy"), "--report", str(tmp_path / "r.json"),
                 "-q"]) == 0
    y = np.load(tmp_path / "y.npy")
    assert y.shape == (2, 5, 3)
    report = json.loads((tmp_path / "r.json").read_text())
    assert len(report["per_step"]) == 2 and report["steps"] == 5
    np.save(tmp_path / "one.npy", x[0])
    assert main(["simulate", str(tmp_path / "b"), "--input", str(tmp_path / "one.npy"),
                 "--output", str(tmp_path / "y1.npy"), "-q"]) == 0
    np.testing.assert_array_equal(np.load(tmp_path / "y1.npy"), y[0])
    # --raw keeps codes in and out.
    codes = golden.quantize_input(eie.Bundle.load(tmp_path / "b"), x)[0]
    np.save(tmp_path / "c.npy", codes.astype(np.int16))
    assert main(["simulate", str(tmp_path / "b"), "--input", str(tmp_path / "c.npy"),
                 "--output", str(tmp_path / "yc.npy"), "--raw", "-q"]) == 0
    yc = np.load(tmp_path / "yc.npy")
    assert yc.dtype == np.int16
    np.testing.assert_array_equal(yc / 2.0 ** eie.Bundle.load(tmp_path / "b").out_frac, y)


def _error(capsys, argv):
    assert main(argv) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("eie: error:"), err
    return err[0]


def test_bad_lstm_models(tmp_path, rng, capsys):
    good = lstm_model(rng)
    (w0, lstm, w2), (b0, _, b2) = good
    cases = {
        "whh": (dict(wih1=lstm.w_ih, whh1=lstm.w_hh[:, :4]), "W_hh must be 4H x H"),
        "rows": (dict(wih1=lstm.w_ih[:16], whh1=lstm.w_hh), "both must be 4H"),
        "chain": (dict(wih1=lstm.w_ih[:, :6], whh1=lstm.w_hh), "takes 6 inputs"),
        "nowhh": (dict(wih1=lstm.w_ih), "lacks whh1"),
        "bias": (dict(wih1=lstm.w_ih, whh1=lstm.w_hh, bih1=np.ones(7)), "b_ih must be"),
    }
    for name, (arrays, msg) in cases.items():
        np.savez(tmp_path / f"{name}.npz", w0=w0, b0=b0, w2=w2, b2=b2, **arrays)
        line = _error(capsys, ["compress", str(tmp_path / f"{name}.npz"), "-o",
                               str(tmp_path / name)])
        assert msg in line, (name, line)
    np.savez(tmp_path / "m.npz", w0=w0, wih1=lstm.w_ih, whh1=lstm.w_hh, w2=w2)
    assert "no ReLU" in _error(capsys, ["compress", str(tmp_path / "m.npz"), "-o",
                                        str(tmp_path / "b"), "--relu", "1,1,0"])
    assert main(["compress", str(tmp_path / "m.npz"), "-o", str(tmp_path / "b"), "-q"]) == 0
    for shape, msg in (((6,), "1-D input"), ((4, 5), "per step"), ((2, 4, 7), "per step"),
                       ((2, 0, 6), "T = 0")):
        np.save(tmp_path / "x.npy", np.zeros(shape))
        line = _error(capsys, ["simulate", str(tmp_path / "b"), "--input",
                               str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy")])
        assert msg in line, (shape, line)


def test_corrupt_lstm_manifest(tmp_path, rng):
    eie.compress(lstm_model(rng), n_pe=2).save(tmp_path / "b")
    path = tmp_path / "b" / "manifest.json"
    good = json.loads(path.read_text())
    del good["checksum"]
    for change, msg in ((dict(hidden=4), "hidden"), (dict(hidden=None), "hidden"),
                        (dict(kind="gru"), "kind"), (dict(relu=True), "relu")):
        bad = json.loads(json.dumps(good))
        bad["layers"][1].update(change)
        path.write_text(json.dumps(bad))
        with pytest.raises(BundleError, match=msg):
            eie.Bundle.load(tmp_path / "b")


def test_api_sequences_errors(rng):
    bundle = eie.compress(lstm_model(rng), n_pe=2)
    with pytest.raises(InputError, match="1-D"):
        eie.infer(bundle, np.zeros(6))
    with pytest.raises(ModelError, match="must be None"):
        eie.compress([lstm_model(rng).weights[1]], [np.zeros(20)])
