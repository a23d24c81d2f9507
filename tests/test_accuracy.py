"""Your own model: --eval shows the accuracy kept, --retrain keeps it, the demo
takes your model, and messages point at the fix."""

import json

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from eie.errors import InputError
from eie.gen.evaluate import Task, load_data
from eie.gen.retrain import train_mlp
from eie.main import main


def _user_model(tmp_path, loader, n_out, seed=0):
    """An MLP trained on a scikit-learn data set, saved as a user would."""
    d = loader()
    xtr, xte, ytr, yte = train_test_split(d.data, d.target, test_size=0.3, random_state=seed)
    sc = StandardScaler().fit(xtr)
    xtr, xte = sc.transform(xtr), sc.transform(xte)
    rng = np.random.default_rng(seed)
    ws = [rng.normal(0, np.sqrt(2 / xtr.shape[1]), (32, xtr.shape[1])),
          rng.normal(0, np.sqrt(2 / 32), (n_out, 32))]
    bs = [np.zeros(32), np.zeros(n_out)]
    train_mlp(xtr, ytr, ws, bs, 150, rng, loss="multiclass" if n_out > 1 else "binary")
    np.savez(tmp_path / "m.npz", w0=ws[0], b0=bs[0], w1=ws[1], b1=bs[1])
    np.savez(tmp_path / "test.npz", x=xte, y=yte)
    np.savez(tmp_path / "train.npz", x=xtr, y=ytr)
    np.save(tmp_path / "xtr.npy", xtr)
    return tmp_path


@pytest.mark.parametrize("loader,n_out", [(load_wine, 3), (load_breast_cancer, 1)])
def test_eval_and_retrain(tmp_path, capsys, loader, n_out):
    d = _user_model(tmp_path, loader, n_out)
    args = ["compress", str(d / "m.npz"), "--density", "0.1", "--eval", str(d / "test.npz"),
            "--calibrate", str(d / "xtr.npy"), "--pes", "4"]
    assert main([*args, "-o", str(d / "b"), "--json", str(d / "one.json")]) == 0
    one = json.loads((d / "one.json").read_text())["evaluation"]
    assert one["task"] == ("binary" if n_out == 1 else "multiclass")
    assert one["float"] > 0.9
    err = capsys.readouterr().err
    if one["drop"] > 0.02:
        assert "eie: warning: accuracy fell from" in err
    assert main([*args, "-o", str(d / "r"), "--retrain", str(d / "train.npz"), "-q",
                 "--json", str(d / "re.json")]) == 0
    re = json.loads((d / "re.json").read_text())["evaluation"]
    assert re["float"] == one["float"]
    assert re["compressed"] > one["compressed"] - 1e-9     # retraining keeps more
    assert re["compressed"] >= re["float"] - 0.06
    assert re["saturation"][0]["name"] == "input"
    from eie import Bundle
    layers = Bundle.load(d / "r").meta["compression"]
    assert all(s["codebook_mode"] == "exact" for s in layers)
    assert sum(s["nnz"] for s in layers) <= 0.1 * sum(s["weights"] for s in layers) + 2


def test_demo_with_a_binary_classifier(tmp_path):
    from eie.demo import run_demo
    d = _user_model(tmp_path, load_breast_cancer, 1)
    res = run_demo(out_dir=tmp_path / "out", n_pe=2, model=str(d / "m.npz"),
                   data=str(d / "test.npz"), sim="none", density=0.5, log=lambda *a: None)
    assert res["title"].startswith("m 30-32-1")
    assert res["float_accuracy"] > 0.9          # a binary classifier, not an argmax of one column
    assert abs(res["compressed_accuracy"] - res["pruned_accuracy"]) < 0.05
    assert res["density"] <= 0.51


def test_tasks_and_data_messages(tmp_path):
    assert Task.of(np.array([0, 1, 1]), 1).kind == "binary"
    assert Task.of(np.array([0, 2]), 3).kind == "multiclass"
    assert Task.of(np.array([0.5, 1.25]), 1).kind == "regression"
    assert Task("regression").score(np.array([[1.0], [3.0]]), np.array([1.0, 1.0])) == \
        pytest.approx(np.sqrt(2))
    assert Task("binary").score(np.array([[-1.0], [2.0]]), np.array([0, 1])) == 1.0
    with pytest.raises(InputError, match="labels must be in"):
        Task.of(np.array([0, 5]), 3)
    np.savez(tmp_path / "d.npz", a=np.ones(3))
    with pytest.raises(InputError, match="needs arrays x and y .*it has a"):
        load_data(tmp_path / "d.npz")
    np.save(tmp_path / "d.npy", np.ones(3))
    with pytest.raises(InputError, match="not a single array"):
        load_data(tmp_path / "d.npy")


def test_transposed_weights_hint(tmp_path, capsys):
    np.savez(tmp_path / "t.npz", w0=np.ones((13, 32)), b0=np.ones(32), w1=np.ones((32, 3)))
    assert main(["compress", str(tmp_path / "t.npz"), "-o", str(tmp_path / "b")]) == 1
    assert "weights are out x in" in capsys.readouterr().err
    np.savez(tmp_path / "t2.npz", w0=np.ones((32, 13)), w1=np.ones((32, 3)))
    assert main(["compress", str(tmp_path / "t2.npz"), "-o", str(tmp_path / "b")]) == 1
    assert "transposed" in capsys.readouterr().err
