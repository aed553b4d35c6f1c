"""Full-resolution composition: the input's own CIE lightness with the upsampled chroma, as sRGB.

The color math runs as one XLA-fused kernel over pieces of a fixed size: one compilation
serves every image size, and it is several times faster than the op-by-op graph on large
images. The cutting into pieces and the loop over them run as one TensorFlow graph around
those kernels: called eagerly, piece by piece, the same work took 1.4x as long at 2048 x 2048
(copies of every piece and an op dispatch each).

Two ways to cut, the same result (within float rounding):

- *Tiles* (:data:`TILE` x :data:`TILE` pixels), for images at least twice the coefficients'
  size: each kernel call upsamples its own small window of the coefficients, so the
  full-resolution coefficients (16 bytes a pixel) never exist. At 2048 x 2048 that pass over
  memory was 58 ms of a 127 ms composition.
- *Chunks* of consecutive pixels, for everything else: the coefficients upsampled to the
  full image first (:func:`upsampled`), then the color math chunk by chunk.
"""

from __future__ import annotations

import math
import threading

import numpy as np

import hypercol.core.quiet_tensorflow  # noqa: F401  # isort: skip -- first: TensorFlow's start-up lines hidden
import tensorflow as tf

from hypercol.core import color
from hypercol.core.guided import apply_coefficients

__all__ = ["compose"]

LARGE_CHUNK, SMALL_CHUNK = 2**18, 2**16  # pixels per XLA call: the bulk of big images, then the rest
TILE = 512  # pixels per side of a tile
BAND = 64  # tile rows interpolated from one slice of the window's rows
# Coefficient cells per pixel a tile may span (the coefficients' size over the image's, per axis):
# one kernel each, for images at least 8, 4 or 2 times the coefficients' size.
TILE_RATIOS = (1 / 8, 1 / 4, 1 / 2)
# Tiles only where the padding past the image's edges adds at most this share of its pixels.
MAX_TILE_PADDING = 0.5


def cells_spanned(pixels: int, ratio: float) -> int:
    """Coefficient cells ``pixels`` consecutive output pixels may interpolate from at this ``ratio``:
    (pixels - 1) * ratio + 2, and one more for the float rounding of the source positions."""
    return math.ceil((pixels - 1) * ratio) + 3


def _colored(lightness: tf.Tensor, coefficients: tf.Tensor, as_uint8: bool) -> tf.Tensor:
    to_rgb = color.rgb8_from_lightness_and_chroma if as_uint8 else color.rgb_from_lightness_and_chroma
    return to_rgb(lightness, apply_coefficients(lightness, coefficients))


def _compose_kernel(pixels: int, as_uint8: bool):
    spec = [tf.TensorSpec([pixels], tf.float32), tf.TensorSpec([pixels, 4], tf.float32)]
    return tf.function(lambda *pair: _colored(*pair, as_uint8), input_signature=spec, jit_compile=True)


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
    above, below, weight = _bilinear_sources(shape[0], height, shape[0])
    top, bottom = tf.gather(rows, above), tf.gather(rows, below)
    return top + (bottom - top) * weight[:, tf.newaxis, tf.newaxis]


def _bilinear_sources(size: tf.Tensor, source_size: tf.Tensor, count: tf.Tensor):
    """The two source indices and the weight of the second, for ``count`` output positions along an
    axis of ``size`` resized from ``source_size`` (half-pixel centres, as ``tf.image.resize``);
    positions past ``size`` repeat the last one."""
    position = tf.cast(tf.minimum(tf.range(count), size - 1), tf.float32)
    source = (position + 0.5) * (tf.cast(source_size, tf.float32) / tf.cast(size, tf.float32)) - 0.5
    floor = tf.floor(source)
    first = tf.maximum(tf.cast(floor, tf.int32), 0)
    second = tf.minimum(tf.cast(tf.math.ceil(source), tf.int32), source_size - 1)
    return first, second, source - floor


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


def _tile_kernel(ratio: float, as_uint8: bool):
    """(TILE, TILE) lightness, its (window, window, 4) coefficients and each axis's bilinear sources
    within the window (first index, second index, weight of the second) -> (TILE, TILE, 3) sRGB."""
    window, band_window, bands = cells_spanned(TILE, ratio), cells_spanned(BAND, ratio), TILE // BAND
    axis = [tf.TensorSpec([TILE], tf.int32)] * 2 + [tf.TensorSpec([TILE], tf.float32)]
    spec = [tf.TensorSpec([TILE, TILE], tf.float32), tf.TensorSpec([window, window, 4], tf.float32), *axis, *axis]

    def kernel(lightness, coefficients, top, bottom, down, left, right, across):
        # Along x as tf.image.resize does (a + (b - a) w), on the window only.
        first, second = tf.gather(coefficients, left, axis=1), tf.gather(coefficients, right, axis=1)
        rows = tf.reshape(first + (second - first) * across[tf.newaxis, :, tf.newaxis], [window, TILE * 4])
        # Along y band by band, as a product of each band's two-tap row weights with the few window
        # rows it spans: a row gather fused into the color math made XLA gather every value one by
        # one (6.7 against 4.7 ms a tile), a product over the whole window cost window / band_window
        # times the multiply-adds (at 512 x 512 from 224, 9.0 ms where the chunks take 8.5).
        starts = top[::BAND]
        spans = tf.minimum(starts[:, tf.newaxis] + tf.range(band_window), window - 1)  # the clipped ones weigh 0
        band_top = tf.reshape(top, [bands, BAND]) - starts[:, tf.newaxis]
        band_bottom = tf.reshape(bottom, [bands, BAND]) - starts[:, tf.newaxis]
        band_down = tf.reshape(down, [bands, BAND, 1])
        weights = (
            tf.one_hot(band_top, band_window) * (1.0 - band_down) + tf.one_hot(band_bottom, band_window) * band_down
        )
        full = tf.reshape(tf.matmul(weights, tf.gather(rows, spans)), [TILE, TILE, 4])
        return _colored(lightness, full, as_uint8)

    return tf.function(kernel, input_signature=spec, jit_compile=True)


def _tiled_graph(ratio: float, as_uint8: bool):
    kernel = _tile_kernel(ratio, as_uint8)
    window = cells_spanned(TILE, ratio)
    dtype = tf.uint8 if as_uint8 else tf.float32

    def composed(lightness, coefficients):
        height, width = tf.shape(lightness)[0], tf.shape(lightness)[1]
        down, across = -(-height // TILE), -(-width // TILE)
        rows = _bilinear_sources(height, tf.shape(coefficients)[0], down * TILE)
        columns = _bilinear_sources(width, tf.shape(coefficients)[1], across * TILE)
        # Padded so that every tile's window lies inside (the padding is never interpolated from).
        padded = tf.pad(coefficients, [[0, window], [0, window], [0, 0]])

        def tile(index):
            top, left = index // across * TILE, index % across * TILE
            first_row, first_column = rows[0][top], columns[0][left]
            part = lightness[top : top + TILE, left : left + TILE]
            part = tf.pad(part, [[0, TILE - tf.shape(part)[0]], [0, TILE - tf.shape(part)[1]]])
            local_rows = (rows[0][top : top + TILE] - first_row, rows[1][top : top + TILE] - first_row)
            local_columns = (
                columns[0][left : left + TILE] - first_column,
                columns[1][left : left + TILE] - first_column,
            )
            return kernel(
                tf.ensure_shape(part, [TILE, TILE]),
                tf.slice(padded, [first_row, first_column, 0], [window, window, 4]),
                *local_rows,
                rows[2][top : top + TILE],
                *local_columns,
                columns[2][left : left + TILE],
            )

        tiles = tf.map_fn(
            tile,
            tf.range(down * across),
            fn_output_signature=tf.TensorSpec([TILE, TILE, 3], dtype),
            parallel_iterations=1,
        )
        image = tf.transpose(tf.reshape(tiles, [down, across, TILE, TILE, 3]), [0, 2, 1, 3, 4])
        return tf.reshape(image, [down * TILE, across * TILE, 3])[:height, :width]

    spec = [tf.TensorSpec([None, None], tf.float32), tf.TensorSpec([None, None, 4], tf.float32)]
    return tf.function(composed, input_signature=spec)


def tile_ratio(shape: tuple[int, int], coefficient_shape: tuple[int, int]) -> float | None:
    """The tile kernel (its entry of :data:`TILE_RATIOS`) for an image of ``shape``, or None where
    tiles do not pay: the image under twice the coefficients' size, or mostly padding."""
    if min(shape) == 0:
        return None
    tiles = [-(-size // TILE) * TILE for size in shape]
    if tiles[0] * tiles[1] > (1 + MAX_TILE_PADDING) * shape[0] * shape[1]:
        return None
    ratio = max(cells / size for cells, size in zip(coefficient_shape, shape))
    return next((bound for bound in TILE_RATIOS if ratio <= bound), None)


_COMPOSE_GRAPHS = {as_uint8: _compose_graph(as_uint8) for as_uint8 in (True, False)}
_TILED_GRAPHS = {
    (ratio, as_uint8): _tiled_graph(ratio, as_uint8) for ratio in TILE_RATIOS for as_uint8 in (True, False)
}
# Two threads running these XLA kernels at once crashed a 2-thread Beam DirectRunner worker
# (SIGSEGV) about once in ten runs; not reproduced in 8 runs of 2 plain threads x 24 photos, so
# the cause is not pinned down. The calls take turns, and a call runs its chunks one at a time:
# they are a small part of a call (the network dominates), so little is lost.
_COMPOSE_LOCK = threading.Lock()


def compose(lightness: np.ndarray | tf.Tensor, coefficients: np.ndarray | tf.Tensor, *, as_uint8: bool) -> np.ndarray:
    """(H, W) CIE L + (h, w, 4) guided coefficients -> (H, W, 3) sRGB, uint8 or float32 in [0, 1].

    The coefficients are upsampled bilinearly and applied to the full-resolution
    lightness (:func:`hypercol.core.guided.apply_coefficients`); the lightness is kept exactly.
    """
    ratio = tile_ratio(lightness.shape, coefficients.shape[:2])
    graph = _COMPOSE_GRAPHS[as_uint8] if ratio is None else _TILED_GRAPHS[ratio, as_uint8]
    with _COMPOSE_LOCK:
        return graph(lightness, coefficients).numpy()
