"""Golden model numerics (DESIGN.md section 2)."""

import numpy as np
import pytest

import eie
from eie.errors import InputError
from eie.sim.golden import output_stage, quantize_input


def test_output_stage_rounding_and_saturation():
    acc = np.array([5, 6, 7, -5, -6, -7, 1 << 40, -(1 << 40), -1])
    assert output_stage(acc, 0, False).tolist() == [5, 6, 7, -5, -6, -7, 32767, -32768, -1]
    # (acc + 2) >> 2, arithmetic: 5->1, 6->2, 7->2, -5->-1, -6->-1, -7->-2, -1->0
    assert output_stage(acc, 2, False).tolist() == [1, 2, 2, -1, -1, -2, 32767, -32768, 0]
    assert output_stage(acc, 2, True).tolist() == [1, 2, 2, 0, 0, 0, 32767, 0, 0]
    assert output_stage(np.array([1, -1, 3]), 1, False).tolist() == [1, 0, 2]


def _bundle():
    return eie.compress([np.eye(4) * 0.5, np.ones((2, 4))], None, n_pe=2, act_frac=4)


def test_input_checks():
    b = _bundle()
    with pytest.raises(InputError, match=r"expected 4 values per vector.*shape \(3,\)"):
        quantize_input(b, np.zeros(3))
    with pytest.raises(InputError, match=r"value \[1, 2\] is nan"):
        quantize_input(b, np.array([[0, 0, 0, 0], [0, 0, np.nan, 0]]))
    with pytest.raises(InputError, match=r"code \[0, 1\] = 40000 is outside int16"):
        quantize_input(b, np.array([0, 40000, 0, 0]), raw=True)
    with pytest.raises(InputError, match="integer codes"):
        quantize_input(b, np.array([0, 0.5, 0, 0]), raw=True)
    codes, single = quantize_input(b, np.array([1.0, -2.0, 1e9, 0.03]))
    assert single and codes.tolist() == [[16, -32, 32767, 0]]


def test_infer_float_and_raw():
    b = _bundle()
    y = eie.infer(b, np.array([1.0, 2.0, -1.0, 0.5]))
    assert y.tolist() == [1.75, 1.75]   # relu on layer 1: [0.5, 1, 0, 0.25] summed
    assert eie.infer(b, np.array([[16, 32, -16, 8]]), raw=True).tolist() == [[28, 28]]
