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


@pytest.mark.parametrize("corrupt,msg", [
    # Every data file is checksummed: a change is named, whatever it is.
    (lambda p: open(os.path.join(p, "spmat_pe2.hex"), "a").write("0" * 16 + "\n"),
     "spmat_pe2.hex: changed since the bundle was written"),
    (lambda p: np.save(os.path.join(p, "bias_l2.npy"), np.full(12, 2**63 - 1, np.int64)),
     "bias_l2.npy: changed since"),
    (lambda p: os.remove(os.path.join(p, "ptr_pe4.hex")), "ptr_pe4.hex: missing"),
    # The table must match n_pe: an edited PE count is caught.
    (lambda p: _edit_manifest(p, lambda m: _set(m["hw"], "n_pe", 2)),
     r'"files" lists ptr_pe2.hex.*n_pe=2'),
    (lambda p: _edit_manifest(p, lambda m: _set(m, "files", {"a": 1})), '"files" must map'),
])
def test_checksums(saved, corrupt, msg):
    _, path = saved
    corrupt(path)
    with pytest.raises(BundleError, match=msg):
        eie.Bundle.load(path)


def test_manifest_checksum(saved):
    _, path = saved
    mpath = os.path.join(path, "manifest.json")
    with open(mpath) as f:
        man = json.load(f)
    man["layers"][0]["relu"] = not man["layers"][0]["relu"]     # a valid, different model
    with open(mpath, "w") as f:
        json.dump(man, f)
    with pytest.raises(BundleError, match="edited since the bundle was written"):
        eie.Bundle.load(path)
    with open(mpath, "w") as f:       # reformatted, not changed: still loads
        json.dump({**man, "layers": [{**man["layers"][0], "relu": not man["layers"][0]["relu"]}]
                   + man["layers"][1:]}, f, indent=4)
    eie.Bundle.load(path)


def test_spmat_lines_are_whole_words(saved):
    _, path = saved
    _edit_manifest(path, lambda m: m.pop("files"))
    p = os.path.join(path, "spmat_pe1.hex")
    with open(p) as f:
        lines = f.read().split()
    with open(p, "w") as f:
        f.write("\n".join(x[1:] for x in lines) + "\n")
    with pytest.raises(BundleError, match="line 1 has 15 hex digits, expected 16"):
        eie.Bundle.load(path)


@pytest.mark.parametrize("layer,key,value,msg", [
    (0, "n_in", 10**12, r"n_in=1000000000000 is out of range"),
    (0, "n_out", 10**20, "n_out=.* is out of range"),
    (1, "codebook", [0] + [10**20] * 15, "codebook must be 16 int16"),
    (0, "row_perm", [10**20] * 29, "row_perm must be null or a list of 29"),
    (0, "row_perm", [True] * 29, "row_perm must be null or a list of 29"),
    (0, "spmat_base", -1, "spmat_base=-1 is out of range"),
    (0, "bias", "../../etc/passwd", "bias must be null or a file name"),
])
def test_manifest_numbers_are_range_checked(saved, layer, key, value, msg):
    _, path = saved
    _edit_manifest(path, lambda m: m.pop("files"))
    _edit_manifest(path, lambda m: _set(m["layers"][layer], key, value))
    with pytest.raises(BundleError, match=msg):
        eie.Bundle.load(path)


def test_unsigned_bias_beyond_int64(saved):
    _, path = saved
    _edit_manifest(path, lambda m: m.pop("files"))
    np.save(os.path.join(path, "bias_l0.npy"), np.full(29, 2**64 - 1, np.uint64))
    with pytest.raises(BundleError, match="does not fit int64"):
        eie.Bundle.load(path)


def test_atomic_save(saved, tmp_path, monkeypatch):
    """A failed write leaves the old bundle whole; -o refuses other directories."""
    bundle, path = saved
    before = {n: open(os.path.join(path, n), "rb").read() for n in os.listdir(path)}
    from eie.gen import bundle as bundle_mod

    def fail(*a, **k):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(bundle_mod.json, "dump", fail)
    with pytest.raises(OSError):
        bundle.save(path)
    monkeypatch.undo()
    after = {n: open(os.path.join(path, n), "rb").read() for n in os.listdir(path)}
    assert after == before
    assert not [n for n in os.listdir(tmp_path) if n.startswith(".")]    # no leftovers
    eie.Bundle.load(path)
    other = tmp_path / "notes"
    other.mkdir()
    (other / "manifest.json").write_text("{}")
    with pytest.raises(BundleError, match="not an EIE bundle"):
        bundle.save(other)
    assert (other / "manifest.json").read_text() == "{}"
    (tmp_path / "file").write_text("x")
    with pytest.raises(BundleError, match="not a directory"):
        bundle.save(tmp_path / "file")
    (tmp_path / "empty").mkdir()
    bundle.save(tmp_path / "empty")
    bundle.save(path)       # over an existing bundle
    eie.Bundle.load(path)


def _edit_manifest(path, fn):
    """Edit the manifest as a person would, dropping its checksum (else the
    edit itself is what the reader reports)."""
    mpath = os.path.join(path, "manifest.json")
    with open(mpath) as f:
        man = json.load(f)
    man.pop("checksum", None)
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
    (lambda p: open(os.path.join(p, "spmat_pe0.hex"), "w").write("0" * 16 + "\n"),
     "points past the end"),
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
     r"spmat_base=\d+ is out of range \[0, 1\]"),
])
def test_corrupt_bundles(saved, corrupt, msg):
    """What the reader checks by itself, in a bundle without checksums (as
    another writer may make it)."""
    _, path = saved
    _edit_manifest(path, lambda m: m.pop("files"))
    corrupt(path)
    with pytest.raises((BundleError, CapacityError), match=msg):
        eie.Bundle.load(path)


def test_flipped_entry_is_caught_or_decodes(saved):
    """A flipped byte either fails the checks or decodes to a valid (different) matrix."""
    bundle, path = saved
    _edit_manifest(path, lambda m: m.pop("files"))
    p = os.path.join(path, "spmat_pe0.hex")
    with open(p) as f:
        lines = f.read().split()
    lines[0] = "f" * 16
    with open(p, "w") as f:
        f.write("\n".join(lines) + "\n")
    with pytest.raises(BundleError, match="layer fc1: PE 0"):
        eie.Bundle.load(path)
