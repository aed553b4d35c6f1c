"""Pillow plugin: ``Image.open(path).filter(ColorizeFilter())``."""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image, ImageFilter

from hypercol.io.images import hints_to_array, image_to_array, reference_to_array
from hypercol.models.card import check_head

__all__ = ["ColorizeFilter"]


def _caller_info(core) -> dict:
    """``info`` of the Image whose core ``Image.filter`` passed us ({} when called some other way).

    Pillow's filter protocol hands a filter the image's core only (``Image.filter`` calls
    ``filter.filter(self.im)``), and no public call views a core as an Image: hence
    ``Image._new`` in :meth:`ColorizeFilter.filter`. A transparent color (``tRNS`` of a P, L,
    RGB or I;16 PNG) is kept in the Image's ``info``, not in the core, so it is read from the
    calling ``Image.filter``'s frame; without it such an image would lose its transparency.
    """
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
        check_head(weights, head, temperature, saturation)  # the choice checked now, loaded at the first use
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
