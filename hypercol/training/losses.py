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
    "CLASSIFICATION_OUTPUT_STRIDES",
    "LOSSES",
    "check_output_stride",
    "Objective",
    "dahl_loss",
    "l2_loss",
    "objective",
    "rebalanced_cross_entropy",
]

_CHROMA_UNIT = 100.0  # losses see ab / 100, so they are O(1)
CLASSIFICATION_OUTPUT_STRIDE = 4  # the default: logits over the bins at a quarter of the working size
# Coarser logits are cheaper to train (the loss and the finest level of the head are most of a
# training step) and are upsampled like the others; the feature cache holds the chroma at stride 4.
CLASSIFICATION_OUTPUT_STRIDES = (4, 8)


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

    The target is used in sparse form (:func:`hypercol.core.bins.sparse_soft_encoder`: k bins
    of Q per pixel): the cross-entropy is logsumexp(logits) - sum_k target_k logits[bin_k], and
    its gradient, softmax(logits) - target, is written in one pass over the logits. With a
    Q-wide target per pixel (encoded, weighted by its argmax, then TensorFlow's dense
    cross-entropy) the loss took 112 ms of a 400 ms training step of the Lite2 head (batch 16
    at 224: 11 M logits; 2-core Xeon with AMX); this way, about 50.
    """
    encode = bins.sparse_soft_encoder(centres)
    weights = tf.constant(weights, tf.float32)

    @tf.custom_gradient
    def pixel_losses(logits: tf.Tensor, target_ab: tf.Tensor):
        indices, target = encode(target_ab)
        losses, log_normaliser, pixel_weights = _weighted_cross_entropy(logits, indices, target, weights)

        def gradient(upstream):
            scale = upstream * pixel_weights
            return _cross_entropy_gradient(logits, log_normaliser, indices, target, scale), None

        return losses, gradient

    def loss(true_ab: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        logits = tf.cast(logits, tf.float32)
        target_ab = tf.image.resize(true_ab, tf.shape(logits)[1:3], method="area")
        return tf.reduce_mean(pixel_losses(logits, target_ab), axis=[1, 2])

    return loss


@tf.function(jit_compile=True)
def _weighted_cross_entropy(logits, indices, target, weights):
    """Per pixel: (weight of the nearest bin x cross-entropy, logsumexp of the logits, that weight)."""
    log_normaliser = tf.reduce_logsumexp(logits, axis=-1)
    picked = tf.gather(logits, indices, batch_dims=len(indices.shape) - 1)
    pixel_weights = tf.gather(weights, indices[..., 0])
    return pixel_weights * (log_normaliser - tf.reduce_sum(target * picked, axis=-1)), log_normaliser, pixel_weights


@tf.function(jit_compile=True)
def _cross_entropy_gradient(logits, log_normaliser, indices, target, scale):
    """d loss / d logits = scale x (softmax(logits) - target), the sparse target spread in the same pass."""
    bin_index = tf.range(tf.shape(logits)[-1])
    dense_target = 0.0
    for k in range(indices.shape[-1]):
        dense_target += tf.where(bin_index == indices[..., k : k + 1], target[..., k : k + 1], 0.0)
    return (tf.exp(logits - log_normaliser[..., tf.newaxis]) - dense_target) * scale[..., tf.newaxis]


@dataclass
class Objective:
    """The loss of a run, its name for the card, the head options it implies and the card's prior fields."""

    name: str
    loss: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
    head_config: dict
    prior: dict = field(default_factory=dict)


def check_output_stride(head_type: str, head_config: dict | None) -> None:
    """ValueError unless the head options' ``output_stride``, if any, is one a head of ``head_type`` can train at."""
    stride = (head_config or {}).get("output_stride")
    if stride is None:
        return
    if head_type != "classification":
        msg = "output_stride is an option of the classification head"
        raise ValueError(msg)
    if stride not in CLASSIFICATION_OUTPUT_STRIDES:
        msg = f"a classification head's output stride is one of {CLASSIFICATION_OUTPUT_STRIDES}, got {stride!r}"
        raise ValueError(msg)


def objective(
    head_type: str, loss: str, data: TrainingData, head_config: dict | None, rebalance_mix: float
) -> Objective:
    """The objective of a ``head_type`` head on ``data``; ``loss`` names the regression loss."""
    head_config = dict(head_config or {})
    if head_type == "classification":
        centres, _, weights = data.color_prior(rebalance_mix)
        head_config.setdefault("output_stride", CLASSIFICATION_OUTPUT_STRIDE)  # checked by train()
        head_config.update(outputs=len(centres))
        prior = {"bins": centres.tolist(), "bin_weights": weights.tolist()}
        return Objective("rebalanced_cross_entropy", rebalanced_cross_entropy(centres, weights), head_config, prior)
    if data.head_output_stride is not None:
        head_config.update(output_stride=data.head_output_stride)
    return Objective(loss, LOSSES[loss], head_config)
