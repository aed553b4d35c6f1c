"""Colorizer: one pre/post-processing path for ``colorize``, the Pillow filter, the CLI and evaluation.

The network sees the gray image at a fixed working size (long side = the card's
``working_size``, aspect kept, edge-padded to a square canvas, so one trace serves
every input size). Its chroma is cropped and upsampled to the input size edge-aware
(:mod:`hypercol.core.guided`: color follows the full-resolution lightness edges), then
joined with the input's own full-resolution CIE lightness, so output lightness equals
input lightness.

The full-resolution color math runs as one XLA-fused kernel over fixed-size chunks of
pixels: one compilation serves every image size, and it is several times faster than
the op-by-op graph on large images.
"""

from __future__ import annotations

import json
import math
import numbers
import threading
from dataclasses import MISSING, asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

import hypercol.core.quiet_tensorflow  # noqa: F401  # isort: skip -- first: TensorFlow's start-up lines hidden
import tensorflow as tf

from hypercol.core import color
from hypercol.core.arrays import ImageBatch, as_image_batch, lightness
from hypercol.core.bins import annealed_mean, normalised_entropy
from hypercol.core.guided import apply_coefficients, guided_coefficients
from hypercol.core.precision import backbone_is_fast, configure_precision, environment_choice
from hypercol.models.backbones import Backbone, load_backbone
from hypercol.models.head import build_head, fold_batch_norms
from hypercol.models.shipped import DEFAULT_HEAD, DEFAULT_WEIGHTS, SHIPPED_HEADS

__all__ = [
    "ModelCard",
    "chroma_from_gray",
    "check_knobs",
    "card_settings",
    "Colorizer",
    "colorize",
    "get_colorizer",
    "resolve_weights",
    "SHIPPED_HEADS",
    "DEFAULT_HEAD",
    "DEFAULT_WEIGHTS",
    "card_path",
]

_WEIGHTS_SUFFIX = ".weights.h5"
_COMPOSE_CHUNKS = (2**18, 2**16)  # pixels per XLA call, largest first
HEAD_TYPES = ("regression", "classification")
DEFAULT_TEMPERATURE = 0.38  # Zhang et al.'s choice; a card may set its own from evaluation
# Far beyond vivid: at a few times the predicted chroma every color is already at the gamut's edge.
MAX_SATURATION = 100.0
# Guided upsampling at the working size: one window spans about two cells of the
# classification head's stride-4 output; epsilon = (3 L units)^2 in the [0, 1] guide.
GUIDED_RADIUS = 4
GUIDED_EPSILON = 0.03**2
# Default network batch: 16 canvases of 224 pixels' worth of activations (at most 16 images).
# With the EfficientNet-Lite0 default, 16 images a call are 10-14% faster per image than 8 (bf16,
# float32 and float32 held to AVX2 on a 2-core EPYC, 2026-12-03); larger canvases take fewer.
DEFAULT_BATCH_PIXELS = 16 * 224**2
MAX_DEFAULT_BATCH = 16
# What a card's small_canvas_defaults may change: where it runs and how it decodes, not the head.
SMALL_CANVAS_FIELDS = ("working_size", "temperature", "saturation", "uncertainty_fallback")


def card_path(weights: str | Path) -> Path:
    """The model card beside a head weights file: ``x.weights.h5`` -> ``x.json``."""
    weights = Path(weights)
    if not weights.name.endswith(_WEIGHTS_SUFFIX):
        msg = f"head weights must be a Keras '{_WEIGHTS_SUFFIX}' file, got {weights.name!r}"
        raise ValueError(msg)
    return weights.with_name(weights.name[: -len(_WEIGHTS_SUFFIX)] + ".json")


def check_knobs(temperature: float | None, saturation: float | None) -> None:
    """Checks each given knob (None is "the default"): TypeError unless a real number (numpy's too,
    not bool), ValueError unless finite and in range."""
    for name, value, low, high in (
        ("temperature", temperature, 1e-3, math.inf),
        ("saturation", saturation, 0.0, MAX_SATURATION),
    ):
        if value is None:
            continue
        if isinstance(value, bool | np.bool_) or not isinstance(value, numbers.Real):
            msg = f"{name} must be a real number, got {value!r}"
            raise TypeError(msg)
        if not (math.isfinite(value) and low <= value <= high):
            bounds = f">= {low:g}" if high == math.inf else f"in [{low:g}, {high:g}]"
            msg = f"{name} must be a finite number {bounds}, got {value!r}"
            raise ValueError(msg)


def card_settings(card: ModelCard, temperature: float | None, saturation: float | None) -> tuple[float, float]:
    """The (temperature, saturation) a head with this card runs with: the given values or the card's
    defaults, checked (no model is loaded)."""
    check_knobs(temperature, saturation)
    if temperature is not None and card.head_type != "classification":
        msg = "temperature applies to classification heads; this head is a regression head (use saturation)"
        raise ValueError(msg)
    temperature = card.temperature if temperature is None else temperature
    saturation = card.saturation if saturation is None else saturation
    check_knobs(temperature, saturation)  # the card's own too
    return float(temperature), float(saturation)


CANVASES = ("auto", "small", "full")


def wants_small_canvas(precision: str) -> bool:
    """$HYPERCOL_CANVAS ("small", "full", or "auto", the default: small where the backbone is slow)."""
    requested = environment_choice("HYPERCOL_CANVAS", CANVASES)
    return not backbone_is_fast(precision) if requested == "auto" else requested == "small"


def check_environment() -> None:
    """A ValueError naming the variable for a bad $HYPERCOL_PRECISION or $HYPERCOL_CANVAS (unset or empty: "auto"),
    before any model is loaded (a cached colorizer would not read them again)."""
    wants_small_canvas(configure_precision())


def chroma_from_gray(backbone: Backbone, head, gray: tf.Tensor, *, training: bool, features=None) -> tf.Tensor:
    """(N, H, W, 1) sRGB gray in [0, 1] -> (N, H, W, 2) float32 Lab chroma: backbone taps, then the head.

    ``features``: the backbone's taps of ``gray`` when the caller already has them.
    """
    features = backbone(gray) if features is None else features
    chroma = head([gray] + [features[tap.key] for tap in backbone.spec.taps], training=training)
    return tf.cast(chroma, tf.float32)


@dataclass
class ModelCard:
    """What a head was trained with and how well it does; stored as JSON beside the weights."""

    backbone: str
    taps: list[str]
    working_size: int = 256
    head: dict = field(default_factory=dict)
    head_type: str = "regression"  # or "classification"
    bins: list = field(default_factory=list)  # classification: ab centres (Q, 2)
    bin_weights: list = field(default_factory=list)  # classification: rebalancing weights (Q,)
    temperature: float = DEFAULT_TEMPERATURE  # classification: default annealed-mean temperature
    saturation: float = 1.0  # default scale of the predicted chroma
    # classification: chroma is scaled by (1 - normalised entropy) ** this; 0 = off
    uncertainty_fallback: float = 0.0
    # Where the backbone is slow (float32, or bf16 without AMX: precision.backbone_is_fast):
    # overrides of the four defaults above, e.g. a smaller working canvas with its knobs.
    small_canvas_defaults: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> ModelCard:
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            msg = f"model card {str(path)!r} not found (it must sit beside the head weights)"
            raise ValueError(msg) from None
        except json.JSONDecodeError as error:
            msg = f"model card {str(path)!r} is not valid JSON: {error}"
            raise ValueError(msg) from None
        if not isinstance(data, dict):
            msg = f"model card {str(path)!r} must be a JSON object, got a {type(data).__name__}"
            raise ValueError(msg)  # noqa: TRY004 -- the file's content is wrong, not the caller's argument
        for name, spec in cls.__dataclass_fields__.items():
            if name not in data and spec.default is MISSING and spec.default_factory is MISSING:
                msg = f"model card {str(path)!r} lacks {name!r}"
                raise ValueError(msg)
        _check_small_canvas_defaults(data.get("small_canvas_defaults", {}), f"model card {str(path)!r}: ")
        return cls(**{key: value for key, value in data.items() if key in cls.__dataclass_fields__})

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    def on_small_canvas(self) -> ModelCard:
        """This card with its ``small_canvas_defaults`` applied (itself when it has none)."""
        _check_small_canvas_defaults(self.small_canvas_defaults)
        return replace(self, **self.small_canvas_defaults) if self.small_canvas_defaults else self


def _check_small_canvas_defaults(defaults, where: str = "") -> None:
    if not isinstance(defaults, dict):
        msg = f"{where}small_canvas_defaults must be a JSON object, got a {type(defaults).__name__}"
        raise ValueError(msg)  # noqa: TRY004 -- the card's content is wrong, not the caller's argument
    unknown = set(defaults) - set(SMALL_CANVAS_FIELDS)
    if unknown:
        msg = f"{where}small_canvas_defaults may set {SMALL_CANVAS_FIELDS}, not {sorted(unknown)}"
        raise ValueError(msg)


class Colorizer:
    """A loaded backbone + head. Thread-safe; build once, call many times.

    ``Colorizer(weights)`` loads ``weights`` (a ``.weights.h5`` with its ``.json``
    card, or the ``card`` given); the default is the shipped default head (EfficientNet-Lite0).
    ``edge_aware=False`` upsamples the chroma bilinearly instead of with the guided filter.
    ``batch_size``: images per network call; by default 16 on a canvas of 224 or less, 8 on one of 320.
    ``small_canvas``: whether the card's ``small_canvas_defaults`` apply; by default
    $HYPERCOL_CANVAS decides ("small", "full"; unset or "auto": where the backbone is slow,
    :func:`hypercol.core.precision.backbone_is_fast`: float32, or bf16 without AMX). The shipped
    VGG16 classification head then works on a 160-pixel canvas instead of 224, 1.7-1.9x
    faster there, a little fainter (README.md, "Speed"); the default head has no small canvas.
    """

    def __init__(
        self,
        weights: str | Path | None = None,
        *,
        batch_size: int | None = None,
        precision: str | None = None,
        edge_aware: bool = True,
        card: ModelCard | None = None,
        small_canvas: bool | None = None,
    ) -> None:
        if batch_size is not None and batch_size < 1:
            msg = f"batch_size must be at least 1, got {batch_size}"
            raise ValueError(msg)
        self.precision = configure_precision(precision)
        self.weights = Path(weights) if weights is not None else DEFAULT_WEIGHTS
        card = card if card is not None else ModelCard.load(card_path(self.weights))
        if small_canvas is None:
            small_canvas = wants_small_canvas(self.precision)
        self.card = card.on_small_canvas() if small_canvas else card
        self.edge_aware = edge_aware
        if not self.weights.exists():
            msg = f"head weights {str(self.weights)!r} not found"
            raise ValueError(msg)
        self.backbone: Backbone = load_backbone(self.card.backbone, taps=self.card.taps)
        trained = build_head(self.backbone.spec.taps, **self.card.head)
        try:
            trained.load_weights(str(self.weights))
        except (OSError, ValueError, KeyError) as error:  # h5py: OSError for a file that is not HDF5
            msg = f"head weights {str(self.weights)!r} could not be read as this card's head: {error}"
            raise ValueError(msg) from error
        self.head = fold_batch_norms(trained, self.backbone.spec.taps, **self.card.head)
        self.working_size = int(self.card.working_size)
        if self.working_size % self.backbone.spec.max_stride:
            msg = f"working_size {self.working_size} must be a multiple of the backbone's stride {self.backbone.spec.max_stride}"
            raise ValueError(msg)
        if self.card.head_type not in HEAD_TYPES:
            msg = f"head_type must be one of {HEAD_TYPES}, got {self.card.head_type!r}"
            raise ValueError(msg)
        if batch_size is None:
            batch_size = min(MAX_DEFAULT_BATCH, max(1, round(DEFAULT_BATCH_PIXELS / self.working_size**2)))
        self.batch_size = batch_size
        self._centres = tf.constant(np.asarray(self.card.bins, np.float32).reshape(-1, 2))
        self._predict_chroma = tf.function(
            self._chroma_graph,
            input_signature=[
                tf.TensorSpec([None, None, None], tf.float32),
                tf.TensorSpec([], tf.float32),
                tf.TensorSpec([], tf.float32),
                tf.TensorSpec([], tf.float32),
            ],
        )

    @property
    def path(self) -> str:
        """Which numerics and canvas run the network, e.g. "float32, 160-pixel canvas"."""
        return f"{self.precision}, {self.working_size}-pixel canvas"

    @property
    def is_classification(self) -> bool:
        return self.card.head_type == "classification"

    def settings(self, temperature: float | None = None, saturation: float | None = None) -> tuple[float, float]:
        """The (temperature, saturation) a call runs with: the given values or the card's defaults, checked."""
        return card_settings(self.card, temperature, saturation)

    def _knobs(
        self, temperature: float | None, saturation: float | None, fallback: float | None
    ) -> tuple[tf.Tensor, ...]:
        """:meth:`settings` and the uncertainty fallback as graph inputs."""
        fallback = self.card.uncertainty_fallback if fallback is None else fallback
        if not np.isfinite(fallback) or fallback < 0:
            msg = f"uncertainty fallback must be a finite number >= 0, got {fallback!r}"
            raise ValueError(msg)
        values = (*self.settings(temperature, saturation), fallback)
        return tuple(tf.constant(value, tf.float32) for value in values)

    def _chroma_graph(self, lightness, temperature: tf.Tensor, saturation: tf.Tensor, fallback: tf.Tensor) -> tf.Tensor:
        """(N, H, W) CIE L -> (N, h, w, 4) guided-upsampling coefficients at the working shape."""
        return self.decode(*self.run_network(lightness), temperature, saturation, fallback)

    def run_network(self, lightness: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(N, H, W) CIE L -> (head output on the square canvas, (N, h, w) CIE L at the working shape)."""
        canvas, small_lightness = self.working_canvas(lightness)
        return chroma_from_gray(self.backbone, self.head, canvas, training=False), small_lightness

    def working_canvas(self, lightness: tf.Tensor, size: int | None = None) -> tuple[tf.Tensor, tf.Tensor]:
        """(N, H, W) CIE L -> ((N, size, size, 1) sRGB gray canvas, (N, h, w) CIE L at the working shape).

        ``size`` defaults to the card's working size.
        """
        size = self.working_size if size is None else size
        full = tf.shape(lightness)[1:3]
        scale = size / tf.cast(tf.reduce_max(full), tf.float64)
        small = tf.maximum(1, tf.cast(tf.round(tf.cast(full, tf.float64) * scale), tf.int32))
        small_lightness = tf.image.resize(lightness[..., tf.newaxis], small, method="area")
        gray = color.linear_to_srgb(color.luminance_from_lightness(small_lightness))
        # Edge padding to the square canvas: the padded border repeats real content.
        rows = tf.minimum(tf.range(size), small[0] - 1)
        cols = tf.minimum(tf.range(size), small[1] - 1)
        canvas = tf.gather(tf.gather(gray, rows, axis=1), cols, axis=2)
        return tf.ensure_shape(canvas, [None, size, size, 1]), small_lightness[..., 0]

    def decode(self, output, small_lightness, temperature, saturation, fallback) -> tf.Tensor:
        """Head output -> (N, h, w, 4) guided-upsampling coefficients (see :mod:`hypercol.core.guided`)."""
        chroma = self.decode_chroma(output, small_lightness, temperature, saturation, fallback)
        return self.coefficients(small_lightness, chroma)

    def decode_chroma(self, output, small_lightness, temperature, saturation, fallback) -> tf.Tensor:
        """Head output -> (N, h, w, 2) chroma at the working shape.

        The chroma is the head's (times ``saturation``); for a classification head, the
        annealed mean at ``temperature`` scaled by its certainty ** ``fallback``.
        """
        size = self.working_size
        small = tf.shape(small_lightness)[1:3]
        if self.is_classification:
            chroma = annealed_mean(output, self._centres, temperature)
            # The entropy costs more than the annealed mean: only computed when it is used.
            chroma = tf.cond(
                fallback > 0,
                lambda: chroma * tf.pow(1.0 - normalised_entropy(output), fallback)[..., tf.newaxis],
                lambda: chroma,
            )
        else:
            chroma = output
        chroma = tf.image.resize(chroma, [size, size], method="bilinear")  # heads may stop at stride 4
        return saturation * chroma[:, : small[0], : small[1], :]

    def coefficients(self, small_lightness: tf.Tensor, chroma: tf.Tensor) -> tf.Tensor:
        """(N, h, w) CIE L and (N, h, w, 2) chroma -> (N, h, w, 4) coefficients: guided, or plain when not edge-aware."""
        if not self.edge_aware:
            return tf.concat([tf.zeros_like(chroma), chroma], axis=-1)
        return guided_coefficients(small_lightness, chroma, GUIDED_RADIUS, GUIDED_EPSILON)

    def _chroma_batches(self, batch: ImageBatch, knobs: tuple[tf.Tensor, ...]):
        """Yields (lightness list, coefficients (n, h, w, 4)) per network batch."""
        for start in range(0, len(batch.pixels), self.batch_size):
            stop = min(start + self.batch_size, len(batch.pixels))
            lightnesses = [lightness(batch, index) for index in range(start, stop)]
            yield lightnesses, self._predict_chroma(tf.constant(np.stack(lightnesses)), *knobs)

    def colorize(
        self,
        image,
        *,
        temperature: float | None = None,
        saturation: float | None = None,
        fallback: float | None = None,
        hints=None,
        reference=None,
    ) -> np.ndarray:
        """Colorizes one image or a batch; see :func:`hypercol.colorize`.

        ``fallback`` overrides the card's uncertainty fallback (classification heads).
        """
        from hypercol.inference.guidance import prepare_guide

        batch = as_image_batch(image)
        knobs = self._knobs(temperature, saturation, fallback)
        guide = prepare_guide(self, batch, hints, reference)
        batches = self._chroma_batches(batch, knobs) if guide is None else guide.chroma_batches(batch, knobs)
        output_dtype = np.uint8 if batch.is_integer else np.float32
        outputs = []
        for lightnesses, chroma in batches:
            for offset, full_lightness in enumerate(lightnesses):
                rgb = compose(full_lightness, chroma[offset], as_uint8=batch.is_integer)
                if batch.has_alpha:
                    rgb = np.concatenate([rgb, batch.alpha(len(outputs), output_dtype)], axis=-1)
                outputs.append(rgb)
        return np.stack(outputs) if batch.batched else outputs[0]

    def __repr__(self) -> str:
        return (
            f"Colorizer({str(self.weights)!r}, backbone={self.card.backbone!r}, precision={self.precision!r}, "
            f"working_size={self.working_size})"
        )


def _compose_kernel(pixels: int, as_uint8: bool):
    spec = [tf.TensorSpec([pixels], tf.float32), tf.TensorSpec([pixels, 4], tf.float32)]
    to_rgb = color.rgb8_from_lightness_and_chroma if as_uint8 else color.rgb_from_lightness_and_chroma

    def kernel(lightness, coefficients):
        return to_rgb(lightness, apply_coefficients(lightness, coefficients))

    return tf.function(kernel, input_signature=spec, jit_compile=True)


# One XLA kernel per (chunk size, output type): large chunks for the bulk of big images
# (fewer calls), small ones for the rest (little padding on small images).
_COMPOSE_KERNELS = {
    (pixels, as_uint8): _compose_kernel(pixels, as_uint8) for pixels in _COMPOSE_CHUNKS for as_uint8 in (True, False)
}
# Two threads running these XLA kernels at once crashed a 2-thread Beam DirectRunner worker
# (SIGSEGV) about once in ten runs; not reproduced in 8 runs of 2 plain threads x 24 photos, so
# the cause is not pinned down. The calls take turns: they are a small part of a call (the
# network dominates), so little is lost.
_COMPOSE_LOCK = threading.Lock()


def compose(lightness: np.ndarray, coefficients: np.ndarray, *, as_uint8: bool) -> np.ndarray:
    """(H, W) CIE L + (h, w, 4) guided coefficients -> (H, W, 3) sRGB, uint8 or float32 in [0, 1].

    The coefficients are upsampled bilinearly and applied to the full-resolution
    lightness (:func:`hypercol.core.guided.apply_coefficients`); the lightness is kept exactly.
    """
    height, width = lightness.shape
    pixels = height * width
    full_chroma = tf.reshape(tf.image.resize(coefficients, (height, width), method="bilinear"), [pixels, 4])
    flat_lightness = tf.reshape(tf.constant(lightness, tf.float32), [pixels])
    padding = -pixels % _COMPOSE_CHUNKS[-1]
    if padding:
        flat_lightness = tf.pad(flat_lightness, [[0, padding]])
        full_chroma = tf.pad(full_chroma, [[0, padding], [0, 0]])
    chunks, start = [], 0
    with _COMPOSE_LOCK:
        while start < pixels:
            size = next(size for size in _COMPOSE_CHUNKS if start + size <= pixels + padding)
            kernel = _COMPOSE_KERNELS[size, as_uint8]
            chunks.append(kernel(flat_lightness[start : start + size], full_chroma[start : start + size]))
            start += size
    return tf.concat(chunks, axis=0)[:pixels].numpy().reshape(height, width, 3)


_COLORIZERS: dict[tuple, Colorizer] = {}
_COLORIZERS_LOCK = threading.Lock()


def resolve_weights(weights: str | Path | None = None, head: str | None = None) -> Path:
    """``weights`` if given, else the shipped head of type ``head`` (default: :data:`DEFAULT_HEAD`)."""
    if weights is not None:
        if head is not None:
            msg = "pass either weights= (your own head) or head= (a shipped head), not both"
            raise ValueError(msg)
        return Path(weights)
    if head is None:
        return DEFAULT_WEIGHTS
    if head not in SHIPPED_HEADS:
        msg = f"head must be one of {sorted(SHIPPED_HEADS)}, got {head!r}"
        raise ValueError(msg)
    return SHIPPED_HEADS[head]


def get_colorizer(weights: str | Path | None = None, head: str | None = None) -> Colorizer:
    """The process-wide cached :class:`Colorizer` for ``weights`` or a shipped ``head`` type."""
    path = resolve_weights(weights, head)
    key = str(path.resolve())
    with _COLORIZERS_LOCK:
        if key not in _COLORIZERS:
            _COLORIZERS[key] = Colorizer(path)
        return _COLORIZERS[key]


def colorize(
    image,
    *,
    head: str | None = None,
    weights: str | Path | None = None,
    temperature: float | None = None,
    saturation: float | None = None,
    hints=None,
    reference=None,
) -> np.ndarray:
    """Colorizes gray photographs, optionally steered by color hints or a reference photo.

    ``image``: (H, W), (H, W, 1), (H, W, 3) (reduced to its luminance) or (H, W, 4)
    (alpha kept), or a batch (N, H, W[, C]); uint8, uint16, or float in [0, 1].
    Returns RGB (RGBA with alpha) of the same size: uint8 for integer input, float32
    in [0, 1] for float input. Output CIE lightness equals the input's.

    ``head`` picks a shipped head (a name of :data:`SHIPPED_HEADS`; default
    :data:`DEFAULT_HEAD`); ``weights`` loads your own ``.weights.h5`` instead.
    ``temperature`` (classification heads): annealed-mean temperature, 1 = the mean
    (safe, desaturated), small = towards the mode (vivid); default from the model card.
    ``saturation`` scales the predicted chroma (1 = as predicted, 0 = gray; default
    from the model card).

    ``hints``: (H, W, 4) RGBA the size of the image ((N, H, W, 4) for a batch); pixels
    with alpha > 0 ask for their RGB's chroma there, spread to the places that look
    alike up to the lightness edges (lightness always stays the input's). No hinted
    pixel: exactly the automatic result.
    ``reference``: a color photo (H, W, 3) of any size (or a list, one per image, or a
    :func:`hypercol.inference.guidance.prepare_reference` result): colors are taken from the places
    of it the backbone finds alike; where nothing matches, the automatic chroma stays.
    """
    return get_colorizer(weights, head).colorize(
        image, temperature=temperature, saturation=saturation, hints=hints, reference=reference
    )
