"""Edge-aware chroma upsampling with the fast guided filter (He, Sun & Tang 2013; He & Sun 2015).

Chroma is predicted at a low resolution; plain bilinear upsampling lets it bleed across
the edges of the full-resolution photo. The guided filter models the chroma in each
small window as a linear function of the lightness, ``ab = a * L + b``. The
coefficients (a, b) are smooth, so they are computed at the low resolution and
upsampled bilinearly; applied to the full-resolution lightness they make color changes
follow its edges. The full-resolution cost is one bilinear resize and a multiply-add.
"""

from __future__ import annotations

import hypercol.core.quiet_tensorflow  # noqa: F401  # isort: skip -- first: TensorFlow's start-up lines hidden
import tensorflow as tf

__all__ = ["GUIDE_SCALE", "guided_coefficients", "apply_coefficients"]

GUIDE_SCALE = 100.0  # CIE L is divided by this: the guide lies in [0, 1]


def _box(x: tf.Tensor, radius: int) -> tf.Tensor:
    """Mean over a (2r+1)^2 window; at the border, over the part of it inside the image.

    Separable: the part inside the image is a rectangle, so the mean of row means is its
    mean; two 1-D pools cost 2(2r+1) reads per pixel instead of (2r+1)^2 (9x faster at r = 4).
    """
    side = 2 * radius + 1
    rows = tf.nn.avg_pool2d(x, (1, side), 1, "SAME")
    return tf.nn.avg_pool2d(rows, (side, 1), 1, "SAME")


def guided_coefficients(lightness: tf.Tensor, chroma: tf.Tensor, radius: int, epsilon: float) -> tf.Tensor:
    """(N, h, w) CIE L and (N, h, w, 2) chroma -> (N, h, w, 4) smoothed coefficients (a_a, a_b, b_a, b_b).

    ``epsilon`` (in units of the [0, 1] guide squared) sets how strong an edge must be to
    stop color: small values follow faint edges, large ones approach plain smoothing.
    """
    guide = lightness[..., tf.newaxis] / GUIDE_SCALE
    # One pass of the box filter over all five statistics (one pool call costs about as
    # much for 6 channels as for 1), and one over the coefficients.
    means = _box(tf.concat([guide, chroma, guide * guide, guide * chroma], axis=-1), radius)
    mean_guide, mean_chroma, mean_square, mean_product = tf.split(means, [1, 2, 1, 2], axis=-1)
    variance = mean_square - mean_guide * mean_guide
    covariance = mean_product - mean_guide * mean_chroma
    slope = covariance / (tf.maximum(variance, 0.0) + epsilon)
    offset = mean_chroma - slope * mean_guide
    return _box(tf.concat([slope, offset], axis=-1), radius)


def apply_coefficients(lightness: tf.Tensor, coefficients: tf.Tensor) -> tf.Tensor:
    """(...) CIE L and (..., 4) coefficients at the same resolution -> (..., 2) chroma."""
    guide = lightness[..., tf.newaxis] / GUIDE_SCALE
    return coefficients[..., :2] * guide + coefficients[..., 2:]
