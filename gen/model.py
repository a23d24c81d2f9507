"""Float models in: ``.npz``, ``.onnx`` and ``.safetensors``; nothing is unpickled.

A model is a chain of layers, each fully connected (a weight matrix ``out x
in`` and an optional bias) or an LSTM (:class:`LSTM`: PyTorch's ``weight_ih``,
``weight_hh``, ``bias_ih``, ``bias_hh``, gates i, f, g, o).  :func:`load_model`
reads one from a file, picking the reader from the file's contents, and
returns a :class:`Model`: the pair ``(weights, biases)`` that
:func:`eie.compress` takes, which also carries the ReLU placement and layer
names the file gave (ONNX graphs say where their ReLUs are).

Readers
-------
``.npz``
    ``w0, w1, ...`` and optional ``b0, b1, ...``; an LSTM layer at position
    ``l`` as ``wih{l}`` (4H x I), ``whh{l}`` (4H x H) and optional ``bih{l}``,
    ``bhh{l}``.
``.safetensors``
    The same names, or PyTorch's: ``<module>.weight``/``<module>.bias`` of a
    Linear, ``<module>.weight_ih_l<k>`` ... of an ``nn.LSTM`` (layer ``k`` of a
    stacked LSTM becomes one EIE layer each) or ``<module>.weight_ih`` ... of
    an ``nn.LSTMCell``, taken in the file's order (a ``state_dict``'s order is
    module order).  Read with NumPy alone.
``.onnx``
    Gemm (either ``transB``), MatMul + Add, Relu, LSTM (forward, one
    direction; ONNX's gate order i, o, f, c is converted), and the shape-only
    nodes exporters put around them (Flatten, Reshape, Squeeze, Unsqueeze,
    Transpose, Identity, Dropout, Cast, Shape arithmetic).  ReLU placement
    comes from the graph.
"""

import json
import os
import re
import struct
import zipfile
import zlib

import numpy as np

from ..errors import ModelError
from ..recurrent import FC_KIND, LSTM_KIND, lstm_cell

__all__ = ["LSTM", "Model", "load_model", "float_forward", "is_lstm", "default_relu",
           "read_safetensors",
           "save_safetensors"]


class LSTM:
    """The float weights of one LSTM layer, in PyTorch's layout.

    Parameters
    ----------
    w_ih : array_like
        ``4H x I`` input weights, gates i, f, g, o stacked.
    w_hh : array_like
        ``4H x H`` recurrent weights.
    b_ih, b_hh : array_like, optional
        ``4H`` biases (EIE loads their sum).
    """

    def __init__(self, w_ih, w_hh, b_ih=None, b_hh=None):
        self.w_ih = w_ih
        self.w_hh = w_hh
        self.b_ih = b_ih
        self.b_hh = b_hh

    @property
    def hidden(self):
        return int(np.shape(self.w_hh)[1]) if np.ndim(self.w_hh) == 2 else 0

    def matrix(self):
        """``[W_ih | W_hh]`` as one dense float64 matrix, ``4H x (I + H)``."""
        return np.hstack([np.asarray(self.w_ih, dtype=np.float64),
                          np.asarray(self.w_hh, dtype=np.float64)])

    def bias(self):
        """``b_ih + b_hh`` (float64), or None if the layer has neither."""
        if self.b_ih is None and self.b_hh is None:
            return None
        return sum(np.asarray(b, dtype=np.float64) for b in (self.b_ih, self.b_hh)
                   if b is not None)

    def __repr__(self):
        return f"LSTM(w_ih {np.shape(self.w_ih)}, w_hh {np.shape(self.w_hh)})"


def is_lstm(layer):
    return isinstance(layer, LSTM)


def default_relu(kinds):
    """The default ReLU rule: every fully connected layer but the last fully
    connected one has a ReLU (an LSTM never has one)."""
    fcs = [l for l, k in enumerate(kinds) if k == FC_KIND]
    return [k == FC_KIND and l != fcs[-1] for l, k in enumerate(kinds)]


class Model(tuple):
    """``(weights, biases)`` of a chain of layers, with what the file said.

    Attributes
    ----------
    relu : list of bool or None
        Per layer, whether a ReLU follows (``None``: the default rule, every
        fully connected layer but the last).
    names : list of str or None
        Layer names from the file, if any.
    source : str
        The file read.
    """

    def __new__(cls, weights, biases, relu=None, names=None, source=""):
        self = super().__new__(cls, (list(weights), list(biases)))
        self.relu = relu
        self.names = names
        self.source = source
        return self

    @property
    def weights(self):
        return self[0]

    @property
    def biases(self):
        return self[1]

    def relu_flags(self):
        """Per layer, whether a ReLU follows: the file's, or :func:`default_relu`."""
        if self.relu is not None:
            return [bool(r) for r in self.relu]
        return default_relu([LSTM_KIND if is_lstm(w) else FC_KIND for w in self[0]])

    def float_layers(self):
        """``(kind, w, b)`` of each layer, float64 (an LSTM's ``[W_ih | W_hh]``
        and ``b_ih + b_hh``), as :func:`float_forward` takes them."""
        return [(LSTM_KIND, w.matrix(), w.bias()) if is_lstm(w) else
                (FC_KIND, np.asarray(w, dtype=np.float64),
                 None if b is None else np.asarray(b, dtype=np.float64))
                for w, b in zip(*self)]

    def forward(self, x):
        """The float model on ``x`` (see :func:`float_forward`)."""
        return float_forward(self.float_layers(), self.relu_flags(), x)


def load_model(path):
    """Read a float model from ``path`` (``.npz``, ``.onnx`` or ``.safetensors``).

    The reader is chosen from the file's first bytes (a zip archive is an
    ``.npz``, an 8-byte length and a JSON header is safetensors, anything else
    is parsed as ONNX), so a misnamed file still reads.  Pickles (PyTorch's
    ``.pt``/``.pth``) are refused.

    Returns
    -------
    Model
        ``(weights, biases)`` plus ``relu`` and ``names``.
    """
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            head = f.read(16)
    except FileNotFoundError:
        raise ModelError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ModelError(f"{path}: is a directory, not a model file") from None
    except OSError as e:
        raise ModelError(f"{path}: cannot read ({e.strerror})") from None
    ext = os.path.splitext(path)[1].lower()
    if _is_pickle(head, path):
        raise ModelError(f"{path}: a Python pickle (PyTorch .pt/.pth); pickles are never "
                         f"loaded. Export the model instead: safetensors.torch.save_file("
                         f"model.state_dict(), 'model.safetensors') or torch.onnx.export(...)")
    if head.startswith(b"PK"):
        if ext in (".pt", ".pth", ".bin", ".ckpt"):
            raise ModelError(f"{path}: a PyTorch checkpoint (zip of pickles); pickles are "
                             f"never loaded. Export the model with safetensors.torch.save_file"
                             f"(model.state_dict(), ...) or torch.onnx.export(...)")
        return _read_npz(path)
    if head.startswith(b"\x93NUMPY"):
        raise ModelError(f"{path}: a single .npy array; a model is an .npz archive of "
                         f"w0, w1, ... (np.savez), an .onnx or a .safetensors file")
    if len(head) >= 9 and head[8:9] == b"{":
        return _read_safetensors(path)
    if ext == ".npz":
        raise ModelError(f"{path}: not a NumPy .npz file")
    if ext == ".safetensors":
        raise ModelError(f"{path}: not a safetensors file (no JSON header)")
    return _read_onnx(path)


def _is_pickle(head, path):
    if head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05"):
        return True
    if head.startswith(b"PK"):
        try:
            with zipfile.ZipFile(path) as z:
                return any(n.endswith("data.pkl") for n in z.namelist())
        except ARCHIVE_ERRORS:
            return False
    return False


# -- the layer table shared by the .npz and safetensors readers -------------------------

def _from_arrays(get, keys, where):
    """Layers from ``w{l}``/``b{l}`` and ``wih{l}``/``whh{l}``/``bih{l}``/``bhh{l}``."""
    weights, biases, used = [], [], set()
    while True:
        l = len(weights)
        if f"w{l}" in keys and f"wih{l}" in keys:
            raise ModelError(f"{where}: layer {l} is given both as w{l} and as wih{l}")
        if f"w{l}" in keys:
            weights.append(get(f"w{l}"))
            biases.append(get(f"b{l}") if f"b{l}" in keys else None)
            used |= {f"w{l}", f"b{l}"}
        elif f"wih{l}" in keys or f"whh{l}" in keys:
            for k in (f"wih{l}", f"whh{l}"):
                if k not in keys:
                    raise ModelError(f"{where}: LSTM layer {l} lacks {k}")
            weights.append(LSTM(get(f"wih{l}"), get(f"whh{l}"),
                                get(f"bih{l}") if f"bih{l}" in keys else None,
                                get(f"bhh{l}") if f"bhh{l}" in keys else None))
            biases.append(None)
            used |= {f"wih{l}", f"whh{l}", f"bih{l}", f"bhh{l}"}
        else:
            break
    if not weights:
        raise ModelError(f"{where}: no weight arrays (expected w0, w1, ... or wih0, whh0, ...; "
                         f"found {', '.join(sorted(keys)) or 'nothing'})")
    extra = sorted(k for k in keys if k not in used)
    if extra:
        raise ModelError(f"{where}: unexpected arrays {', '.join(extra)} (layers must be "
                         f"numbered 0..{len(weights) - 1} without gaps)")
    return weights, biases


#: What reading a damaged ``.npz``/``.npy`` can raise (zipfile raises the last
#: three for flags it does not implement, encrypted members and bad deflate data).
ARCHIVE_ERRORS = (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, RuntimeError,
                  NotImplementedError, zlib.error)


def _check_zip_layout(path):
    """An ``.npz`` whose directory does not account for every byte before it
    (a damaged directory can hide a member: a layer would silently vanish)."""
    with zipfile.ZipFile(path) as z, open(path, "rb") as f:
        end = 0
        for info in sorted(z.infolist(), key=lambda i: i.header_offset):
            if info.header_offset != end:
                return False
            f.seek(info.header_offset)
            head = f.read(30)
            if len(head) < 30 or head[:4] != b"PK\x03\x04":
                return False
            end = info.header_offset + 30 + int.from_bytes(head[26:28], "little") + \
                int.from_bytes(head[28:30], "little") + info.compress_size
            if info.flag_bits & 0x08:       # a data descriptor follows the data
                f.seek(end)
                sig = f.read(4)
                size = 24 if info.compress_size >= 0xFFFFFFFF or \
                    info.file_size >= 0xFFFFFFFF or info.extra else 16
                end += size if sig == b"PK\x07\x08" else size - 4
        return end == z.start_dir


def _read_npz(path):
    try:
        if not _check_zip_layout(path):
            raise ModelError(f"{path}: damaged .npz archive (its directory does not account "
                             f"for every member)")
        data = np.load(path, allow_pickle=False)
    except ARCHIVE_ERRORS as e:
        raise ModelError(f"{path}: not a NumPy .npz file ({e})") from None
    if not hasattr(data, "files"):
        raise ModelError(f"{path}: not an .npz archive (a single array?)")

    def get(key):
        try:
            return data[key]
        except ARCHIVE_ERRORS as e:
            raise ModelError(f"{path}: array {key!r} cannot be read ({e})") from None

    with data:
        weights, biases = _from_arrays(get, set(data.files), path)
    return Model(weights, biases, source=path)


# -- safetensors --------------------------------------------------------------------------

_ST_DTYPES = {"F64": "<f8", "F32": "<f4", "F16": "<f2", "I64": "<i8", "I32": "<i4",
              "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?"}


def read_safetensors(path):
    """All tensors of a safetensors file, in the header's order, as NumPy arrays."""
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except OSError as e:
        raise ModelError(f"{path}: cannot read ({e.strerror})") from None
    if len(blob) < 8:
        raise ModelError(f"{path}: truncated safetensors file")
    n = struct.unpack("<Q", blob[:8])[0]
    if n > len(blob) - 8:
        raise ModelError(f"{path}: safetensors header of {n} bytes runs past the end of the "
                         f"file")
    try:
        header = json.loads(blob[8:8 + n])
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelError(f"{path}: safetensors header is not valid JSON ({e})") from None
    if not isinstance(header, dict):
        raise ModelError(f"{path}: safetensors header is not a JSON object")
    data = memoryview(blob)[8 + n:]
    tensors = {}
    for key, spec in header.items():
        if key == "__metadata__":
            continue
        try:
            dtype, shape, (a, b) = spec["dtype"], [int(s) for s in spec["shape"]], \
                spec["data_offsets"]
        except (TypeError, KeyError, ValueError):
            raise ModelError(f"{path}: tensor {key!r}: malformed header entry") from None
        if dtype == "BF16":
            np_dtype = "<u2"
        elif dtype in _ST_DTYPES:
            np_dtype = _ST_DTYPES[dtype]
        else:
            raise ModelError(f"{path}: tensor {key!r} has unsupported dtype {dtype}")
        count = int(np.prod(shape)) if shape else 1
        if not (isinstance(a, int) and isinstance(b, int) and 0 <= a <= b <= len(data)) or \
                b - a != count * np.dtype(np_dtype).itemsize or min(shape, default=0) < 0:
            raise ModelError(f"{path}: tensor {key!r}: data offsets [{a}, {b}] do not match "
                             f"{dtype} {shape} within the file")
        arr = np.frombuffer(data[a:b], dtype=np_dtype).reshape(shape)
        if dtype == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        tensors[key] = arr.astype(np.float64) if arr.dtype.kind == "f" else arr
    return tensors


_TORCH_LSTM = re.compile(r"^(?P<mod>.*?)\.?(?P<kind>weight|bias)_(?P<part>ih|hh)"
                         r"(?:_l(?P<k>\d+))?(?P<rev>_reverse)?$")


def _read_safetensors(path):
    tensors = read_safetensors(path)
    keys = set(tensors)
    if any(re.fullmatch(r"(w|b|wih|whh|bih|bhh)\d+", k) for k in keys):
        weights, biases = _from_arrays(tensors.__getitem__, keys, path)
        return Model(weights, biases, source=path)
    # PyTorch's names, in the file's (module) order.
    modules = {}
    order = []
    for key, arr in tensors.items():
        m = _TORCH_LSTM.match(key)
        if m:
            if m["rev"]:
                raise ModelError(f"{path}: tensor {key!r}: bidirectional LSTMs are not "
                                 f"supported (EIE runs the sequence forward only)")
            name = m["mod"] + (f".l{m['k']}" if m["k"] is not None else "")
            field = f"{m['kind']}_{m['part']}"
            kind = "lstm"
        elif key.endswith(".weight") or key.endswith(".bias") or key in ("weight", "bias"):
            name, _, field = key.rpartition(".")
            kind = "fc"
        else:
            raise ModelError(f"{path}: tensor {key!r} cannot be mapped to a layer (expected "
                             f"<module>.weight/.bias, <module>.weight_ih_l0 ... or w0, b0, "
                             f"wih0, ...)")
        if name not in modules:
            modules[name] = {"kind": kind}
            order.append(name)
        elif modules[name]["kind"] != kind:
            raise ModelError(f"{path}: tensor {key!r} mixes Linear and LSTM names in module "
                             f"{name!r}")
        modules[name][field] = arr
    weights, biases, names = [], [], []
    for name in order:
        mod = modules[name]
        label = name or "model"
        if mod["kind"] == "fc":
            if "weight" not in mod:
                raise ModelError(f"{path}: module {label!r} has a bias but no weight")
            if np.ndim(mod["weight"]) != 2:
                raise ModelError(f"{path}: tensor {name + '.weight'!r} has shape "
                                 f"{list(np.shape(mod['weight']))}: only Linear (2-D) and LSTM "
                                 f"weights map to EIE layers")
            weights.append(mod["weight"])
            biases.append(mod.get("bias"))
        else:
            for field in ("weight_ih", "weight_hh"):
                if field not in mod:
                    raise ModelError(f"{path}: LSTM {label!r} lacks {field}")
            weights.append(LSTM(mod["weight_ih"], mod["weight_hh"], mod.get("bias_ih"),
                                mod.get("bias_hh")))
            biases.append(None)
        names.append(re.sub(r"[^A-Za-z0-9_.-]", "_", label))
    if not weights:
        raise ModelError(f"{path}: no tensors")
    if len(set(names)) != len(names):
        names = None
    return Model(weights, biases, names=names, source=path)


# -- ONNX ---------------------------------------------------------------------------------

#: Nodes that only move or reshape the data: passed through on the data path.
_PASS = {"Flatten", "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Identity", "Dropout",
         "Cast", "CastLike"}


def _onnx():
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise ModelError("reading .onnx models needs the onnx package (pip install onnx)") \
            from None
    return onnx, numpy_helper


def _read_onnx(path):
    onnx, numpy_helper = _onnx()
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as e:        # protobuf's DecodeError and friends
        raise ModelError(f"{path}: not an ONNX model ({type(e).__name__}: "
                         f"{str(e).splitlines()[0] if str(e) else 'unreadable'})") from None
    graph = model.graph
    if not graph.node:
        raise ModelError(f"{path}: not an ONNX model (no graph nodes)")
    consts = {}
    for init in graph.initializer:
        try:
            consts[init.name] = numpy_helper.to_array(init)
        except Exception as e:
            raise ModelError(f"{path}: initializer {init.name!r} cannot be read ({e})") from None
    for node in graph.node:
        if node.op_type == "Constant" and node.output:
            for attr in node.attribute:
                if attr.name == "value":
                    consts[node.output[0]] = numpy_helper.to_array(attr.t)
                elif attr.name in ("value_float", "value_int"):
                    consts[node.output[0]] = np.array(attr.f if attr.name == "value_float"
                                                      else attr.i)
                elif attr.name in ("value_floats", "value_ints"):
                    consts[node.output[0]] = np.array(list(attr.floats) or list(attr.ints))
    inputs = [i.name for i in graph.input if i.name not in consts]
    if len(inputs) != 1:
        raise ModelError(f"{path}: the graph must have one data input, it has "
                         f"{len(inputs)} ({', '.join(inputs) or 'none'})")
    return _OnnxChain(path, graph, consts, inputs[0], onnx).walk()


class _OnnxChain:
    """Follows the data from the graph's input to its output, one node at a time."""

    def __init__(self, path, graph, consts, data, onnx):
        self.path = path
        self.graph = graph
        self.consts = consts
        self.data = data
        self.onnx = onnx
        self.consumers = {}
        self.producer = {}
        for node in graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)
            for name in node.output:
                self.producer[name] = node
        self.outputs = [o.name for o in graph.output]

    def where(self, node):
        return f"{self.path}: node {node.name or '(unnamed)'!r} ({node.op_type})"

    def attrs(self, node):
        return {a.name: self.onnx.helper.get_attribute_value(a) for a in node.attribute}

    def const(self, node, i, what):
        name = node.input[i] if i < len(node.input) else ""
        if name not in self.consts:
            raise ModelError(f"{self.where(node)}: its {what} ({name or 'missing'}) is not a "
                             f"constant (initializer)")
        return np.asarray(self.consts[name], dtype=np.float64)

    def next_node(self, tensor):
        users = [n for n in self.consumers.get(tensor, []) if n.op_type not in ("Shape", "Size")]
        if len(users) > 1:
            raise ModelError(f"{self.path}: tensor {tensor!r} feeds {len(users)} nodes ("
                             f"{', '.join(repr(n.name or n.op_type) for n in users)}); only "
                             f"a chain of layers maps to EIE")
        return users[0] if users else None

    def walk(self):
        weights, biases, relu, names = [], [], [], []
        tensor = self.data
        pending_matmul = False
        while tensor not in self.outputs:
            node = self.next_node(tensor)
            if node is None:
                raise ModelError(f"{self.path}: tensor {tensor!r} leads to no graph output")
            op = node.op_type
            data_in = [i for i, name in enumerate(node.input) if name == tensor]
            if op == "Gemm":
                a = self.attrs(node)
                if a.get("transA", 0) or data_in != [0]:
                    raise ModelError(f"{self.where(node)}: the data must be input A, untransposed")
                w = self.const(node, 1, "weight B")
                w = w if a.get("transB", 0) else w.T
                w = w * a.get("alpha", 1.0)
                b = None
                if len(node.input) > 2 and node.input[2]:
                    b = self.const(node, 2, "bias C") * a.get("beta", 1.0)
                    b = np.broadcast_to(b.reshape(-1), (w.shape[0],)).copy() if b.size in \
                        (1, w.shape[0]) else self._bad_bias(node, b, w)
                self._layer(weights, biases, relu, names, w, b, node)
            elif op == "MatMul":
                if data_in != [0]:
                    raise ModelError(f"{self.where(node)}: the data must be the first input")
                w = self.const(node, 1, "weight")
                if w.ndim != 2:
                    raise ModelError(f"{self.where(node)}: weight of shape {list(w.shape)} is "
                                     f"not a matrix")
                self._layer(weights, biases, relu, names, w.T, None, node)
                pending_matmul = True
                tensor = node.output[0]
                continue
            elif op == "Add" and pending_matmul and len(data_in) == 1:
                b = self.const(node, 1 - data_in[0], "bias")
                n_out = weights[-1].shape[0]
                if b.size not in (1, n_out):
                    self._bad_bias(node, b, weights[-1])
                biases[-1] = np.broadcast_to(b.reshape(-1), (n_out,)).copy()
            elif op == "Relu":
                if not weights or relu[-1] or is_lstm(weights[-1]) or \
                        self._since_layer(node.input[0]):
                    raise ModelError(f"{self.where(node)}: a ReLU must follow a fully "
                                     f"connected layer directly")
                relu[-1] = True
            elif op == "LSTM":
                self._lstm(node, weights, biases, relu, names)
                tensor = self._lstm_output(node)
                pending_matmul = False
                continue
            elif op in _PASS:
                if data_in != [0]:
                    raise ModelError(f"{self.where(node)}: takes the data as an unexpected input")
            else:
                raise ModelError(f"{self.where(node)}: op {op} is not supported (EIE takes "
                                 f"Gemm, MatMul + Add, Relu, LSTM and shape-only nodes)")
            pending_matmul = False
            tensor = node.output[0]
        if not weights:
            raise ModelError(f"{self.path}: the graph has no Gemm, MatMul or LSTM layer")
        names = names if len(set(names)) == len(names) and all(names) else None
        return Model(weights, biases, relu=relu, names=names, source=self.path)

    def _since_layer(self, tensor):
        """Whether a non-pass node stands between the last layer and ``tensor``."""
        node = self.producer.get(tensor)
        while node is not None and node.op_type in _PASS:
            node = self.producer.get(node.input[0])
        return node is None or node.op_type not in ("Gemm", "MatMul", "Add")

    def _bad_bias(self, node, b, w):
        raise ModelError(f"{self.where(node)}: bias of shape {list(b.shape)} does not fit "
                         f"{w.shape[0]} outputs")

    @staticmethod
    def _layer(weights, biases, relu, names, w, b, node):
        weights.append(w)
        biases.append(b)
        relu.append(False)
        names.append(re.sub(r"[^A-Za-z0-9_.-]", "_", node.name) if node.name else "")

    def _lstm(self, node, weights, biases, relu, names):
        a = self.attrs(node)
        direction = a.get("direction", b"forward")
        direction = direction.decode() if isinstance(direction, bytes) else direction
        if direction != "forward":
            raise ModelError(f"{self.where(node)}: direction={direction} is not supported "
                             f"(EIE runs the sequence forward only)")
        for bad in ("clip", "input_forget"):
            if a.get(bad):
                raise ModelError(f"{self.where(node)}: attribute {bad} is not supported")
        acts = [x.decode() if isinstance(x, bytes) else x for x in a.get("activations", [])]
        if acts and [x.lower() for x in acts] != ["sigmoid", "tanh", "tanh"]:
            raise ModelError(f"{self.where(node)}: activations {acts} are not supported")
        if a.get("layout", 0):
            raise ModelError(f"{self.where(node)}: layout=1 (batch first) is not supported")
        w = self.const(node, 1, "W")
        r = self.const(node, 2, "R")
        if w.ndim != 3 or w.shape[0] != 1 or r.ndim != 3 or r.shape[0] != 1:
            raise ModelError(f"{self.where(node)}: W and R must have one direction, got "
                             f"{list(w.shape)} and {list(r.shape)}")
        w, r = w[0], r[0]
        hidden = r.shape[1]
        if w.shape[0] != 4 * hidden or r.shape[0] != 4 * hidden:
            raise ModelError(f"{self.where(node)}: W {list(w.shape)} and R {list(r.shape)} "
                             f"are not 4H x I and 4H x H")
        if a.get("hidden_size", hidden) != hidden:
            raise ModelError(f"{self.where(node)}: hidden_size={a['hidden_size']} but R is "
                             f"{list(r.shape)}")
        # ONNX stacks gates i, o, f, c; PyTorch (and EIE) i, f, g(=c), o.
        order = np.concatenate([np.arange(g * hidden, (g + 1) * hidden) for g in (0, 2, 3, 1)])
        b_ih = b_hh = None
        if len(node.input) > 3 and node.input[3]:
            b = self.const(node, 3, "B")
            if b.shape != (1, 8 * hidden):
                raise ModelError(f"{self.where(node)}: B has shape {list(b.shape)}, expected "
                                 f"[1, {8 * hidden}]")
            b_ih, b_hh = b[0, :4 * hidden][order], b[0, 4 * hidden:][order]
        if len(node.input) > 4 and node.input[4]:
            raise ModelError(f"{self.where(node)}: sequence_lens is not supported (every "
                             f"sequence runs all its steps)")
        for i, what in ((5, "initial_h"), (6, "initial_c")):
            if len(node.input) > i and node.input[i] and not self._zero(node.input[i]):
                raise ModelError(f"{self.where(node)}: {what} must be zero (EIE's LSTM starts "
                                 f"from h_0 = c_0 = 0)")
        weights.append(LSTM(w[order], r[order], b_ih, b_hh))
        biases.append(None)
        relu.append(False)
        names.append(re.sub(r"[^A-Za-z0-9_.-]", "_", node.name) if node.name else "")

    def _zero(self, name):
        """Whether ``name`` is a constant zero (an initializer, or shape arithmetic
        ending in ConstantOfShape with value 0)."""
        if name in self.consts:
            return not np.any(self.consts[name])
        node = self.producer.get(name)
        while node is not None and node.op_type in ("Expand", "Identity", "Cast", "Unsqueeze",
                                                    "Reshape"):
            node = self.producer.get(node.input[0])
        if node is None or node.op_type != "ConstantOfShape":
            return False
        value = self.attrs(node).get("value")
        from onnx import numpy_helper
        return value is None or not np.any(numpy_helper.to_array(value))

    def _lstm_output(self, node):
        y = node.output[0] if node.output else ""
        used = [n for n in self.consumers.get(y, [])] if y else []
        if not used and y not in self.outputs:
            others = [o for o in node.output[1:] if o and (self.consumers.get(o) or
                                                          o in self.outputs)]
            if others:
                raise ModelError(f"{self.where(node)}: only its output Y (every step) is "
                                 f"supported; the graph uses {', '.join(others)} (the last "
                                 f"step only)")
            raise ModelError(f"{self.where(node)}: its output Y is not used")
        return y


# -- float reference ------------------------------------------------------------------------

def float_forward(layers, relu, x, collect=None, inputs=None):
    """The float model on ``x``: ``(batch, n_in)``, or ``(batch, T, n_in)`` if a
    layer is an LSTM.

    ``layers`` are ``(kind, w, b)``: ``kind`` ``"fc"`` or ``"lstm"``, ``w`` a
    dense or SciPy sparse matrix (an LSTM's ``[W_ih | W_hh]``), ``b`` a vector
    or None; ``relu`` per layer.  ``collect``, if a list, receives per layer
    the largest magnitudes of its input and its output (for an LSTM: of
    ``[a; h]`` and of the gate pre-activations).  ``inputs``, if a list,
    receives per layer its inputs over all steps, ``(samples, n_in)`` with the
    steps outermost.  Returns the model's output, ``(batch, n_out)`` or
    ``(batch, T, n_out)``.
    """
    x = np.asarray(x, dtype=np.float64)
    recurrent = any(kind == LSTM_KIND for kind, _, _ in layers)
    steps = [x[:, t] for t in range(x.shape[1])] if recurrent else [x]
    state = [None] * len(layers)
    stats = [[0.0, 0.0] for _ in layers]
    seen = [[] for _ in layers]
    outs = []
    for a in steps:
        for l, ((kind, w, b), r) in enumerate(zip(layers, relu)):
            if kind == LSTM_KIND:
                if state[l] is None:
                    hidden = w.shape[0] // 4
                    state[l] = (np.zeros((a.shape[0], hidden)), np.zeros((a.shape[0], hidden)))
                h, c = state[l]
                inp = np.concatenate([a, h], axis=1)
                seen[l].append(inp)
                z = np.asarray(inp @ w.T) + (0 if b is None else b)
                h, c = lstm_cell(z, c)
                state[l] = (h, c)
                stats[l][0] = max(stats[l][0], float(np.abs(inp).max(initial=0)))
                stats[l][1] = max(stats[l][1], float(np.abs(z).max(initial=0)))
                a = h
            else:
                seen[l].append(a)
                stats[l][0] = max(stats[l][0], float(np.abs(a).max(initial=0)))
                a = np.asarray(a @ w.T) + (0 if b is None else b)
                if r:
                    a = np.maximum(a, 0)
                stats[l][1] = max(stats[l][1], float(np.abs(a).max(initial=0)))
        outs.append(a)
    if collect is not None:
        collect.extend(stats)
    if inputs is not None:
        inputs.extend(np.concatenate(v, axis=0) for v in seen)
    return np.stack(outs, axis=1) if recurrent else outs[0]


def save_safetensors(path, tensors):
    """Write ``{name: array}`` as a safetensors file (float arrays as F32 or F64).

    The tensors are laid out in the order given, which is the order
    :func:`load_model` reads PyTorch names in.
    """
    names = {np.dtype("float64"): "F64", np.dtype("float32"): "F32", np.dtype("int64"): "I64",
             np.dtype("int32"): "I32"}
    header, blobs, offset = {}, [], 0
    for key, arr in tensors.items():
        arr = np.ascontiguousarray(arr)
        if arr.dtype not in names:
            raise ModelError(f"tensor {key!r}: dtype {arr.dtype} cannot be written")
        raw = arr.astype(arr.dtype.newbyteorder("<")).tobytes()
        header[key] = {"dtype": names[arr.dtype], "shape": list(arr.shape),
                       "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))
