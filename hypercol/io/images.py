"""Images as ``colorize`` takes them: decoding files and PIL images of every supported mode to arrays."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from hypercol.io.files import OUTPUT_KEY, ColorizedOutput, open_regular

__all__ = [
    "SUPPORTED_MODES",
    "read_image",
    "decode_image",
    "output_note_of",
    "image_to_array",
    "hints_to_array",
    "reference_to_array",
]

# Mode -> the mode we read pixels in. "I;16" keeps 16 bits; "1" and "P" become gray; CMYK (print scans)
# goes through Pillow's conversion to RGB; 32-bit "I" and "F" become 16-bit gray, scaled from their own range.
SUPPORTED_MODES = {
    "1": "L",
    "L": "L",
    "LA": "LA",
    "P": None,  # palette: RGBA when the palette has transparency, else RGB
    "RGB": "RGB",
    "RGBA": "RGBA",
    "CMYK": "RGB",
    "I;16": "I;16",
    "I": "I;16",
    "F": "I;16",
}


def decode_image(stream, *, refuse_outputs: bool = False, max_pixels: int | None = None) -> np.ndarray:
    """An encoded image (a binary file object) -> the array ``colorize`` takes, as :func:`image_to_array`
    gives it: its first frame, EXIF orientation applied. Pillow's errors (OSError, ValueError) for
    unreadable data pass through; with ``refuse_outputs``, an image that hypercol wrote (a PNG with
    its text chunk ``OUTPUT_KEY``) raises :class:`hypercol.io.files.ColorizedOutput`. An image of more
    than ``max_pixels`` is refused from its header (ValueError), before it is decoded; Pillow's own
    warning about large images is then left out (its error, past twice its limit, still comes)."""
    with warnings.catch_warnings():
        if max_pixels is not None:
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        opened = Image.open(stream)
    with opened as image:
        if max_pixels is not None and image.width * image.height > max_pixels:
            msg = f"the image is {image.width}x{image.height}: more than {max_pixels:,} pixels; downscale it first"
            raise ValueError(msg)
        if refuse_outputs and OUTPUT_KEY in image.info:
            msg = f"an output of an earlier run ({image.info[OUTPUT_KEY]}), not colorized again"
            raise ColorizedOutput(msg)
        image.load()
        return image_to_array(ImageOps.exif_transpose(image))


def image_to_array(image: Image.Image) -> np.ndarray:
    """A PIL image of a supported mode -> uint8 (H, W[, C]) or uint16 (H, W) array."""
    if image.mode not in SUPPORTED_MODES:
        msg = f"cannot colorize a {image.mode!r} image; supported modes: {sorted(SUPPORTED_MODES)}"
        raise ValueError(msg)
    if image.mode in ("1", "L", "RGB", "I;16") and "transparency" in image.info:
        return _transparency_as_alpha(image)
    mode = SUPPORTED_MODES[image.mode]
    if mode is None:
        mode = "RGBA" if "transparency" in image.info else "RGB"
    if image.mode in ("I", "F"):
        return _stretched_to_16_bit(image)
    if mode == "I;16":
        return np.asarray(image, dtype=np.uint16)
    if mode == "LA":
        # LA -> (H, W, 4): gray repeated into RGB keeps the luminance, alpha rides along.
        gray, alpha = (np.asarray(band) for band in image.split())
        return np.dstack([gray, gray, gray, alpha])
    return np.asarray(image.convert(mode))


def _stretched_to_16_bit(image: Image.Image) -> np.ndarray:
    """A 32-bit "I" or "F" image -> (H, W) uint16, its darkest pixel 0 and its lightest 65535 (these modes have no
    fixed white: scientific and HDR scans use any range); a uniform image is black."""
    values = np.asarray(image, dtype=np.float64)
    if not np.isfinite(values).all():
        msg = f"cannot colorize a {image.mode!r} image with NaN or infinite values"
        raise ValueError(msg)
    low, high = values.min(), values.max()
    scaled = (values - low) / (high - low) if high > low else np.zeros_like(values)
    return np.rint(scaled * np.iinfo(np.uint16).max).astype(np.uint16)


def _transparency_as_alpha(image: Image.Image) -> np.ndarray:
    """A 1, L, RGB or I;16 image with a transparent color (PNG tRNS) -> (H, W, 4): that color clear."""
    if image.mode != "I;16":
        return np.asarray(image.convert("RGBA"))  # Pillow turns the transparent color into alpha itself
    gray = np.asarray(image, dtype=np.uint16)
    alpha = np.where(gray == image.info["transparency"], 0, np.iinfo(np.uint16).max).astype(np.uint16)
    return np.dstack([gray, gray, gray, alpha])


# Modes that keep colors apart from gray; gray modes cannot be references.
_COLOR_MODES = ("RGB", "RGBA", "RGBX", "RGBa", "P", "PA", "CMYK", "YCbCr", "LAB", "HSV")


def hints_to_array(image: Image.Image) -> np.ndarray:
    """A PIL image with transparency (RGBA, LA, PA, or P/RGB/L with a transparent color) -> uint8 (H, W, 4)."""
    if not isinstance(image, Image.Image):
        msg = f"hints must be a PIL image with transparency, got {type(image).__name__}"
        raise TypeError(msg)
    if image.mode not in ("RGBA", "LA", "PA", "RGBa", "La") and "transparency" not in image.info:
        msg = f"hints must have transparency (mode RGBA, LA or PA, or a transparent color): transparent pixels are not hints; got mode {image.mode!r}"
        raise ValueError(msg)
    return np.asarray(image.convert("RGBA"))


def reference_to_array(image: Image.Image) -> np.ndarray:
    """A color PIL image -> uint8 (H, W, 3); a gray mode is refused."""
    if not isinstance(image, Image.Image):
        msg = f"reference must be a PIL image, got {type(image).__name__}"
        raise TypeError(msg)
    if image.mode not in _COLOR_MODES:
        msg = f"reference must be a color photo; mode {image.mode!r} is gray (color modes: {', '.join(_COLOR_MODES)})"
        raise ValueError(msg)
    return np.asarray(image.convert("RGB"))


def output_note_of(path: Path) -> str | None:
    """The note of hypercol's output ``path`` (its PNG text chunk ``OUTPUT_KEY``), from its header; None for
    any other file, or one Pillow cannot read."""
    try:
        with open_regular(path) as stream, Image.open(stream) as image:
            return image.info.get(OUTPUT_KEY)
    except (OSError, ValueError):
        return None


def read_image(path: Path, *, refuse_outputs: bool = False, max_pixels: int | None = None) -> np.ndarray:
    """The pixels of the regular image file ``path`` as ``colorize`` takes them: (H, W[, C]) uint8 or
    (H, W) uint16 (first frame, EXIF orientation applied; :func:`decode_image`, which raises
    :class:`~hypercol.io.files.ColorizedOutput` for an output of hypercol if ``refuse_outputs``)."""
    with open_regular(path) as stream:
        try:
            return decode_image(stream, refuse_outputs=refuse_outputs, max_pixels=max_pixels)
        except UnidentifiedImageError:  # Pillow names the stream ("<_io.BufferedReader name=3>"), not the file
            what = "an empty file" if os.fstat(stream.fileno()).st_size == 0 else "not an image Pillow can read"
            raise UnidentifiedImageError(f"cannot identify image file {str(path)!r}: {what}") from None
