"""The bundle on disk (DESIGN.md section 4): round trip, independent reader, corruption."""

import json
import os

import numpy as np
import pytest
import reference
from conftest import random_layers

import eie
from eie.errors import BundleError, CapacityError
from eie.sim import golden


@pytest.fixture
def saved(tmp_path, rng):
    w, b = random_layers(rng, [37, 29, 12, 5], density=0.3)
    b[1] = None
    bundle = eie.compress(w, b, n_pe=5, balance=True, act_frac=7)
    path = str(tmp_path / "model.eie")
    bundle.save(path)
    return bundle, path


def test_round_trip(saved):
    bundle, path = saved
    back = eie.Bundle.load(path)
    assert back.hw == bundle.hw
    for a, b in zip(bundle.layers, back.layers):
        assert a.manifest_entry() == b.manifest_entry()
        assert all(np.array_equal(x, y) for x, y in zip(a.entries, b.entries))
        assert np.array_equal(a.ptr, b.ptr)
        assert (a.bias is None and b.bias is None) or np.array_equal(a.bias, b.bias)


def test_manifest_matches_contract(saved):
    _, path = saved
    with open(os.path.join(path, "manifest.json")) as f:
        man = json.load(f)
    assert man["format"] == "eie-bundle" and man["version"] == 1
    assert set(man["hw"]) >= {"n_pe", "spmat_words", "ptr_depth", "act_depth", "acc_width",
                              "fifo_depth"}
    for l, layer in enumerate(man["layers"]):
        assert len(layer["codebook"]) == 16 and layer["codebook"][0] == 0
        assert layer["bias"] in (None, f"bias_l{l}.npy")
        if layer["bias"]:
            assert np.load(os.path.join(path, layer["bias"])).dtype == np.int64
    for k in range(man["hw"]["n_pe"]):
        with open(os.path.join(path, f"spmat_pe{k}.hex")) as f:
            lines = f.read().split("\n")
        assert lines[-1] == "" and all(len(x) == 16 for x in lines[:-1])


def test_independent_reader_and_golden(saved, rng):
    bundle, path = saved
    _, layers = reference.read_bundle(path)
    x = rng.integers(-300, 300, (6, bundle.n_in))
    x[0] = 0
    x[1, ::2] = 0
    ours = golden.run(bundle, x)
    for b in range(x.shape[0]):
        assert ours[b].tolist() == reference.golden(layers, x[b].tolist())


def _edit_manifest(path, fn):
    mpath = os.path.join(path, "manifest.json")
    with open(mpath) as f:
        man = json.load(f)
    fn(man)
    with open(mpath, "w") as f:
        json.dump(man, f)


def _set(d, key, value):
    d[key] = value


@pytest.mark.parametrize("corrupt,msg", [
    (lambda p: os.remove(os.path.join(p, "manifest.json")), "manifest.json: missing"),
    (lambda p: open(os.path.join(p, "manifest.json"), "w").write("{nope"), "not valid JSON"),
    (lambda p: os.remove(os.path.join(p, "spmat_pe3.hex")), "spmat_pe3.hex: missing"),
    (lambda p: open(os.path.join(p, "ptr_pe1.hex"), "a").write("xyz\n"),
     r"ptr_pe1.hex: line \d+ \('xyz'\) is not hexadecimal"),
    (lambda p: open(os.path.join(p, "spmat_pe0.hex"), "w").write("00\n"), "points past the end"),
    (lambda p: np.save(os.path.join(p, "bias_l0.npy"), np.zeros(3, np.int64)),
     "bias_l0.npy: expected an integer vector of length 29"),
    (lambda p: _edit_manifest(p, lambda m: _set(m["layers"][1], "n_in", 30)),
     "n_in=30 does not chain with layer fc1.s n_out=29"),
    (lambda p: _edit_manifest(p, lambda m: _set(m["layers"][2], "codebook", [1] * 16)),
     "codebook must be 16 int16 values with entry 0 equal to 0"),
    (lambda p: _edit_manifest(p, lambda m: _set(m["layers"][2], "in_frac", 3)),
     "in_frac=3 differs from layer fc2's out_frac"),
    (lambda p: _edit_manifest(p, lambda m: _set(m["layers"][0], "row_perm", [0] * 29)),
     "row_perm is not a permutation"),
    (lambda p: _edit_manifest(p, lambda m: _set(m, "format", "zip")), '"format" is not'),
    (lambda p: _edit_manifest(p, lambda m: _set(m["hw"], "n_pe", 0)), r"n_pe=0 is out of range"),
    (lambda p: _edit_manifest(p, lambda m: _set(m["hw"], "spmat_words", 2)),
     "needs sparse-matrix words"),
])
def test_corrupt_bundles(saved, corrupt, msg):
    _, path = saved
    corrupt(path)
    with pytest.raises((BundleError, CapacityError), match=msg):
        eie.Bundle.load(path)


def test_flipped_entry_is_caught_or_decodes(saved):
    """A flipped byte either fails the checks or decodes to a valid (different) matrix."""
    bundle, path = saved
    p = os.path.join(path, "spmat_pe0.hex")
    with open(p) as f:
        lines = f.read().split()
    lines[0] = "f" * 16
    with open(p, "w") as f:
        f.write("\n".join(lines) + "\n")
    with pytest.raises(BundleError, match="layer fc1: PE 0"):
        eie.Bundle.load(path)
