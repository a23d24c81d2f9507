"""silero-vad on EIE: a real pretrained LSTM, end to end.

silero-vad (MIT, https://github.com/snakers4/silero-vad) ships its 16 kHz
voice-activity model's weights as safetensors.  Per 32 ms frame (512 samples,
plus the 64 samples before them as context) it computes:

1. an STFT magnitude: a reflect pad of 64 samples on the right, a 1-D
   convolution with 258 filters of 256 taps at stride 128 (129 real and 129
   imaginary parts, 4 time steps), ``sqrt(re^2 + im^2)``;
2. four 1-D convolutions with ReLU (129 -> 128, stride 1; 128 -> 64, stride 2;
   64 -> 64, stride 2; 64 -> 128, stride 1; kernel 3, padding 1), which end in
   one time step of 128 features;
3. an LSTM cell (128 inputs, 128 hidden) whose state carries over frames;
4. ReLU, a 1 x 1 convolution to one value and a sigmoid: the frame's speech
   probability.

On EIE, with the frames as the time steps of a sequence: the four
convolutions, lowered to per-frame matrix products over their whole (tiny)
time extent (516 -> 512 -> 128 -> 64 -> 128), and the LSTM cell (one EIE layer
of 512 x 256).  The STFT (its magnitude is not a matrix product) and the
output head (128 values) run on the host in NumPy.

The weights are read from the installed ``silero-vad`` package's data
directory without importing it (its Python code needs PyTorch, which this
project does not): ``pip install --no-deps silero-vad``.
"""

import ctypes
import functools
import importlib.util
import os
from pathlib import Path

import numpy as np

from .errors import EieError
from .gen.model import LSTM, Model, read_safetensors
from .recurrent import lstm_cell, sigmoid

__all__ = ["SAMPLE_RATE", "FRAME", "CONTEXT", "silero_data_dir", "SileroVad", "speech_audio",
           "onnx_probabilities"]

SAMPLE_RATE = 16000
FRAME = 512          #: samples per frame (32 ms)
CONTEXT = 64         #: samples of the previous frame prepended to each frame
_STFT_PAD = 64
_HOP = 128
_CONVS = (("conv1", 1), ("conv2", 2), ("conv3", 2), ("conv4", 1))   # (name, stride)


def silero_data_dir():
    """The installed silero-vad package's data directory (not imported)."""
    spec = importlib.util.find_spec("silero_vad")
    if spec is None or not spec.submodule_search_locations:
        raise EieError("the silero-vad model needs the silero-vad package's weights: "
                       "pip install --no-deps silero-vad (its PyTorch dependency is not used)")
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    if not (data / "silero_vad_16k.safetensors").exists():
        raise EieError(f"{data}: silero_vad_16k.safetensors is missing (silero-vad 5 or later "
                       f"ships it)")
    return data


def _conv_out(t_in, stride):
    return (t_in + 2 - 3) // stride + 1


def _conv_matrix(weight, t_in, stride):
    """A kernel-3, padding-1 1-D convolution as a matrix over the whole time extent:
    ``(c_out * t_out) x (c_in * t_in)``, channel-major on both sides."""
    c_out, c_in, k = weight.shape
    t_out = _conv_out(t_in, stride)
    mat = np.zeros((c_out, t_out, c_in, t_in))
    for t in range(t_out):
        for tap in range(k):
            s = t * stride + tap - 1
            if 0 <= s < t_in:
                mat[:, t, :, s] = weight[:, :, tap]
    return mat.reshape(c_out * t_out, c_in * t_in), t_out


class SileroVad:
    """silero-vad's 16 kHz model in NumPy (float64), and its lowering to EIE layers."""

    def __init__(self, tensors):
        need = ["stft_conv.weight", "lstm_cell.weight_ih", "lstm_cell.weight_hh",
                "lstm_cell.bias_ih", "lstm_cell.bias_hh", "final_conv.weight", "final_conv.bias"]
        need += [f"{n}.{p}" for n, _ in _CONVS for p in ("weight", "bias")]
        missing = [k for k in need if k not in tensors]
        if missing:
            raise EieError(f"silero-vad weights: missing {', '.join(missing)}")
        self.t = {k: np.asarray(v, dtype=np.float64) for k, v in tensors.items()}
        basis = self.t["stft_conv.weight"][:, 0, :]
        self.n_bins = basis.shape[0] // 2
        self.basis = basis

    @classmethod
    def load(cls, data_dir=None):
        data_dir = Path(data_dir) if data_dir else silero_data_dir()
        return cls(read_safetensors(data_dir / "silero_vad_16k.safetensors"))

    # -- the float model ---------------------------------------------------------------

    @staticmethod
    def frames(audio):
        """``(n_frames, CONTEXT + FRAME)`` windows: each frame with its context."""
        audio = np.asarray(audio, dtype=np.float64)
        n = audio.size // FRAME
        padded = np.concatenate([np.zeros(CONTEXT), audio[:n * FRAME]])
        idx = np.arange(n)[:, None] * FRAME + np.arange(CONTEXT + FRAME)[None, :]
        return padded[idx]

    def stft(self, windows):
        """STFT magnitudes ``(n, 129 * 4)``, channel-major: the EIE model's input."""
        x = np.concatenate([windows, windows[:, -2:-_STFT_PAD - 2:-1]], axis=1)  # reflect pad
        n_steps = (x.shape[1] - self.basis.shape[1]) // _HOP + 1
        idx = np.arange(n_steps)[:, None] * _HOP + np.arange(self.basis.shape[1])[None, :]
        spec = np.einsum("nts,cs->nct", x[:, idx], self.basis)
        re, im = spec[:, :self.n_bins], spec[:, self.n_bins:]
        return np.sqrt(re ** 2 + im ** 2).reshape(len(windows), -1)

    def encoder_layers(self):
        """The four convolutions as ``(matrix, bias)`` over one frame's time extent."""
        t_in = 4
        layers = []
        for name, stride in _CONVS:
            w = self.t[f"{name}.weight"]
            mat, t_out = _conv_matrix(w, t_in, stride)
            layers.append((mat, np.repeat(self.t[f"{name}.bias"], t_out)))
            t_in = t_out
        return layers

    def lstm(self):
        return LSTM(self.t["lstm_cell.weight_ih"], self.t["lstm_cell.weight_hh"],
                    self.t["lstm_cell.bias_ih"], self.t["lstm_cell.bias_hh"])

    def eie_model(self):
        """The part EIE runs: four lowered convolutions (ReLU) and the LSTM cell."""
        enc = self.encoder_layers()
        return Model([w for w, _ in enc] + [self.lstm()], [b for _, b in enc] + [None],
                     relu=[True] * len(enc) + [False],
                     names=["conv1", "conv2", "conv3", "conv4", "lstm"])

    def head(self, h):
        """Speech probability from the LSTM's ``h`` (``(..., 128)``)."""
        w = self.t["final_conv.weight"][0, :, 0]
        return sigmoid(np.maximum(h, 0) @ w + self.t["final_conv.bias"][0])

    def probabilities(self, audio):
        """Per-frame speech probability of the float model (NumPy)."""
        features = self.stft(self.frames(audio))
        a = features
        for w, b in self.encoder_layers():
            a = np.maximum(a @ w.T + b, 0)
        lstm = self.lstm()
        w, b = lstm.matrix(), lstm.bias()
        h, c = np.zeros(lstm.hidden), np.zeros(lstm.hidden)
        hs = []
        for x in a:
            h, c = lstm_cell(np.concatenate([x, h]) @ w.T + b, c)
            hs.append(h)
        return self.head(np.array(hs))


def onnx_probabilities(audio, data_dir=None):
    """Per-frame probabilities of silero's own ONNX model in onnxruntime, fed as
    silero's ``OnnxWrapper`` feeds it (context, state carried over)."""
    try:
        import onnxruntime
    except ImportError:
        raise EieError("checking against silero's ONNX model needs onnxruntime "
                       "(pip install onnxruntime)") from None
    data_dir = Path(data_dir) if data_dir else silero_data_dir()
    opts = onnxruntime.SessionOptions()
    opts.inter_op_num_threads = opts.intra_op_num_threads = 1
    sess = onnxruntime.InferenceSession(str(data_dir / "silero_vad.onnx"), sess_options=opts,
                                        providers=["CPUExecutionProvider"])
    state = np.zeros((2, 1, 128), dtype=np.float32)
    sr = np.array(SAMPLE_RATE, dtype=np.int64)
    out = []
    for window in SileroVad.frames(audio).astype(np.float32):
        prob, state = sess.run(None, {"input": window[None], "state": state, "sr": sr})
        out.append(float(prob[0, 0]))
    return np.array(out)


# -- audio ---------------------------------------------------------------------------------

SENTENCES = (
    "The efficient inference engine runs compressed neural networks.",
    "It skips the zero weights and the zero activations.",
    "Sixty four processing elements share one broadcast of activations.",
    "Voice activity detection decides which frames hold speech.",
)


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                             ctypes.c_void_p)
_chunks = []


@_CALLBACK
def _collect(wav, n, events):
    if n > 0:
        _chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
    return 0


@functools.lru_cache(maxsize=None)
def _espeak_lib():
    """The espeak-ng library that the ``espeakng-loader`` package ships (no system
    installation needed), initialised once per process; returns it and its rate."""
    try:
        import espeakng_loader
    except ImportError:
        raise EieError("making speech needs espeakng-loader (pip install espeakng-loader)") \
            from None
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    rate = lib.espeak_Initialize(2, 0, espeakng_loader.get_data_path().encode(), 0)  # synchronous
    if rate <= 0:
        raise EieError("espeak-ng did not start")
    lib.espeak_SetSynthCallback(_collect)
    return lib, rate


def _espeak(text, voice="en"):
    """Speech samples (int16) of ``text`` and their rate."""
    lib, rate = _espeak_lib()
    lib.espeak_SetVoiceByName(voice.encode())
    _chunks.clear()
    data = text.encode() + b"\0"
    lib.espeak_Synth(data, len(data), 0, 1, 0, 0, None, None)
    lib.espeak_Synchronize()
    return np.concatenate(_chunks) if _chunks else np.zeros(0, np.int16), rate


def speech_audio(seed=0, sentences=SENTENCES, noise=0.01):
    """Test audio at 16 kHz: espeak-ng sentences between stretches of silence,
    with white noise over all of it.

    Returns
    -------
    audio : numpy.ndarray
        float64 samples in [-1, 1].
    speech : numpy.ndarray
        Per 32 ms frame, whether espeak-ng was speaking in it (for reference).
    """
    from scipy.signal import resample_poly

    rng = np.random.default_rng(seed)
    parts, truth = [], []
    for text in sentences:
        gap = np.zeros(int(rng.uniform(0.4, 1.2) * SAMPLE_RATE))
        wav, rate = _espeak(text)
        g = np.gcd(SAMPLE_RATE, rate)
        speech = resample_poly(wav / 32768.0, SAMPLE_RATE // g, rate // g) * 0.8
        parts += [gap, speech]
        truth += [np.zeros(gap.size, bool), np.abs(speech) > 0.02]
    parts.append(np.zeros(SAMPLE_RATE // 2))
    truth.append(np.zeros(SAMPLE_RATE // 2, bool))
    audio = np.concatenate(parts)
    audio = np.clip(audio + rng.normal(0, noise, audio.size), -1, 1)
    active = np.concatenate(truth)
    n = audio.size // FRAME
    return audio, active[:n * FRAME].reshape(n, FRAME).any(axis=1)


def save_wav(path, audio):
    """16-bit mono WAV at 16 kHz."""
    import wave
    with wave.open(os.fspath(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SAMPLE_RATE)
        w.writeframes((np.clip(audio, -1, 1) * 32767).astype("<i2").tobytes())


#: Calibration speech (different sentences and noise from the evaluation audio).
CALIBRATION_SENTENCES = (
    "Hello world, this is a test of the voice detector.",
    "Numbers one two three four five six seven.",
    "A quick brown fox jumps over the lazy dog.",
)

_ONNX_NAMES = {"model.stft.forward_basis_buffer": "stft_conv.weight",
               "model.decoder.rnn.weight_ih": "lstm_cell.weight_ih",
               "model.decoder.rnn.weight_hh": "lstm_cell.weight_hh",
               "model.decoder.rnn.bias_ih": "lstm_cell.bias_ih",
               "model.decoder.rnn.bias_hh": "lstm_cell.bias_hh",
               "model.decoder.decoder.2.weight": "final_conv.weight",
               "model.decoder.decoder.2.bias": "final_conv.bias",
               **{f"model.encoder.{i}.reparam_conv.{p}": f"conv{i + 1}.{p}"
                  for i in range(4) for p in ("weight", "bias")}}


def onnx_weights(data_dir=None):
    """The weights inside silero's 16 kHz ONNX model, under the safetensors names."""
    import onnx
    from onnx import numpy_helper
    data_dir = Path(data_dir) if data_dir else silero_data_dir()
    graph = onnx.load(str(data_dir / "silero_vad_16k_op15.onnx")).graph
    return {_ONNX_NAMES[i.name]: numpy_helper.to_array(i) for i in graph.initializer
            if i.name in _ONNX_NAMES}


def _agreement(p, q, threshold=0.5):
    return {"max_abs_diff": float(np.abs(p - q).max()),
            "mean_abs_diff": float(np.abs(p - q).mean()),
            "decision_agreement": float(np.mean((p > threshold) == (q > threshold)))}


def run_vad_demo(out_dir="eie-demo-vad", n_pe=8, density=0.3, sim="verilator", rtl_frames=60,
                 fmax_report=None, convs_on_eie=False, seed=0, log=print, progress=None):
    """silero-vad's LSTM cell (and optionally its convolutions) on EIE.

    The float model is the NumPy reimplementation on the safetensors weights;
    it is first checked against silero's ONNX model in onnxruntime.  The EIE
    layers are pruned to ``density`` with activation-aware selection and a
    least-squares refit (:func:`eie.gen.prune.refit_prune`) on calibration
    speech, their weights shared the same way, compiled, and run on the
    evaluation audio by the golden and cycle models, and the first
    ``rtl_frames`` frames on the generated Verilog (``sim``), which must equal
    the golden model bit for bit and the cycle model cycle for cycle.
    """
    from .api import simulate
    from .demo import fpga_reference
    from .gen import compress, compression_report
    from .gen.prune import refit_prune

    if sim not in ("verilator", "icarus", "none"):
        raise EieError(f"unknown simulator {sim!r}: choose verilator, icarus or none")
    fpga = fpga_reference(n_pe, fmax_report)
    vad = SileroVad.load()
    log("making speech with espeak-ng (espeakng-loader) ...")
    audio, truth = speech_audio(seed)
    calib_audio, _ = speech_audio(seed + 100, CALIBRATION_SENTENCES)
    p_float = vad.probabilities(audio)
    res = {"audio_seconds": audio.size / SAMPLE_RATE, "frames": int(p_float.size),
           "speech_frames": int(truth.sum()), "n_pe": n_pe, "density": density,
           "convs_on_eie": convs_on_eie, "sim": sim}
    try:
        p_onnx = onnx_probabilities(audio)
        same = SileroVad(onnx_weights()).probabilities(audio)
        res["numpy_vs_onnx_same_weights"] = _agreement(same, p_onnx)
        res["safetensors_vs_onnx_checkpoint"] = _agreement(p_float, p_onnx)
    except EieError as e:
        log(f"skipping the onnxruntime check: {e}")

    def encoder(features):
        for w, b in vad.encoder_layers():
            features = np.maximum(features @ w.T + b, 0)
        return features

    feats = vad.stft(SileroVad.frames(audio))
    calib = vad.stft(SileroVad.frames(calib_audio))
    if convs_on_eie:
        model = vad.eie_model()
        densities = [None] * 4 + [density]
    else:
        feats, calib = encoder(feats), encoder(calib)
        model = Model([vad.lstm()], [None], names=["lstm"])
        densities = [density]
    log("pruning (activation-aware, least-squares refit) and sharing weights ...")
    pruned = refit_prune(model, calib[None], densities, share=True)
    bundle = compress(pruned, None, n_pe=n_pe, calibration=calib[None])
    bundle.save(out_dir)
    rep = compression_report(bundle)
    y, cyc = simulate(bundle, feats, progress=progress)
    p_eie = vad.head(y)
    res.update(_agreement(p_eie, p_float))
    res.update({
        "eie_layers": [layer.name for layer in bundle.layers],
        "layer_density": [s["nnz"] / s["weights"] for s in bundle.meta["compression"]],
        "compression_ratio": rep["total"]["ratio"],
        "compression_ratio_huffman": rep["total"]["ratio_huffman"],
        "cycles_per_frame": cyc["cycles"] / res["frames"],
        "max_cycles_per_frame": int(max(cyc["per_step"][0])),
        "runs_per_frame": cyc["runs_per_step"],
        "bundle": os.path.abspath(out_dir),
        "float_speech_fraction": float(np.mean(p_float > 0.5)),
    })
    if sim != "none" and rtl_frames:
        n = min(rtl_frames, res["frames"])
        log(f"running the first {n} frames on the generated Verilog ({sim}) ...")
        y_rtl, rtl = simulate(bundle, feats[:n], sim=sim, bundle_dir=out_dir, progress=progress)
        if not (rtl["golden_match"] and rtl["cycle_model_match"]):
            raise EieError(f"the {sim} RTL differs from the golden or cycle model on the VAD "
                           f"frames (bundle {out_dir}): a hardware bug, please report it")
        res["rtl_frames"] = n
        res["rtl_cycles"] = rtl["cycles"]
    if fpga is not None:
        frame_s = FRAME / SAMPLE_RATE
        seconds = res["cycles_per_frame"] / (fpga["fmax_mhz"] * 1e6)
        res["fpga"] = {"n_pe": fpga["n_pe"], "fmax_mhz": fpga["fmax_mhz"],
                       "source": fpga.get("source") or f"recorded build ({fpga.get('date')})"}
        res["us_per_frame"] = seconds * 1e6
        res["real_time_factor"] = frame_s / seconds
    return res


def format_vad(res, console):
    from rich.table import Table
    table = Table(title="EIE demo: silero-vad (16 kHz) with its "
                        + ("convolutions and LSTM" if res["convs_on_eie"] else "LSTM cell")
                        + " on EIE", title_justify="left")
    table.add_column("figure")
    table.add_column("value", justify="right")
    rows = [("audio (espeak-ng speech, silence, noise)",
             f"{res['audio_seconds']:.1f} s, {res['frames']} frames of 32 ms")]
    if "numpy_vs_onnx_same_weights" in res:
        a = res["numpy_vs_onnx_same_weights"]
        rows.append(("NumPy model vs silero ONNX (onnxruntime), same weights: max diff",
                     f"{a['max_abs_diff']:.1e}"))
        a = res["safetensors_vs_onnx_checkpoint"]
        rows.append(("safetensors vs ONNX checkpoint: decisions agree",
                     f"{a['decision_agreement']:.2%}"))
    rows += [
        ("EIE layers", ", ".join(res["eie_layers"])),
        ("weight density on EIE", ", ".join(f"{d:.0%}" for d in res["layer_density"])),
        ("compression vs float32 (with Huffman)",
         f"{res['compression_ratio']:.1f}x ({res['compression_ratio_huffman']:.1f}x)"),
        ("speech probability, float vs EIE: max diff", f"{res['max_abs_diff']:.3f}"),
        ("  mean diff", f"{res['mean_abs_diff']:.4f}"),
        ("decisions at 0.5, float vs EIE: agree", f"{res['decision_agreement']:.2%}"),
        (f"cycles per frame ({res['n_pe']} PEs, {res['runs_per_frame']} run(s))",
         f"{res['cycles_per_frame']:.0f} (max {res['max_cycles_per_frame']})"),
    ]
    if "rtl_frames" in res:
        rows.append((f"RTL ({res['sim']}), first {res['rtl_frames']} frames",
                     "bit- and cycle-exact"))
    if "real_time_factor" in res:
        f = res["fpga"]
        rows.append((f"time per frame at {f['fmax_mhz']:.1f} MHz (routed, {f['n_pe']} PEs)",
                     f"{res['us_per_frame']:.1f} us"))
        rows.append(("real-time factor (32 ms / time per frame)",
                     f"{res['real_time_factor']:,.0f}x"))
    for r in rows:
        table.add_row(*r)
    console.print(table)
    console.print(f"bundle written to {res['bundle']}")
