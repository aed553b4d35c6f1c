"""Pillow plugin: ``Image.open(path).filter(ColorizeFilter())``."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from hypercol.io.files import OUTPUT_KEY, ColorizedOutput

__all__ = [
    "ColorizeFilter",
    "SUPPORTED_MODES",
    "decode_image",
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


def decode_image(stream, *, refuse_outputs: bool = False) -> np.ndarray:
    """An encoded image (a binary file object) -> the array ``colorize`` takes, as :func:`image_to_array`
    gives it: its first frame, EXIF orientation applied. Pillow's errors (OSError, ValueError) for
    unreadable data pass through; with ``refuse_outputs``, an image that hypercol wrote (a PNG with
    its text chunk ``OUTPUT_KEY``) raises :class:`hypercol.io.files.ColorizedOutput`."""
    from PIL import ImageOps

    with Image.open(stream) as image:
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


def _caller_info(core) -> dict:
    """``info`` of the Image whose core ``Image.filter`` passed us ({} when called some other way)."""
    frame = sys._getframe(2)
    for _ in range(4):
        if frame is None:
            break
        owner = frame.f_locals.get("self")
        if isinstance(owner, Image.Image) and any(vars(owner).get(name) is core for name in ("_im", "im")):
            return dict(owner.info)
        frame = frame.f_back
    return {}


class ColorizeFilter(ImageFilter.MultibandFilter):
    """Colorizes an image: modes 1, L, LA, P, RGB, RGBA, CMYK, I;16, I, F -> RGB (RGBA with alpha), same size
    (CMYK as Pillow converts it to RGB; 32-bit I and F scaled from their darkest to their lightest pixel).

    A transparent color (``info["transparency"]`` of P, L, RGB and I;16 images) becomes
    alpha: the result is RGBA. (``Image.filter`` copies the source's ``info`` onto its
    result; an RGBA image's writers ignore that stale ``transparency``.)

    ``head`` picks a shipped head (a name of :data:`hypercol.models.shipped.SHIPPED_HEADS`), ``weights`` your own
    (``.weights.h5`` with its card); default: the shipped default head.
    ``temperature`` and ``saturation`` are those of :func:`hypercol.colorize`.
    ``hints``: an image the size of the filtered one whose opaque pixels give wanted colors
    (RGBA, LA, PA or with a transparent color); ``reference``: a color photo to take colors from.
    """

    name = "Colorize"

    def __init__(
        self,
        weights: str | Path | None = None,
        *,
        head: str | None = None,
        temperature: float | None = None,
        saturation: float | None = None,
        hints: Image.Image | None = None,
        reference: Image.Image | None = None,
    ) -> None:
        from hypercol.inference.colorizer import check_knobs, resolve_weights

        resolve_weights(weights, head)  # validates the choice now, loads at the first use
        check_knobs(temperature, saturation)
        if weights is not None and not Path(weights).exists():
            msg = f"head weights {str(weights)!r} not found"
            raise ValueError(msg)
        self.weights = weights
        self.head = head
        self.temperature = temperature
        self.saturation = saturation
        self.hints = None if hints is None else hints_to_array(hints)
        self.reference = None if reference is None else reference_to_array(reference)
        if self.reference is not None:
            from hypercol.inference.guidance import check_reference

            check_reference(self.reference)
        self._prepared = None  # (colorizer, prepared reference), made at the first use

    def filter(self, image):
        # Pillow hands filters an ImagingCore; wrap it to read it as an image.
        wrapped = Image.Image()._new(image)
        wrapped.info = _caller_info(image)  # palette transparency lives in Image.info, not in the core
        pixels = image_to_array(wrapped)
        from hypercol.inference.colorizer import get_colorizer

        colorizer = get_colorizer(self.weights, self.head)
        rgb = colorizer.colorize(
            pixels,
            temperature=self.temperature,
            saturation=self.saturation,
            hints=self.hints,
            reference=self._prepared_reference(colorizer),
        )
        return Image.fromarray(rgb).im

    def _prepared_reference(self, colorizer):
        """The reference's backbone pass, once per filter (the same colorizer serves every use)."""
        if self.reference is None:
            return None
        if self._prepared is None or self._prepared[0] is not colorizer:
            from hypercol.inference.guidance import prepare_reference

            self._prepared = (colorizer, prepare_reference(colorizer, self.reference))
        return self._prepared[1]

    def __repr__(self) -> str:
        return f"ColorizeFilter(weights={self.weights!r}, head={self.head!r}, temperature={self.temperature!r}, saturation={self.saturation!r})"
