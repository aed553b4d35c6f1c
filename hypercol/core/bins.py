"""Quantized ab colors for the classification head (Zhang et al. 2016).

The ab plane is cut into a grid of ``GRID`` units; the head predicts a distribution
over the bins seen in the training corpus. Targets are soft: each pixel's ``NEIGHBOURS``
nearest bins with Gaussian weights. Rare colors weigh more in the loss: per-bin weights
are the inverse of the smoothed empirical distribution mixed with a uniform one.
Decoding is the annealed mean: softmax(logits / T), then the mean of the bin centres;
T = 1 is the mean (safe, desaturated), T -> 0 approaches the mode (vivid).
"""

from __future__ import annotations

from collections.abc import Callable

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
    "sparse_soft_encoder",
    "annealed_mean",
    "normalised_entropy",
    "hue_agreement",
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


# A negligible per-bin offset to the squared distances breaks ties, so exactly NEIGHBOURS bins are kept.
_TIE_BREAK = 1e-4


def _squared_distances(ab: tf.Tensor, centres_a: tf.Tensor, centres_b: tf.Tensor, indices: tf.Tensor) -> tf.Tensor:
    """Squared ab distances to the given bins, plus the tie-breaking offset of their indices (same arithmetic everywhere)."""
    return (
        tf.square(ab[..., 0:1] - centres_a)
        + tf.square(ab[..., 1:2] - centres_b)
        + _TIE_BREAK * tf.cast(indices, tf.float32)
    )


@tf.function(jit_compile=True)
def _soft_encode(ab: tf.Tensor, centres: tf.Tensor) -> tf.Tensor:
    distances = _squared_distances(ab, centres[:, 0], centres[:, 1], tf.range(tf.shape(centres)[0]))
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


def hue_agreement(logits: tf.Tensor, centres: tf.Tensor) -> tf.Tensor:
    """(..., Q) logits -> (...) how far the bins of softmax(logits) agree on a hue, in [0, 1].

    The length of the mean ab over the length it would have if every bin pointed the same way,
    |E[ab]| / E[|ab|]: 1 where the likely bins share a hue, near 0 where opposite hues cancel (a
    road that may be yellow-green or blue). Gray bins count for neither.
    """
    probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
    centres = tf.convert_to_tensor(centres, tf.float32)
    mean_ab = tf.tensordot(probabilities, centres, axes=[[-1], [0]])
    mean_length = tf.tensordot(probabilities, tf.norm(centres, axis=-1), axes=[[-1], [0]])
    agreement = tf.math.divide_no_nan(tf.norm(mean_ab, axis=-1), mean_length)
    return tf.clip_by_value(agreement, 0.0, 1.0)


# The sparse encoder looks a pixel's candidate bins up in a table of ab cells: only bins that can
# be among the NEIGHBOURS nearest of some point of the cell (about 9 of 224, at most 16, for the
# shipped bins). ab beyond ±_TABLE_LIMIT (outside any sRGB color) counts as on that edge.
_TABLE_LIMIT = 128.0
_TABLE_CELL = 5.0


def sparse_soft_encoder(centres: np.ndarray) -> Callable[[tf.Tensor], tuple[tf.Tensor, tf.Tensor]]:
    """``encode(ab (..., 2)) -> (indices (..., k) int32, weights (..., k))``: :func:`soft_encode` in sparse form.

    The ``k = min(NEIGHBOURS, Q)`` bins that carry the target's mass, nearest first, and
    their masses (the same values :func:`soft_encode` puts at those indices). The training
    loss works from these instead of a Q-wide target per pixel: the distances are only
    computed to a few candidate bins per pixel, looked up by the pixel's ab cell.
    ab beyond ±128 (no sRGB color is) is encoded as if on that edge.
    """
    centres = np.asarray(centres, np.float32).reshape(-1, 2)
    table = tf.constant(_candidate_table(centres))
    centres_tensor = tf.constant(centres)
    return lambda ab: _sparse_encode(tf.convert_to_tensor(ab, tf.float32), centres_tensor, table)


def _candidate_table(centres: np.ndarray) -> np.ndarray:
    """(cells, cells, K) int32: per ab cell of ``_TABLE_CELL`` units, every bin that can be among the
    NEIGHBOURS nearest of a point of the cell (-1 pads).

    Within the cell, the k bins of smallest farthest-distance are all within r (the k-th
    smallest farthest-distance) of any point, so the k nearest (with the tie-breaking offset,
    at most _TIE_BREAK * Q) are within r + _TIE_BREAK * Q of it: a bin whose nearest distance
    to the cell exceeds that is never among them.
    """
    count, kept = len(centres), min(NEIGHBOURS, len(centres))
    edges = np.arange(-_TABLE_LIMIT, _TABLE_LIMIT, _TABLE_CELL)
    low = np.stack(np.meshgrid(edges, edges, indexing="ij"), axis=-1).reshape(-1, 1, 2)
    high = low + _TABLE_CELL
    bins64 = centres.astype(np.float64)[np.newaxis]
    nearest = np.sum((bins64 - np.clip(bins64, low, high)) ** 2, axis=-1)
    corner = np.where(np.abs(bins64 - low) > np.abs(bins64 - high), low, high)
    farthest = np.sum((bins64 - corner) ** 2, axis=-1)
    reach = np.partition(farthest, kept - 1, axis=1)[:, kept - 1 : kept] + _TIE_BREAK * count + 1e-2  # float32 slack
    candidates = nearest <= reach
    table = np.full((len(candidates), candidates.sum(axis=1).max()), -1, np.int32)
    for cell, row in enumerate(candidates):
        found = np.flatnonzero(row)
        table[cell, : len(found)] = found
    return table.reshape(len(edges), len(edges), -1)


@tf.function(jit_compile=True)
def _sparse_encode(ab: tf.Tensor, centres: tf.Tensor, table: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    ab = tf.clip_by_value(ab, -_TABLE_LIMIT, _TABLE_LIMIT - 1e-3)
    candidates = tf.gather_nd(table, tf.cast(tf.floor((ab + _TABLE_LIMIT) / _TABLE_CELL), tf.int32))
    present = candidates >= 0
    candidates = tf.maximum(candidates, 0)
    position = tf.gather(centres, candidates)
    distances = _squared_distances(ab, position[..., 0], position[..., 1], candidates)
    distances = tf.where(present, distances, np.inf)
    slots = tf.range(tf.shape(candidates)[-1])
    chosen, chosen_distances = [], []
    for _ in range(min(NEIGHBOURS, int(centres.shape[0]))):  # the nearest left, one at a time
        slot = tf.argmin(distances, axis=-1, output_type=tf.int32)[..., tf.newaxis]
        chosen.append(tf.gather(candidates, slot, batch_dims=len(ab.shape) - 1))
        chosen_distances.append(tf.reduce_min(distances, axis=-1, keepdims=True))
        distances = tf.where(slots == slot, np.inf, distances)
    indices, distances = tf.concat(chosen, axis=-1), tf.concat(chosen_distances, axis=-1)
    return indices, tf.nn.softmax(-distances / (2.0 * SOFT_SIGMA**2), axis=-1)
