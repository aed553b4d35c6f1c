"""The network pass of one head: gray working canvas -> backbone taps -> head -> chroma -> guided coefficients.

The network sees the gray image at a fixed working size (long side = the card's
``working_size``, aspect kept, edge-padded to a square canvas, so one trace serves every
input size). Its chroma is cropped to the image and handed on as the coefficients of the
edge-aware upsampling (:mod:`hypercol.core.guided`) at the working shape;
:mod:`hypercol.inference.compose` applies them at full resolution.

:class:`ChromaNetwork` is what the chroma sources share: the automatic one
(:class:`AutomaticChroma`), and the guides of :mod:`hypercol.inference.guidance`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

import hypercol.core.quiet_tensorflow  # noqa: F401  # isort: skip -- first: TensorFlow's start-up lines hidden
import tensorflow as tf

from hypercol.core import color
from hypercol.core.arrays import ImageBatch, lightness
from hypercol.core.bins import annealed_mean, hue_agreement, normalised_entropy
from hypercol.core.guided import guided_coefficients
from hypercol.models.backbones import Backbone
from hypercol.models.card import ModelCard, card_settings, check_knobs

__all__ = [
    "AddedGraphs",
    "ChromaNetwork",
    "AutomaticChroma",
    "chroma_from_gray",
    "fitted_shape",
    "lightness_batches",
    "saturated",
    "GUIDED_RADIUS",
]

# Guided upsampling at the working size: one window spans about two cells of the
# classification head's stride-4 output; epsilon = (3 L units)^2 in the [0, 1] guide.
GUIDED_RADIUS = 4
GUIDED_EPSILON = 0.03**2


def chroma_from_gray(backbone: Backbone, head, gray: tf.Tensor, *, training: bool, features=None) -> tf.Tensor:
    """(N, H, W, 1) sRGB gray in [0, 1] -> (N, H, W, C) float32 head output: backbone taps, then the head.

    ``features``: the backbone's taps of ``gray`` when the caller already has them.
    """
    features = backbone(gray) if features is None else features
    output = head([gray] + [features[tap.key] for tap in backbone.spec.taps], training=training)
    return tf.cast(output, tf.float32)


def saturated(chroma: tf.Tensor, saturation, knee: float | None = None) -> tf.Tensor:
    """(N, h, w, 2) chroma times ``saturation``; with a ``knee``, each photo's own gain.

    A photo whose predicted chroma has the root mean square r is scaled so that it becomes
    knee * tanh(saturation * r / knee): a muted prediction (r well below the knee) gains about
    ``saturation``, one that is already colorful (a face the head is sure of) hardly any.
    """
    if knee is None:
        return saturation * chroma
    rms = tf.sqrt(tf.reduce_mean(tf.reduce_sum(tf.square(chroma), axis=-1), axis=[1, 2]))[:, None, None, None]
    gain = tf.math.divide_no_nan(knee * tf.tanh(saturation * rms / knee), rms)
    return tf.where(rms > 0, gain, saturation) * chroma


def fitted_shape(shape: tf.Tensor, size: int) -> tf.Tensor:
    """(height, width) scaled, aspect kept, to a long side of ``size`` (each side at least 1)."""
    scale = size / tf.cast(tf.reduce_max(shape), tf.float64)
    return tf.maximum(1, tf.cast(tf.round(tf.cast(shape, tf.float64) * scale), tf.int32))


def lightness_batches(
    batch: ImageBatch, size: int, same_group: Callable[[int, int], bool] | None = None
) -> Iterator[tuple[range, list[tf.Tensor], tf.Tensor]]:
    """(indices, full-resolution CIE L planes, their stack) for runs of at most ``size`` images of ``batch``;
    with ``same_group(first, index)`` a run also stops where it says False.

    The planes are tensors cut from the stack (one image: the stack reshaped, no copy), so the
    composition does not convert them again (a 2048 x 2048 plane: 2.9 ms a copy).
    """
    index, count = 0, len(batch.pixels)
    while index < count:
        stop = index + 1
        while stop < count and stop - index < size and (same_group is None or same_group(index, stop)):
            stop += 1
        planes = [lightness(batch, position) for position in range(index, stop)]
        stacked = tf.constant(planes[0][np.newaxis] if len(planes) == 1 else np.stack(planes))
        if len(planes) == 1:
            yield range(index, stop), [tf.reshape(stacked, planes[0].shape)], stacked
        else:
            yield range(index, stop), tf.unstack(stacked), stacked
        index = stop


class AddedGraphs:
    """The traced functions other modules add to a network (guidance, video): a subclass's ``__init__`` sets
    ``self._added_graphs = {}``."""

    _added_graphs: dict[str, object]

    def added_graphs(self, owner: str, build: Callable[[AddedGraphs], object]):
        """The traced functions ``owner`` (guidance, video) adds to this network, built once by ``build(self)``."""
        graphs = self._added_graphs.get(owner)
        if graphs is None:
            graphs = self._added_graphs.setdefault(owner, build(self))
        return graphs


class ChromaNetwork(AddedGraphs):
    """A loaded backbone and head with the card that says how to run and decode them."""

    def __init__(self, backbone: Backbone, head, card: ModelCard, *, batch_size: int, edge_aware: bool = True) -> None:
        self.backbone = backbone
        self.head = head
        self.card = card
        self.working_size = int(card.working_size)
        if self.working_size % backbone.spec.max_stride:
            msg = f"working_size {self.working_size} must be a multiple of the backbone's stride {backbone.spec.max_stride}"
            raise ValueError(msg)
        self.batch_size = batch_size
        self.edge_aware = edge_aware
        self._centres = tf.constant(np.asarray(card.bins, np.float32).reshape(-1, 2))
        self._added_graphs = {}
        # The backbone runs as a graph of its own, the head and what follows it as another:
        # traced into one graph, the bf16 rewrite made the pair 1.6x slower on a Xeon with AMX
        # (16 images at 224: 21.5-22.5 against 13.1-14.1 ms per image; float32 unchanged).
        knob = tf.TensorSpec([], tf.float32)
        canvas = tf.TensorSpec([None, None, None, 1], tf.float32)
        planes = tf.TensorSpec([None, None, None], tf.float32)
        features = {tap.key: tf.TensorSpec([None, None, None, tap.channels], tf.float32) for tap in backbone.spec.taps}
        # What canvas_and_features gives, then the knobs: the input signature of a graph of the head.
        self.head_signature = [canvas, planes, features] + [knob] * 3
        self.canvas_and_features = tf.function(self.working_features, input_signature=[planes])
        self.head_output = tf.function(self._head_output, input_signature=[canvas, features])
        self.head_chroma = tf.function(self.chroma_of_features, input_signature=self.head_signature)
        self.head_coefficients = tf.function(self._head_coefficients, input_signature=self.head_signature)

    def knobs(
        self, temperature: float | None, saturation: float | None, fallback: float | None
    ) -> tuple[tf.Tensor, ...]:
        """(temperature, saturation, uncertainty fallback) as graph inputs: the given values or the card's, checked."""
        fallback = self.card.uncertainty_fallback if fallback is None else fallback
        check_knobs(None, None, fallback)
        values = (*card_settings(self.card, temperature, saturation), fallback)
        return tuple(tf.constant(value, tf.float32) for value in values)

    def working_features(self, lightness: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, dict]:
        """(N, H, W) CIE L -> (gray canvas, (N, h, w) CIE L at the working shape, the backbone's taps of the canvas).

        Traced as :attr:`canvas_and_features`.
        """
        canvas, small_lightness = self.working_canvas(lightness)
        return canvas, small_lightness, self.backbone(canvas)

    def _head_output(self, canvas, features) -> tf.Tensor:
        return chroma_from_gray(self.backbone, self.head, canvas, training=False, features=features)

    def chroma_of_features(self, canvas, small_lightness, features, temperature, saturation, fallback) -> tf.Tensor:
        """What :attr:`canvas_and_features` gives, and the knobs -> (N, h, w, 2) chroma at the working shape.

        Traced alone as :attr:`head_chroma`; a caller may trace it beside other work on the head's output.
        """
        output = self._head_output(canvas, features)
        return self.decode_chroma(output, small_lightness, temperature, saturation, fallback)

    def _head_coefficients(self, canvas, small_lightness, features, temperature, saturation, fallback) -> tf.Tensor:
        chroma = self.chroma_of_features(canvas, small_lightness, features, temperature, saturation, fallback)
        return self.coefficients(small_lightness, chroma)

    def predict_coefficients(self, lightness: tf.Tensor, temperature, saturation, fallback) -> tf.Tensor:
        """(N, H, W) CIE L -> (N, h, w, 4) guided-upsampling coefficients at the working shape."""
        return self.head_coefficients(*self.canvas_and_features(lightness), temperature, saturation, fallback)

    def chroma(self, lightness: tf.Tensor, temperature, saturation, fallback) -> tuple[tf.Tensor, tf.Tensor]:
        """(N, H, W) CIE L -> ((N, h, w, 2) chroma, (N, h, w) CIE L) at the working shape."""
        canvas, small_lightness, features = self.canvas_and_features(lightness)
        return self.head_chroma(canvas, small_lightness, features, temperature, saturation, fallback), small_lightness

    def run(self, lightness: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(N, H, W) CIE L -> (head output on the square canvas, (N, h, w) CIE L at the working shape)."""
        canvas, small_lightness, features = self.canvas_and_features(lightness)
        return self.head_output(canvas, features), small_lightness

    def working_canvas(self, lightness: tf.Tensor, size: int | None = None) -> tuple[tf.Tensor, tf.Tensor]:
        """(N, H, W) CIE L -> ((N, size, size, 1) sRGB gray canvas, (N, h, w) CIE L at the working shape).

        ``size`` defaults to the card's working size.
        """
        size = self.working_size if size is None else size
        small = fitted_shape(tf.shape(lightness)[1:3], size)
        small_lightness = tf.image.resize(lightness[..., tf.newaxis], small, method="area")
        gray = color.gray_from_lightness(small_lightness)
        # Edge padding to the square canvas: the padded border repeats real content.
        rows = tf.minimum(tf.range(size), small[0] - 1)
        cols = tf.minimum(tf.range(size), small[1] - 1)
        canvas = tf.gather(tf.gather(gray, rows, axis=1), cols, axis=2)
        return tf.ensure_shape(canvas, [None, size, size, 1]), small_lightness[..., 0]

    def decode_chroma(self, output, small_lightness, temperature, saturation, fallback) -> tf.Tensor:
        """Head output -> (N, h, w, 2) chroma at the working shape: :meth:`unsaturated_chroma` with the card's
        hue fade, :func:`saturated` by ``saturation`` and the card's knee."""
        chroma = self.unsaturated_chroma(output, small_lightness, temperature, fallback, self.card.hue_fade)
        return saturated(chroma, saturation, self.card.saturation_knee)

    def unsaturated_chroma(self, output, small_lightness, temperature, fallback, hue_fade: float) -> tf.Tensor:
        """Head output -> (N, h, w, 2) chroma at the working shape, before any saturation.

        For a classification head, the annealed mean at ``temperature`` scaled by its certainty ** ``fallback``
        and by the bins' :func:`~hypercol.core.bins.hue_agreement` ** ``hue_fade`` (a Python number: 0 skips it).
        """
        size = self.working_size
        small = tf.shape(small_lightness)[1:3]
        if self.card.is_classification:
            chroma = annealed_mean(output, self._centres, temperature)
            # The entropy costs more than the annealed mean: only computed when it is used.
            chroma = tf.cond(
                fallback > 0,
                lambda: chroma * tf.pow(1.0 - normalised_entropy(output), fallback)[..., tf.newaxis],
                lambda: chroma,
            )
            if hue_fade > 0:
                chroma *= tf.pow(hue_agreement(output, self._centres), hue_fade)[..., tf.newaxis]
        else:
            chroma = output
        chroma = tf.image.resize(chroma, [size, size], method="bilinear")  # heads may stop at stride 4
        return chroma[:, : small[0], : small[1], :]

    def coefficients(self, small_lightness: tf.Tensor, chroma: tf.Tensor) -> tf.Tensor:
        """(N, h, w) CIE L and (N, h, w, 2) chroma -> (N, h, w, 4) coefficients: guided, or plain when not edge-aware."""
        if not self.edge_aware:
            return tf.concat([tf.zeros_like(chroma), chroma], axis=-1)
        return guided_coefficients(small_lightness, chroma, GUIDED_RADIUS, GUIDED_EPSILON)


class AutomaticChroma:
    """The chroma source of an unguided call: the network's own prediction."""

    def __init__(self, network: ChromaNetwork) -> None:
        self.network = network

    def coefficient_batches(self, batch: ImageBatch, knobs: tuple[tf.Tensor, ...]):
        """Yields (full-resolution CIE L planes, their coefficients (n, h, w, 4)) per network batch."""
        for _, planes, stacked in lightness_batches(batch, self.network.batch_size):
            yield planes, self.network.predict_coefficients(stacked, *knobs)
