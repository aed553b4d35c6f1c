"""The objective: what the head is trained to minimise, per head type.

A regression head predicts ab and learns from Dahl's loss (or plain L2); a
classification head predicts logits over the ab bins of the data's color prior and
learns from Zhang's rebalanced cross-entropy. Losses return one value per example.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import hypercol.core.quiet_tensorflow  # noqa: F401  # isort: skip -- first: TensorFlow's start-up lines hidden
import tensorflow as tf

from hypercol.core import bins
from hypercol.training.data import TrainingData

__all__ = [
    "CLASSIFICATION_OUTPUT_STRIDE",
    "LOSSES",
    "Objective",
    "dahl_loss",
    "l2_loss",
    "objective",
    "rebalanced_cross_entropy",
]

_CHROMA_UNIT = 100.0  # losses see ab / 100, so they are O(1)
CLASSIFICATION_OUTPUT_STRIDE = 4


def _gaussian_kernel(size: int) -> tf.Tensor:
    # OpenCV's default sigma for a kernel of this size.
    sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    offsets = np.arange(size) - (size - 1) / 2
    weights = np.exp(-(offsets**2) / (2 * sigma**2))
    kernel = np.outer(weights, weights) / np.outer(weights, weights).sum()
    return tf.constant(np.tile(kernel[:, :, None, None], (1, 1, 2, 1)), tf.float32)


def l2_loss(true_ab: tf.Tensor, predicted_ab: tf.Tensor) -> tf.Tensor:
    """Per-example mean squared chroma error, in units of 100 ab: (N,)."""
    difference = (tf.cast(predicted_ab, tf.float32) - true_ab) / _CHROMA_UNIT
    return tf.reduce_mean(tf.square(difference), axis=[1, 2, 3])


_BLUR_SIZES = (3, 5)


def dahl_loss(true_ab: tf.Tensor, predicted_ab: tf.Tensor) -> tf.Tensor:
    """Dahl 2016: L2 on the chroma averaged with L2 on the chroma blurred by 3 and 5 px Gaussians: (N,)."""
    predicted_ab = tf.cast(predicted_ab, tf.float32)
    terms = [l2_loss(true_ab, predicted_ab)]
    for size in _BLUR_SIZES:
        kernel = _gaussian_kernel(size)
        blurred = [tf.nn.depthwise_conv2d(t, kernel, [1, 1, 1, 1], "SAME") for t in (true_ab, predicted_ab)]
        terms.append(l2_loss(*blurred))
    return tf.add_n(terms) / len(terms)


LOSSES = {"dahl": dahl_loss, "l2": l2_loss}


def rebalanced_cross_entropy(centres: np.ndarray, weights: np.ndarray):
    """Zhang's loss: cross-entropy against soft-encoded ab, weighted per pixel by its nearest bin's weight.

    The truth is area-downsampled to the logits' resolution first. Returns a loss
    ``(true_ab (N, H, W, 2), logits (N, h, w, Q)) -> (N,)``.
    """
    centres = tf.constant(centres, tf.float32)
    weights = tf.constant(weights, tf.float32)

    def loss(true_ab: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        logits = tf.cast(logits, tf.float32)
        target_ab = tf.image.resize(true_ab, tf.shape(logits)[1:3], method="area")
        target = bins.soft_encode(target_ab, centres)
        pixel_weights = tf.gather(weights, tf.argmax(target, axis=-1))
        cross_entropy = tf.nn.softmax_cross_entropy_with_logits(target, logits)
        return tf.reduce_mean(pixel_weights * cross_entropy, axis=[1, 2])

    return loss


@dataclass
class Objective:
    """The loss of a run, its name for the card, the head options it implies and the card's prior fields."""

    name: str
    loss: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
    head_config: dict
    prior: dict = field(default_factory=dict)


def objective(
    head_type: str, loss: str, data: TrainingData, head_config: dict | None, rebalance_mix: float
) -> Objective:
    """The objective of a ``head_type`` head on ``data``; ``loss`` names the regression loss."""
    head_config = dict(head_config or {})
    if head_type == "classification":
        centres, _, weights = data.color_prior(rebalance_mix)
        head_config.update(outputs=len(centres), output_stride=CLASSIFICATION_OUTPUT_STRIDE)
        prior = {"bins": centres.tolist(), "bin_weights": weights.tolist()}
        return Objective("rebalanced_cross_entropy", rebalanced_cross_entropy(centres, weights), head_config, prior)
    if data.head_output_stride is not None:
        head_config.update(output_stride=data.head_output_stride)
    return Objective(loss, LOSSES[loss], head_config)
