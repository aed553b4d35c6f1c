"""sRGB <-> CIE Lab (D65) in TensorFlow, float32, checked against skimage in the tests.

The colorizer predicts Lab chroma (a, b) and takes the lightness L from the input; the
way back to RGB keeps L exactly, reducing chroma where a color is out of gamut.
"""

from __future__ import annotations

import numpy as np

import hypercol.core.quiet_tensorflow  # noqa: F401  # isort: skip -- first: TensorFlow's start-up lines hidden
import tensorflow as tf

__all__ = [
    "srgb_to_linear",
    "linear_to_srgb",
    "rgb_to_lab",
    "lab_to_rgb",
    "gray_from_lightness",
    "weighted_luminance",
    "lightness_from_luminance",
    "luminance_from_lightness",
    "bounded_chroma",
    "linear_from_lightness_and_chroma",
    "rgb_from_lightness_and_chroma",
    "rgb8_from_lightness_and_chroma",
]

# sRGB (D65) linear RGB -> XYZ, the matrix skimage uses.
_RGB_TO_XYZ = np.array(
    [
        [0.412453, 0.357580, 0.180423],
        [0.212671, 0.715160, 0.072169],
        [0.019334, 0.119193, 0.950227],
    ],
    dtype=np.float64,
)
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
_WHITE_D65 = np.array([0.95047, 1.0, 1.08883], dtype=np.float64)
_LUMINANCE_WEIGHTS = _RGB_TO_XYZ[1] / _RGB_TO_XYZ[1].sum()
_EPSILON = 216.0 / 24389.0  # CIE: (6/29)^3
# Longer than the chroma of any sRGB color (at most about 134), so no color in gamut is
# changed by the bound; anything beyond it would only be pulled back into the gamut.
MAX_CHROMA = 200.0
_KAPPA = 24389.0 / 27.0


def _mix(channels: tf.Tensor, matrix: np.ndarray) -> tf.Tensor:
    """(..., 3) -> (..., 3): ``matrix @ pixel`` per pixel.

    Written as float32 multiply-adds rather than a MatMul so that the oneDNN bf16
    graph rewrite, which targets MatMul/Conv, never lowers color math to bf16.
    """
    return tf.stack(_mixed(tf.unstack(channels, axis=-1), matrix), axis=-1)


def _mixed(parts: list[tf.Tensor], matrix: np.ndarray) -> list[tf.Tensor]:
    """:func:`_mix` on the channels as separate tensors."""
    return [sum(float(w) * part for w, part in zip(row, parts)) for row in matrix]


def _power(base: tf.Tensor, exponent: float) -> tf.Tensor:
    """``base ** exponent`` for positive ``base``, as exp(exponent x log(base)).

    TensorFlow's CPU Pow kernel is about 4x slower than its exp and log (16 x 224 x 224
    values: 9.2 against 2.4 ms on a 2-core Xeon; within 4e-7 of each other): the gray the
    backbone sees is computed with it at every training step and every call.
    """
    return tf.exp(exponent * tf.math.log(base))


def srgb_to_linear(srgb: tf.Tensor) -> tf.Tensor:
    """sRGB gamma decode, any shape, values in [0, 1]."""
    srgb = tf.convert_to_tensor(srgb, tf.float32)
    return tf.where(
        srgb <= 0.04045,
        srgb / 12.92,
        _power((tf.maximum(srgb, 0.04045) + 0.055) / 1.055, 2.4),
    )


def linear_to_srgb(linear: tf.Tensor) -> tf.Tensor:
    """sRGB gamma encode, any shape, values in [0, 1]."""
    linear = tf.convert_to_tensor(linear, tf.float32)
    return tf.where(
        linear <= 0.0031308,
        linear * 12.92,
        1.055 * _power(tf.maximum(linear, 0.0031308), 1.0 / 2.4) - 0.055,
    )


def _f(t: tf.Tensor) -> tf.Tensor:
    return tf.where(
        t > _EPSILON,
        _power(tf.maximum(t, _EPSILON), 1.0 / 3.0),
        (_KAPPA * t + 16.0) / 116.0,
    )


def _f_inverse(f: tf.Tensor) -> tf.Tensor:
    cube = f * f * f
    return tf.where(cube > _EPSILON, cube, (116.0 * f - 16.0) / _KAPPA)


def weighted_luminance(linear: tf.Tensor) -> tf.Tensor:
    """(..., 3) linear RGB -> (...) luminance Y.

    Written as green plus the weighted differences from it (the weights sum to 1), so that a
    gray pixel's luminance is exactly its level: gray as RGB and as one band colorize alike.
    """
    red, green, blue = tf.unstack(tf.convert_to_tensor(linear, tf.float32), axis=-1)
    w_red, _, w_blue = (float(w) for w in _LUMINANCE_WEIGHTS)
    return green + w_red * (red - green) + w_blue * (blue - green)


def lightness_from_luminance(y: tf.Tensor) -> tf.Tensor:
    """Linear luminance Y in [0, 1] -> CIE L in [0, 100]."""
    return 116.0 * _f(tf.convert_to_tensor(y, tf.float32)) - 16.0


def luminance_from_lightness(lightness: tf.Tensor) -> tf.Tensor:
    """CIE L in [0, 100] -> linear luminance Y in [0, 1]."""
    return _f_inverse((tf.convert_to_tensor(lightness, tf.float32) + 16.0) / 116.0)


def gray_from_lightness(lightness: tf.Tensor) -> tf.Tensor:
    """CIE L in [0, 100] -> the sRGB gray in [0, 1] of that lightness (same shape): what a backbone sees."""
    return linear_to_srgb(luminance_from_lightness(lightness))


def rgb_to_lab(rgb: tf.Tensor) -> tf.Tensor:
    """(..., 3) sRGB in [0, 1] -> (..., 3) CIE Lab (D65): L in [0, 100], a, b about ±110."""
    linear = srgb_to_linear(rgb)
    xyz = _mix(linear, _RGB_TO_XYZ / _WHITE_D65[:, np.newaxis])
    fx, fy, fz = tf.unstack(_f(xyz), axis=-1)
    return tf.stack([116.0 * fy - 16.0, 500.0 * (fx - fy), 200.0 * (fy - fz)], axis=-1)


def _fit_into_gamut(linear: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """Moves each linear RGB pixel towards the gray of its own luminance until it fits.

    The luminance weights sum to 1, so every point on the segment from (Y, Y, Y) to
    the pixel has luminance Y: lightness is kept exactly and only chroma is reduced.
    """
    y = y[..., tf.newaxis]
    offset = linear - y
    over = tf.where(linear > 1.0, (1.0 - y) / tf.where(offset > 0, offset, 1.0), 1.0)
    under = tf.where(linear < 0.0, -y / tf.where(offset < 0, offset, -1.0), 1.0)
    scale = tf.reduce_min(tf.minimum(over, under), axis=-1, keepdims=True)
    return tf.clip_by_value(y + tf.clip_by_value(scale, 0.0, 1.0) * offset, 0.0, 1.0)


def _fit_channels_into_gamut(channels: list[tf.Tensor], y: tf.Tensor) -> list[tf.Tensor]:
    """:func:`_fit_into_gamut` on the channels as separate tensors, bit for bit.

    The most restrictive bound over the channels is the brightest channel's above 1 and the
    darkest's below 0 ((1 - Y) / (c - Y) falls and Y / (Y - c) rises with c, in float as well),
    so two divisions instead of six: in compose's XLA kernel, with the channels kept apart up
    to the 8-bit output, 5.8-6.0 against 6.9-7.4 ms per 2**18 pixels (2-core Xeon with AMX).
    """
    highest = tf.maximum(tf.maximum(channels[0], channels[1]), channels[2])
    lowest = tf.minimum(tf.minimum(channels[0], channels[1]), channels[2])
    over = tf.where(highest > 1.0, (1.0 - y) / tf.where(highest > y, highest - y, 1.0), 1.0)
    under = tf.where(lowest < 0.0, y / tf.where(lowest < y, y - lowest, 1.0), 1.0)
    scale = tf.clip_by_value(tf.minimum(over, under), 0.0, 1.0)
    return [tf.clip_by_value(y + scale * (channel - y), 0.0, 1.0) for channel in channels]


def _bounded_a_and_b(a: tf.Tensor, b: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    a = tf.where(tf.math.is_finite(a), a, 0.0)
    b = tf.where(tf.math.is_finite(b), b, 0.0)
    # Lengths are measured in units of the larger component (at least 1), so squaring never overflows.
    # a and b apart rather than reductions over the last axis: the same values, and the XLA kernel of
    # compose is 10% faster (reductions over an axis of 2 are not vectorised).
    unit = tf.maximum(tf.maximum(tf.abs(a), tf.abs(b)), 1.0)
    length_in_units = tf.sqrt(tf.square(a / unit) + tf.square(b / unit))
    shrink = tf.minimum(1.0, (MAX_CHROMA / unit) / length_in_units)
    return a * shrink, b * shrink


def bounded_chroma(ab: tf.Tensor) -> tf.Tensor:
    """(..., 2) Lab chroma with non-finite values set to 0 and lengths above :data:`MAX_CHROMA`
    shortened to it, hue kept: whatever the chroma, the color math below stays finite."""
    ab = tf.convert_to_tensor(ab, tf.float32)
    return tf.stack(_bounded_a_and_b(ab[..., 0], ab[..., 1]), axis=-1)


def _lightness_and_chroma_to_xyz(lightness: tf.Tensor, ab: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """CIE L (...) and Lab chroma (..., 2), bounded -> X, Y, Z (...)."""
    fy = (tf.clip_by_value(tf.convert_to_tensor(lightness, tf.float32), 0.0, 100.0) + 16.0) / 116.0
    a, b = _bounded_a_and_b(ab[..., 0], ab[..., 1])
    x = _WHITE_D65[0] * _f_inverse(fy + a / 500.0)
    z = _WHITE_D65[2] * _f_inverse(fy - b / 200.0)
    return x, _f_inverse(fy), z


def linear_from_lightness_and_chroma(lightness: tf.Tensor, ab: tf.Tensor) -> tf.Tensor:
    """CIE L (...) in [0, 100] and Lab chroma (..., 2) -> (..., 3) linear RGB in [0, 1].

    Out-of-gamut colors lose chroma, never lightness; any chroma gives a finite color.
    """
    x, y, z = _lightness_and_chroma_to_xyz(lightness, tf.convert_to_tensor(ab, tf.float32))
    linear = _mix(tf.stack([x, y, z], axis=-1), _XYZ_TO_RGB)
    return _fit_into_gamut(linear, y)


def rgb_from_lightness_and_chroma(lightness: tf.Tensor, ab: tf.Tensor) -> tf.Tensor:
    """CIE L (...) and chroma (..., 2) -> (..., 3) sRGB float32 in [0, 1], lightness kept."""
    return linear_to_srgb(linear_from_lightness_and_chroma(lightness, ab))


def rgb8_from_lightness_and_chroma(lightness: tf.Tensor, ab: tf.Tensor) -> tf.Tensor:
    """Like :func:`rgb_from_lightness_and_chroma`, rounded to uint8 (the same values, rounded).

    The channels stay apart until the 8-bit output: faster in compose's XLA kernel, where the
    float output is faster interleaved (6.2-7.1 against 7.9-11.4 ms per 2**18 pixels). The sRGB
    curve itself (exp and log), not a table: a gather from a 65,537-entry table took 5.3 ms per
    2**18 pixels against 4.1 for the curve (2-core Xeon with AMX), and the curve rounds exactly.
    """
    x, y, z = _lightness_and_chroma_to_xyz(lightness, tf.convert_to_tensor(ab, tf.float32))
    linear = _fit_channels_into_gamut(_mixed([x, y, z], _XYZ_TO_RGB), y)
    return tf.stack([tf.cast(tf.round(255.0 * linear_to_srgb(channel)), tf.uint8) for channel in linear], axis=-1)


def lab_to_rgb(lab: tf.Tensor) -> tf.Tensor:
    """(..., 3) CIE Lab (D65) -> (..., 3) sRGB in [0, 1], lightness kept when out of gamut."""
    lab = tf.convert_to_tensor(lab, tf.float32)
    return rgb_from_lightness_and_chroma(lab[..., 0], lab[..., 1:])
