"""Full-resolution composition: the input's own CIE lightness with the upsampled chroma, as sRGB.

The color math runs as one XLA-fused kernel over fixed-size chunks of pixels: one
compilation serves every image size, and it is several times faster than the op-by-op
graph on large images. The upsampling, the cutting into chunks and the loop over them run
as one TensorFlow graph around those kernels: called eagerly, chunk by chunk, the same work
took 1.4x as long at 2048 x 2048 (copies of every chunk and an op dispatch each).
"""

from __future__ import annotations

import threading

import numpy as np

import hypercol.core.quiet_tensorflow  # noqa: F401  # isort: skip -- first: TensorFlow's start-up lines hidden
import tensorflow as tf

from hypercol.core import color
from hypercol.core.guided import apply_coefficients

__all__ = ["compose"]

LARGE_CHUNK, SMALL_CHUNK = 2**18, 2**16  # pixels per XLA call: the bulk of big images, then the rest


def _compose_kernel(pixels: int, as_uint8: bool):
    spec = [tf.TensorSpec([pixels], tf.float32), tf.TensorSpec([pixels, 4], tf.float32)]
    to_rgb = color.rgb8_from_lightness_and_chroma if as_uint8 else color.rgb_from_lightness_and_chroma

    def kernel(lightness, coefficients):
        return to_rgb(lightness, apply_coefficients(lightness, coefficients))

    return tf.function(kernel, input_signature=spec, jit_compile=True)


def _chunked(kernel, pixels: int, dtype, lightness: tf.Tensor, coefficients: tf.Tensor) -> tf.Tensor:
    """``kernel`` over consecutive chunks of ``pixels`` (lightness (n * pixels,), coefficients (n * pixels, 4)).

    One chunk at a time (``parallel_iterations=1``): see :data:`_COMPOSE_LOCK`.
    """
    chunks = tf.shape(lightness)[0] // pixels
    rgb = tf.map_fn(
        lambda chunk: kernel(*chunk),
        (tf.reshape(lightness, [chunks, pixels]), tf.reshape(coefficients, [chunks, pixels, 4])),
        fn_output_signature=tf.TensorSpec([pixels, 3], dtype),
        parallel_iterations=1,
    )
    return tf.reshape(rgb, [chunks * pixels, 3])


def upsampled(coefficients: tf.Tensor, shape: tf.Tensor) -> tf.Tensor:
    """(h, w, C) -> (H, W, C) bilinear (half-pixel centres): exactly ``tf.image.resize(coefficients, shape)``.

    Separably: the rows along x by ``tf.image.resize``, then each output row interpolated
    between its two source rows. ResizeBilinear interpolates every output pixel on one core;
    this way the large part is two row gathers and a multiply-add over both cores (at 2048 x
    2048, 4 channels from 224 x 224: 58 against 78 ms on a 2-core Xeon).
    """
    height = tf.shape(coefficients)[0]
    rows = tf.image.resize(coefficients, [height, shape[1]], method="bilinear")
    source = (tf.cast(tf.range(shape[0]), tf.float32) + 0.5) * (
        tf.cast(height, tf.float32) / tf.cast(shape[0], tf.float32)
    ) - 0.5
    below = tf.floor(source)
    top = tf.gather(rows, tf.maximum(tf.cast(below, tf.int32), 0))
    bottom = tf.gather(rows, tf.minimum(tf.cast(tf.math.ceil(source), tf.int32), height - 1))
    return top + (bottom - top) * (source - below)[:, tf.newaxis, tf.newaxis]


def _compose_graph(as_uint8: bool):
    large, small = (_compose_kernel(pixels, as_uint8) for pixels in (LARGE_CHUNK, SMALL_CHUNK))
    dtype = tf.uint8 if as_uint8 else tf.float32

    def composed(lightness, coefficients):
        shape = tf.shape(lightness)
        pixels = shape[0] * shape[1]
        full_coefficients = tf.reshape(upsampled(coefficients, shape), [pixels, 4])
        flat_lightness = tf.reshape(lightness, [pixels])
        # Large chunks for the bulk, small ones for the rest (padded to a whole small chunk).
        bulk = pixels // LARGE_CHUNK * LARGE_CHUNK
        padding = -(pixels - bulk) % SMALL_CHUNK
        rest_lightness = tf.pad(flat_lightness[bulk:], [[0, padding]])
        rest_coefficients = tf.pad(full_coefficients[bulk:], [[0, padding], [0, 0]])
        rgb = tf.concat(
            [
                _chunked(large, LARGE_CHUNK, dtype, flat_lightness[:bulk], full_coefficients[:bulk]),
                _chunked(small, SMALL_CHUNK, dtype, rest_lightness, rest_coefficients),
            ],
            axis=0,
        )
        return tf.reshape(rgb[:pixels], [shape[0], shape[1], 3])

    spec = [tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([None, None, 4], tf.float32)]
    return tf.function(composed, input_signature=spec)


_COMPOSE_GRAPHS = {as_uint8: _compose_graph(as_uint8) for as_uint8 in (True, False)}
# Two threads running these XLA kernels at once crashed a 2-thread Beam DirectRunner worker
# (SIGSEGV) about once in ten runs; not reproduced in 8 runs of 2 plain threads x 24 photos, so
# the cause is not pinned down. The calls take turns, and a call runs its chunks one at a time:
# they are a small part of a call (the network dominates), so little is lost.
_COMPOSE_LOCK = threading.Lock()


def compose(lightness: np.ndarray, coefficients: np.ndarray, *, as_uint8: bool) -> np.ndarray:
    """(H, W) CIE L + (h, w, 4) guided coefficients -> (H, W, 3) sRGB, uint8 or float32 in [0, 1].

    The coefficients are upsampled bilinearly and applied to the full-resolution
    lightness (:func:`hypercol.core.guided.apply_coefficients`); the lightness is kept exactly.
    """
    with _COMPOSE_LOCK:
        return _COMPOSE_GRAPHS[as_uint8](lightness, coefficients).numpy()
