"""Models in: ONNX graphs as PyTorch's exporter writes them (checked against
onnxruntime), safetensors in PyTorch's names, .npz, and what is refused."""

import pickle

import numpy as np
import pytest

import eie
from eie.errors import ModelError
from eie.gen.model import save_safetensors
from eie.main import main

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def f32(a):
    return np.asarray(a, dtype=np.float32)


def init(name, a):
    return numpy_helper.from_array(f32(a) if np.asarray(a).dtype.kind == "f" else np.asarray(a),
                                   name)


def save(path, nodes, inputs, outputs, inits):
    graph = helper.make_graph(nodes, "g", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return str(path)


def rel_rms(a, b):
    return float(np.sqrt(np.mean((a - b) ** 2)) / np.sqrt(np.mean(b ** 2)))


def run_ort(path, x):
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: f32(x)})[0]


def tensor(name, shape):
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, shape)


def mlp_gemm(path, rng, trans_b_last=0):
    """Flatten -> Gemm(transB=1) -> Relu -> Gemm(transB=0 or 1), as torch.onnx exports nn.Linear."""
    w0, b0 = rng.normal(0, .4, (16, 12)), rng.normal(0, .1, 16)
    w1, b1 = rng.normal(0, .4, (5, 16)), rng.normal(0, .1, 5)
    nodes = [helper.make_node("Flatten", ["x"], ["flat"], name="/Flatten", axis=1),
             helper.make_node("Gemm", ["flat", "fc1.weight", "fc1.bias"], ["h"], name="/fc1/Gemm",
                              transB=1),
             helper.make_node("Relu", ["h"], ["hr"], name="/relu/Relu"),
             helper.make_node("Gemm", ["hr", "fc2.weight", "fc2.bias"], ["y"], name="/fc2/Gemm",
                              transB=trans_b_last)]
    inits = [init("fc1.weight", w0), init("fc1.bias", b0),
             init("fc2.weight", w1 if trans_b_last else w1.T), init("fc2.bias", b1)]
    return save(path, nodes, [tensor("x", ["N", 3, 4])], [tensor("y", ["N", 5])], inits)


@pytest.mark.parametrize("trans_b", [0, 1])
def test_onnx_gemm_mlp_matches_onnxruntime(tmp_path, rng, trans_b):
    path = mlp_gemm(tmp_path / "m.onnx", rng, trans_b)
    model = eie.load_model(path)
    assert model.relu == [True, False]
    assert model.names == ["_fc1_Gemm", "_fc2_Gemm"]
    x = rng.normal(size=(6, 3, 4))
    np.testing.assert_allclose(model.forward(x.reshape(6, 12)), run_ort(path, x), atol=1e-5)
    bundle = eie.compress(path, n_pe=4, calibration=x.reshape(6, 12))
    assert [l.relu for l in bundle.layers] == [True, False]
    y = eie.infer(bundle, x.reshape(6, 12))
    assert rel_rms(y, run_ort(path, x)) < 0.2     # 15 shared weights per layer


def test_onnx_matmul_add_mlp(tmp_path, rng):
    w0, b0 = rng.normal(0, .4, (10, 8)), rng.normal(0, .1, 10)
    w1 = rng.normal(0, .4, (3, 10))
    nodes = [helper.make_node("MatMul", ["x", "w0"], ["m0"], name="mm0"),
             helper.make_node("Add", ["b0", "m0"], ["a0"], name="add0"),
             helper.make_node("Relu", ["a0"], ["r0"], name="relu0"),
             helper.make_node("MatMul", ["r0", "w1"], ["y"], name="mm1")]
    path = save(tmp_path / "mm.onnx", nodes, [tensor("x", ["N", 8])], [tensor("y", ["N", 3])],
                [init("w0", w0.T), init("b0", b0), init("w1", w1.T)])
    model = eie.load_model(path)
    assert model.relu == [True, False] and model.biases[1] is None
    x = rng.normal(size=(5, 8))
    np.testing.assert_allclose(model.forward(x), run_ort(path, x), atol=1e-5)


def lstm_linear(path, rng, I=6, H=5, O=3, direction="forward", use_yh=False, h0=None):
    """LSTM (ONNX gate order i, o, f, c) + Squeeze + Linear, as torch.onnx exports
    nn.LSTM followed by nn.Linear on its output sequence; zero initial state made
    from the input's shape."""
    dirs = 2 if direction == "bidirectional" else 1
    W = rng.normal(0, .5, (dirs, 4 * H, I))
    R = rng.normal(0, .5, (dirs, 4 * H, H))
    B = rng.normal(0, .2, (dirs, 8 * H))
    wl, bl = rng.normal(0, .5, (O, H)), rng.normal(0, .1, O)
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"], name="/Shape"),
        helper.make_node("Gather", ["shape", "one_scalar"], ["batch"], name="/Gather", axis=0),
        helper.make_node("Unsqueeze", ["batch", "zero_axis"], ["batch1"], name="/Unsqueeze"),
        helper.make_node("Concat", ["dirs", "batch1", "hidden"], ["state_shape"], name="/Concat",
                         axis=0),
        helper.make_node("ConstantOfShape", ["state_shape"], ["h0"], name="/ConstantOfShape"),
        helper.make_node("LSTM", ["x", "W", "R", "B", "", h0 or "h0", "h0"],
                         ["Y", "Y_h", "Y_c"], name="/lstm/LSTM", hidden_size=H,
                         direction=direction),
        helper.make_node("Squeeze", ["Y_h" if use_yh else "Y", "one"], ["Ys"], name="/Squeeze"),
        helper.make_node("MatMul", ["Ys", "wl"], ["m"], name="/fc/MatMul"),
        helper.make_node("Add", ["m", "bl"], ["y"], name="/fc/Add"),
    ]
    inits = [init("W", W), init("R", R), init("B", B), init("wl", wl.T), init("bl", bl),
             init("one", np.array([1], dtype=np.int64)),
             init("one_scalar", np.array(1, dtype=np.int64)),
             init("zero_axis", np.array([0], dtype=np.int64)),
             init("dirs", np.array([dirs], dtype=np.int64)),
             init("hidden", np.array([H], dtype=np.int64))]
    if h0 and h0 != "h0":
        inits.append(init(h0, np.full((1, 1, H), 0.5)))
    return save(path, nodes, [tensor("x", ["T", "N", I])], [tensor("y", ["T", "N", O])], inits)


def test_onnx_lstm_linear_matches_onnxruntime(tmp_path, rng):
    path = lstm_linear(tmp_path / "lstm.onnx", rng)
    model = eie.load_model(path)
    assert isinstance(model.weights[0], eie.LSTM) and model.relu == [False, False]
    x = rng.normal(size=(7, 2, 6))          # ONNX: (T, batch, I)
    want = run_ort(path, x)                 # (T, batch, O)
    got = model.forward(x.transpose(1, 0, 2)).transpose(1, 0, 2)
    np.testing.assert_allclose(got, want, atol=1e-5)
    bundle = eie.compress(path, n_pe=3, calibration=x.transpose(1, 0, 2))
    assert [l.kind for l in bundle.layers] == ["lstm", "fc"]
    y = eie.infer(bundle, x.transpose(1, 0, 2)).transpose(1, 0, 2)
    assert rel_rms(y, want) < 0.2


def _one_line(capsys, argv):
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("eie: error: "), err
    return err[0]


def test_onnx_refusals(tmp_path, rng, capsys):
    out = str(tmp_path / "b")
    path = lstm_linear(tmp_path / "bi.onnx", rng, direction="bidirectional")
    assert "direction=bidirectional" in _one_line(capsys, ["compress", path, "-o", out])
    path = lstm_linear(tmp_path / "yh.onnx", rng, use_yh=True)
    assert "Y_h" in _one_line(capsys, ["compress", path, "-o", out])
    path = lstm_linear(tmp_path / "h0.onnx", rng, h0="h_init")
    assert "initial_h must be zero" in _one_line(capsys, ["compress", path, "-o", out])
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["h"], name="fc", transB=1),
             helper.make_node("Sigmoid", ["h"], ["y"], name="act")]
    path = save(tmp_path / "sig.onnx", nodes, [tensor("x", ["N", 4])], [tensor("y", ["N", 3])],
                [init("w", rng.normal(size=(3, 4))), init("b", np.zeros(3))])
    line = _one_line(capsys, ["compress", path, "-o", out])
    assert "node 'act' (Sigmoid)" in line and "not supported" in line
    (tmp_path / "junk.onnx").write_bytes(b"\x08\x01garbage" * 10)
    assert "not an ONNX model" in _one_line(capsys, ["compress", str(tmp_path / "junk.onnx"),
                                                     "-o", out])


def test_safetensors_pytorch_names(tmp_path, rng):
    """fc -> 2-layer nn.LSTM -> head, in module order (not alphabetical)."""
    fc_w, fc_b = rng.normal(0, .4, (6, 4)), rng.normal(0, .1, 6)
    t = {"fc.weight": fc_w, "fc.bias": fc_b}
    for k, i in ((0, 6), (1, 5)):
        t.update({f"lstm.weight_ih_l{k}": rng.normal(0, .4, (20, i)),
                  f"lstm.weight_hh_l{k}": rng.normal(0, .4, (20, 5)),
                  f"lstm.bias_ih_l{k}": rng.normal(0, .1, 20),
                  f"lstm.bias_hh_l{k}": rng.normal(0, .1, 20)})
    t.update({"head.weight": rng.normal(0, .4, (2, 5)), "head.bias": np.zeros(2)})
    save_safetensors(tmp_path / "m.safetensors", {k: f32(v) for k, v in t.items()})
    model = eie.load_model(tmp_path / "m.safetensors")
    assert model.names == ["fc", "lstm.l0", "lstm.l1", "head"]
    assert [type(w).__name__ for w in model.weights] == ["ndarray", "LSTM", "LSTM", "ndarray"]
    np.testing.assert_array_equal(model.weights[2].w_ih, f32(t["lstm.weight_ih_l1"]))
    bundle = eie.compress(model, n_pe=2)
    assert [l.relu for l in bundle.layers] == [True, False, False, False]   # FCs but the last
    assert [l.name for l in bundle.layers] == model.names
    x = rng.normal(size=(3, 4))
    assert eie.infer(bundle, x).shape == (3, 2)
    # The same through the command line, and an LSTMCell's names.
    assert main(["compress", str(tmp_path / "m.safetensors"), "-o", str(tmp_path / "b"),
                 "-q"]) == 0
    cell = {"cell.weight_ih": f32(rng.normal(size=(8, 3))),
            "cell.weight_hh": f32(rng.normal(size=(8, 2)))}
    save_safetensors(tmp_path / "c.safetensors", cell)
    assert eie.load_model(tmp_path / "c.safetensors").weights[0].hidden == 2


def test_safetensors_npz_names_and_dtypes(tmp_path, rng):
    w0 = rng.normal(size=(3, 4))
    save_safetensors(tmp_path / "m.safetensors", {"w0": w0, "b0": np.ones(3)})
    model = eie.load_model(tmp_path / "m.safetensors")
    np.testing.assert_array_equal(model.weights[0], w0)
    # bfloat16: the upper half of a float32.
    raw = f32([[1.5, -2.0], [0.25, 3.0]]).view(np.uint32) >> 16
    blob = raw.astype("<u2").tobytes()
    header = b'{"w0":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]}}'
    (tmp_path / "bf.safetensors").write_bytes(len(header).to_bytes(8, "little") + header + blob)
    np.testing.assert_array_equal(eie.load_model(tmp_path / "bf.safetensors").weights[0],
                                  [[1.5, -2.0], [0.25, 3.0]])


def test_refused_files(tmp_path, rng, capsys):
    out = str(tmp_path / "b")
    (tmp_path / "m.pt").write_bytes(pickle.dumps({"fc.weight": [1.0]}))
    line = _one_line(capsys, ["compress", str(tmp_path / "m.pt"), "-o", out])
    assert "pickle" in line and "safetensors" in line and "onnx" in line
    save_safetensors(tmp_path / "conv.safetensors",
                     {"conv.weight": f32(np.zeros((4, 2, 3))), "conv.bias": f32(np.zeros(4))})
    assert "'conv.weight'" in _one_line(capsys, ["compress", str(tmp_path / "conv.safetensors"),
                                                 "-o", out])
    save_safetensors(tmp_path / "bi.safetensors",
                     {"l.weight_ih_l0_reverse": f32(np.zeros((8, 2)))})
    assert "bidirectional" in _one_line(capsys, ["compress", str(tmp_path / "bi.safetensors"),
                                                 "-o", out])
    save_safetensors(tmp_path / "odd.safetensors", {"running_mean": f32(np.zeros(3))})
    assert "'running_mean'" in _one_line(capsys, ["compress",
                                                  str(tmp_path / "odd.safetensors"), "-o", out])
    (tmp_path / "t.safetensors").write_bytes((1000).to_bytes(8, "little") + b"{}")
    assert "runs past the end" in _one_line(capsys, ["compress",
                                                     str(tmp_path / "t.safetensors"), "-o", out])
    np.save(tmp_path / "a.npy", np.zeros((3, 3)))
    assert "single .npy" in _one_line(capsys, ["compress", str(tmp_path / "a.npy"), "-o", out])
    with pytest.raises(ModelError, match="no such file"):
        eie.load_model(tmp_path / "missing.onnx")
