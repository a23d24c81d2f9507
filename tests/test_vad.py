"""silero-vad end to end: the NumPy model against silero's ONNX model, and the
LSTM cell on EIE (golden, cycle model and Verilator) within the decision bar."""

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
try:
    from eie.vad import (FRAME, SAMPLE_RATE, SileroVad, onnx_probabilities, onnx_weights,
                         run_vad_demo, silero_data_dir, speech_audio)
    silero_data_dir()
except Exception as e:     # noqa: BLE001  (the package's weights are not installed)
    pytest.skip(f"silero-vad weights not installed: {e}", allow_module_level=True)


@pytest.fixture(scope="module")
def audio():
    return speech_audio(seed=3, sentences=("Voice activity on a sparse accelerator.",))


def test_speech_audio(audio):
    samples, speech = audio
    assert samples.dtype == np.float64 and np.abs(samples).max() <= 1
    assert speech.size == samples.size // FRAME
    assert 0.2 < speech.mean() < 0.9
    assert samples.size / SAMPLE_RATE > 2


def test_numpy_model_equals_silero_onnx(audio):
    """Same weights (read from silero's ONNX file), same audio: the NumPy
    reimplementation computes what onnxruntime computes."""
    samples, _ = audio
    ours = SileroVad(onnx_weights()).probabilities(samples)
    theirs = onnx_probabilities(samples)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, atol=1e-5)


def test_lstm_on_eie_keeps_the_decisions(tmp_path):
    res = run_vad_demo(out_dir=tmp_path / "b", n_pe=8, density=0.3, sim="verilator",
                       rtl_frames=8, log=lambda *a: None)
    assert res["eie_layers"] == ["lstm"]
    assert res["layer_density"][0] <= 0.3
    assert res["decision_agreement"] >= 0.98
    assert res["numpy_vs_onnx_same_weights"]["max_abs_diff"] < 1e-5
    assert res["rtl_frames"] == 8          # bit- and cycle-exact, or it raises
    assert res["real_time_factor"] > 1
    assert res["runs_per_frame"] == 1
