"""Validation of user images and their conversion to linear luminance, shared by every entry point."""

from __future__ import annotations

import functools
import itertools
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from hypercol.core import color

# 8000 x 8000 is promised; the bound leaves room and stops accidental gigapixel inputs.
MAX_PIXELS = 100_000_000
CHANNEL_COUNTS = (1, 3, 4)
GRAY_ALPHA_CHANNELS = 2  # gray + alpha: taken as RGBA
_GIVEN_CHANNEL_COUNTS = (*CHANNEL_COUNTS, GRAY_ALPHA_CHANNELS)
_INTEGER_DTYPES = (np.uint8, np.uint16)


@dataclass
class ImageBatch:
    """A validated batch: ``pixels`` (N, H, W, C) in the caller's dtype, C in 1, 3, 4 (gray + alpha made RGBA)."""

    pixels: np.ndarray
    batched: bool  # the caller passed a batch (N, ...) rather than one image

    @property
    def is_integer(self) -> bool:
        return self.pixels.dtype in _INTEGER_DTYPES

    @property
    def has_alpha(self) -> bool:
        return self.pixels.shape[-1] == 4

    @property
    def size(self) -> tuple[int, int]:
        return self.pixels.shape[1], self.pixels.shape[2]

    def unit_float(self, index: int) -> np.ndarray:
        """Image ``index`` as float32 in [0, 1], (H, W, C)."""
        image = self.pixels[index]
        if self.is_integer:
            return image.astype(np.float32) / np.float32(np.iinfo(image.dtype).max)
        return image.astype(np.float32, copy=False)

    def alpha(self, index: int, output_dtype: np.dtype) -> np.ndarray:
        """The alpha band of image ``index`` in the output dtype, (H, W, 1)."""
        alpha = self.unit_float(index)[..., 3:]
        if output_dtype == np.uint8:
            return np.rint(alpha * 255.0).astype(np.uint8)
        return alpha


def _as_array(image, name: str) -> np.ndarray:
    """``image`` as a plain ndarray of a supported dtype in native byte order; TypeError/ValueError otherwise."""
    if type(image).__module__.startswith("PIL."):
        msg = f"{name} is a PIL image: use image.filter(hypercol.ColorizeFilter()) or pass np.asarray(image)"
        raise TypeError(msg)
    if isinstance(image, np.ma.MaskedArray):
        masked = int(np.ma.count_masked(image))
        if masked:
            msg = f"{name} is a masked array with {masked} masked values: fill them explicitly, e.g. {name}.filled(0)"
            raise ValueError(msg)
        image = np.ma.getdata(image)
    listed = isinstance(image, list | tuple)
    try:
        image = np.asarray(image)
    except Exception as error:
        msg = f"{name} must be a numpy array, got {type(image).__name__}"
        raise TypeError(msg) from error
    dtype = image.dtype
    if not ((dtype.kind == "u" and dtype.itemsize in (1, 2)) or dtype.kind == "f"):
        given = f"dtype {dtype}" + (" (from a list of Python ints: use np.array(..., np.uint8))" if listed else "")
        msg = f"{name} has {given}; allowed: uint8, uint16, or float16/32/64 in [0, 1]"
        raise TypeError(msg)
    return image if dtype.isnative else image.astype(dtype.newbyteorder("="))


def _check_pixel_count(image: np.ndarray, name: str, given_shape: tuple[int, ...]) -> None:
    """Refuses (N, H, W, C) arrays that are empty or too large to colorize, before anything is allocated for them;
    ``given_shape`` is the caller's (named in the message)."""
    if image.size == 0:
        msg = f"{name} is empty: shape {given_shape}"
        raise ValueError(msg)
    count, height, width = image.shape[:3]
    if height * width > MAX_PIXELS:
        msg = f"{name} is {width}x{height}: more than {MAX_PIXELS:,} pixels; downscale it first"
        raise ValueError(msg)
    if count * height * width > MAX_PIXELS:
        msg = (
            f"{name} has {count * height * width:,} pixels in {count} images: more than {MAX_PIXELS:,} "
            "pixels per call; pass fewer images per call"
        )
        raise ValueError(msg)


def as_image_batch(image, *, name: str = "image") -> ImageBatch:
    """Checks and normalises (H, W), (H, W, C), (N, H, W) or (N, H, W, C) images.

    A 3-D array whose last axis is 1, 2, 3 or 4 is one image with channels; any other 3-D
    array is a batch of gray images (pass (N, H, W, 1) to be explicit). Two channels are
    gray and alpha (``np.asarray`` of a Pillow "LA" image): the gray is repeated into RGB,
    so the image is colorized as RGBA and keeps its alpha. Lists are converted; masked
    arrays are taken only when nothing is masked.
    """
    image = _as_array(image, name)
    given_shape, batched = image.shape, False
    if image.ndim == 2:
        image = image[np.newaxis, ..., np.newaxis]
    elif image.ndim == 3 and image.shape[-1] in _GIVEN_CHANNEL_COUNTS:
        image = image[np.newaxis]
    elif image.ndim == 3:
        image, batched = image[..., np.newaxis], True
    elif image.ndim == 4:
        batched = True
        if image.shape[-1] not in _GIVEN_CHANNEL_COUNTS:
            msg = f"{name} has {image.shape[-1]} channels; allowed: 1 (gray), 2 (gray + alpha), 3 (RGB), 4 (RGBA)"
            raise ValueError(msg)
    else:
        msg = f"{name} has shape {image.shape}; allowed: (H, W), (H, W, C), (N, H, W) or (N, H, W, C) with C in 1, 2, 3, 4"
        raise ValueError(msg)
    _check_pixel_count(image, name, given_shape)
    if image.shape[-1] == GRAY_ALPHA_CHANNELS:  # after the count: nothing is allocated for a refused array
        image = np.concatenate([image[..., :1]] * 3 + [image[..., 1:]], axis=-1)
    if image.dtype.kind == "f":
        finite = np.isfinite(image)
        if not finite.all():
            msg = f"{name} contains {int((~finite).sum())} NaN or infinite values"
            raise ValueError(msg)
        low, high = float(image.min()), float(image.max())
        if low < 0.0 or high > 1.0:
            msg = f"float {name} must lie in [0, 1], got values in [{low!r}, {high!r}] (divide 8-bit data by 255)"
            raise ValueError(msg)
    return ImageBatch(image, batched)


@functools.cache
def _lightness_table(dtype: np.dtype) -> np.ndarray:
    """CIE L of each gray level of an integer dtype."""
    levels = np.iinfo(dtype).max
    linear = color.srgb_to_linear(np.arange(levels + 1, dtype=np.float32) / levels)
    return color.lightness_from_luminance(linear).numpy()


# Gray levels looked up in bands of rows on every core from this many pixels on (numpy's take
# releases the GIL): 2048 x 2048 uint8 in 6.3 against 13.4 ms on a 2-core Xeon.
BANDED_LOOKUP_PIXELS = 2**20


@functools.cache
def _lookup_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="hypercol-lookup")


def _looked_up(table: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """``table[levels]`` for an (H, W) integer plane, in bands of rows on every core when it is large."""
    bands = min(os.cpu_count() or 1, levels.shape[0])
    if levels.size < BANDED_LOOKUP_PIXELS or bands == 1:
        return np.take(table, levels)
    out = np.empty(levels.shape, table.dtype)
    edges = np.linspace(0, levels.shape[0], bands + 1).astype(int)
    rows = [slice(start, stop) for start, stop in itertools.pairwise(edges)]
    list(_lookup_pool().map(lambda band: np.take(table, levels[band], out=out[band]), rows))
    return out


def lightness(batch: ImageBatch, index: int) -> np.ndarray:
    """CIE L (H, W) float32 in [0, 100] of image ``index``; RGB is reduced to its luminance."""
    image = batch.pixels[index]
    if image.shape[-1] == 1 and batch.is_integer:
        return _looked_up(_lightness_table(image.dtype), image[..., 0])
    if image.shape[-1] == 1:
        linear = color.srgb_to_linear(image[..., 0].astype(np.float32))
    else:
        linear = color.weighted_luminance(color.srgb_to_linear(batch.unit_float(index)[..., :3]))
    return color.lightness_from_luminance(linear).numpy()
