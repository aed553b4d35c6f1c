"""Quantized ab colors for the classification head (Zhang et al. 2016).

The ab plane is cut into a grid of ``GRID`` units; the head predicts a distribution
over the bins seen in the training corpus. Targets are soft: each pixel's ``NEIGHBOURS``
nearest bins with Gaussian weights. Rare colors weigh more in the loss: per-bin weights
are the inverse of the smoothed empirical distribution mixed with a uniform one.
Decoding is the annealed mean: softmax(logits / T), then the mean of the bin centres;
T = 1 is the mean (safe, desaturated), T -> 0 approaches the mode (vivid).
"""

from __future__ import annotations

import numpy as np

import hypercol.core.quiet_tensorflow  # noqa: F401  # isort: skip -- first: TensorFlow's start-up lines hidden
import tensorflow as tf

__all__ = [
    "GRID",
    "AB_RANGE",
    "NEIGHBOURS",
    "SOFT_SIGMA",
    "grid_centres",
    "ab_histogram",
    "select_bins",
    "rebalancing_weights",
    "soft_encode",
    "annealed_mean",
    "normalised_entropy",
]

GRID = 10.0
AB_RANGE = 110.0  # centres from -110 to 110 cover the sRGB gamut in Lab ab
NEIGHBOURS = 5
SOFT_SIGMA = 5.0
PRIOR_SIGMA = 5.0
REBALANCE_LAMBDA = 0.5


def grid_centres() -> np.ndarray:
    """(G, 2) ab centres of the full grid, a-major."""
    axis = np.arange(-AB_RANGE, AB_RANGE + GRID / 2, GRID)
    a, b = np.meshgrid(axis, axis, indexing="ij")
    return np.stack([a.ravel(), b.ravel()], axis=-1).astype(np.float32)


def ab_histogram(ab: np.ndarray) -> np.ndarray:
    """Counts of (..., 2) ab values per grid cell (nearest centre): (G,)."""
    centres_per_axis = round(2 * AB_RANGE / GRID) + 1
    index = np.clip(np.rint((np.asarray(ab, np.float64) + AB_RANGE) / GRID), 0, centres_per_axis - 1).astype(int)
    flat = index[..., 0] * centres_per_axis + index[..., 1]
    return np.bincount(flat.ravel(), minlength=centres_per_axis**2).astype(np.float64)


def select_bins(histogram: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(centres (Q, 2), empirical probabilities (Q,)) of the grid cells seen at least once."""
    seen = histogram > 0
    if not seen.any():
        msg = "the color histogram is empty: no chroma was seen in the training photos"
        raise ValueError(msg)
    return grid_centres()[seen], histogram[seen] / histogram[seen].sum()


def rebalancing_weights(centres: np.ndarray, probabilities: np.ndarray, mix: float = REBALANCE_LAMBDA) -> np.ndarray:
    """Zhang's class rebalancing: w ∝ 1 / ((1 - λ) p̃ + λ / Q), normalised so E_p̃[w] = 1.

    p̃ is the empirical distribution smoothed by a Gaussian of ``PRIOR_SIGMA`` ab units
    over the bins.
    """
    if not 0.0 <= mix <= 1.0:
        msg = f"the uniform mix λ must be in [0, 1], got {mix}"
        raise ValueError(msg)
    distances = np.sum((centres[:, None, :] - centres[None, :, :]) ** 2, axis=-1)
    kernel = np.exp(-distances / (2 * PRIOR_SIGMA**2))
    smoothed = kernel @ probabilities
    smoothed /= smoothed.sum()
    weights = 1.0 / ((1.0 - mix) * smoothed + mix / len(probabilities))
    return (weights / np.sum(smoothed * weights)).astype(np.float32)


def soft_encode(ab: tf.Tensor, centres: tf.Tensor) -> tf.Tensor:
    """(..., 2) ab -> (..., Q) target distribution over the ``NEIGHBOURS`` nearest bins."""
    return _soft_encode(tf.convert_to_tensor(ab, tf.float32), tf.convert_to_tensor(centres, tf.float32))


# One XLA kernel: the training loss encodes every target pixel (16 x 56 x 56 x 224 distances a
# batch). Op by op, with a reduction over the axis of 2 for the distances and top_k for the
# NEIGHBOURS-th nearest, it took 236 ms a batch on a 2-core Xeon, 80% of the loss; fused, 43 ms.
@tf.function(jit_compile=True)
def _soft_encode(ab: tf.Tensor, centres: tf.Tensor) -> tf.Tensor:
    distances = tf.square(ab[..., 0:1] - centres[:, 0]) + tf.square(ab[..., 1:2] - centres[:, 1])
    # A negligible per-bin offset breaks ties, so exactly NEIGHBOURS bins are kept.
    distances += 1e-4 * tf.range(tf.shape(centres)[0], dtype=tf.float32)
    # The NEIGHBOURS-th smallest distance: the nearest ones set aside one by one.
    farther = distances
    for _ in range(min(NEIGHBOURS, int(centres.shape[0])) - 1):
        farther = tf.where(farther == tf.reduce_min(farther, axis=-1, keepdims=True), np.inf, farther)
    kth_nearest = tf.reduce_min(farther, axis=-1, keepdims=True)
    logits = tf.where(distances <= kth_nearest, -distances / (2.0 * SOFT_SIGMA**2), -np.inf)
    return tf.nn.softmax(logits, axis=-1)


def annealed_mean(logits: tf.Tensor, centres: tf.Tensor, temperature: tf.Tensor | float) -> tf.Tensor:
    """(..., Q) logits -> (..., 2) ab: the mean of softmax(logits / T) over the bin centres."""
    temperature = tf.maximum(tf.cast(temperature, tf.float32), 1e-3)
    probabilities = tf.nn.softmax(tf.cast(logits, tf.float32) / temperature, axis=-1)
    return tf.tensordot(probabilities, tf.convert_to_tensor(centres, tf.float32), axes=[[-1], [0]])


def normalised_entropy(logits: tf.Tensor) -> tf.Tensor:
    """(..., Q) logits -> (...) entropy of softmax(logits) / log Q, in [0, 1] (1 = uniform, unsure)."""
    logits = tf.cast(logits, tf.float32)
    log_probabilities = tf.nn.log_softmax(logits, axis=-1)
    entropy = -tf.reduce_sum(tf.exp(log_probabilities) * log_probabilities, axis=-1)
    return tf.clip_by_value(entropy / tf.math.log(tf.cast(tf.shape(logits)[-1], tf.float32)), 0.0, 1.0)
