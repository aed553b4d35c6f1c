"""Full-resolution composition: the input's own CIE lightness with the upsampled chroma, as sRGB.

The color math runs as one XLA-fused kernel over fixed-size chunks of pixels: one
compilation serves every image size, and it is several times faster than the op-by-op
graph on large images.
"""

from __future__ import annotations

import threading

import numpy as np

import hypercol.core.quiet_tensorflow  # noqa: F401  # isort: skip -- first: TensorFlow's start-up lines hidden
import tensorflow as tf

from hypercol.core import color
from hypercol.core.guided import apply_coefficients

__all__ = ["compose"]

_COMPOSE_CHUNKS = (2**18, 2**16)  # pixels per XLA call, largest first


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
