"""ColorizeFilter: Image.filter for every supported mode."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from skimage import color as skcolor
from skimage import data

from hypercol import ColorizeFilter
from hypercol.io.images import SUPPORTED_MODES

GRAY = data.camera()[:60:2, 100:180:2]  # 30 x 40
SIZE = (40, 30)


def _palette_image(transparency: bool) -> Image.Image:
    image = Image.fromarray(GRAY).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    if transparency:
        image.info["transparency"] = 3
    # Round trip through PNG so the image is what users actually open.
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    buffer.seek(0)
    return Image.open(buffer)


def _make(mode: str) -> Image.Image:
    gray = Image.fromarray(GRAY)
    if mode == "P":
        return _palette_image(False)
    if mode == "P+transparency":
        return _palette_image(True)
    if mode == "LA":
        return Image.merge("LA", [gray, Image.fromarray(255 - GRAY)])
    if mode == "RGBA":
        return Image.merge("RGBA", [*gray.convert("RGB").split(), Image.fromarray(255 - GRAY)])
    if mode == "I;16":
        return Image.fromarray(GRAY.astype(np.uint16) * 257)
    return gray.convert(mode)


@pytest.mark.parametrize(
    ("mode", "out_mode"),
    [
        ("1", "RGB"),
        ("L", "RGB"),
        ("LA", "RGBA"),
        ("P", "RGB"),
        ("P+transparency", "RGBA"),
        ("RGB", "RGB"),
        ("RGBA", "RGBA"),
        ("I;16", "RGB"),
    ],
)
def test_filter_modes(tiny_weights, mode, out_mode) -> None:
    image = _make(mode)
    assert image.mode == mode.split("+")[0]
    out = image.filter(ColorizeFilter(weights=tiny_weights))
    assert isinstance(out, Image.Image)
    assert out.mode == out_mode and out.size == SIZE
    pixels = np.asarray(out)
    reference = np.asarray(image.convert("L"), dtype=np.uint8) if mode != "I;16" else GRAY
    gray_l = skcolor.rgb2lab(np.dstack([reference] * 3))[..., 0]
    assert np.abs(skcolor.rgb2lab(pixels[..., :3])[..., 0] - gray_l).max() <= 1.0
    lab = skcolor.rgb2lab(pixels[..., :3])
    if mode != "1":  # 1-bit black and white has no room for chroma
        assert np.hypot(lab[..., 1], lab[..., 2]).mean() > 3
    if mode in ("LA", "RGBA"):
        np.testing.assert_array_equal(pixels[..., 3], 255 - GRAY)
    if mode == "P+transparency":
        np.testing.assert_array_equal(pixels[..., 3] == 0, np.asarray(image) == 3)
        out.save(io.BytesIO(), format="PNG")  # a saveable result


@pytest.mark.parametrize("mode", ["HSV", "LAB", "YCbCr"])
def test_unsupported_modes(tiny_weights, mode) -> None:
    image = Image.fromarray(GRAY).convert(mode) if mode == "YCbCr" else Image.new(mode, SIZE)
    with pytest.raises(ValueError, match=f"cannot colorize a '{mode}' image; supported modes") as error:
        image.filter(ColorizeFilter(weights=tiny_weights))
    for supported in SUPPORTED_MODES:
        assert repr(supported) in str(error.value)


def test_missing_weights(tmp_path) -> None:
    with pytest.raises(ValueError, match="not found"):
        ColorizeFilter(weights=tmp_path / "nope.weights.h5")


def test_filter_matches_colorize(tiny_weights) -> None:
    from hypercol import colorize

    out = Image.fromarray(GRAY).filter(ColorizeFilter(weights=tiny_weights))
    np.testing.assert_array_equal(np.asarray(out), colorize(GRAY, weights=tiny_weights))


def _reopened(image: Image.Image, **options) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    buffer.seek(0)
    return Image.open(buffer)


@pytest.mark.parametrize(
    ("mode", "transparency"),
    [
        ("L", 0),
        ("L", int(GRAY[3, 5])),
        ("RGB", tuple(int(v) for v in [GRAY[3, 5]] * 3)),
        ("I;16", 257 * int(GRAY[3, 5])),
    ],
)
def test_transparency_of_gray_and_rgb_images_becomes_alpha(tiny_weights, mode, transparency) -> None:
    image = _reopened(_make(mode), transparency=transparency)
    assert image.mode == mode and image.info["transparency"] == transparency
    out = image.filter(ColorizeFilter(weights=tiny_weights))
    assert out.mode == "RGBA" and out.size == SIZE
    pixels = np.asarray(image)
    clear = (pixels == transparency).all(axis=-1) if mode == "RGB" else pixels == transparency
    assert clear.any() or transparency == 0
    np.testing.assert_array_equal(np.asarray(out)[..., 3] == 0, clear)
    for file_format in ("PNG", "TIFF", "WEBP", "GIF"):  # Pillow copies the source's info; every writer takes it
        out.save(io.BytesIO(), format=file_format)
    with Image.open(io.BytesIO(_saved_png(out))) as saved:
        assert saved.mode == "RGBA" and "transparency" not in saved.info


def _saved_png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


# 32-bit gray: a float scan in a range of its own, and integers beyond 16 bits.
WIDE = {"F": GRAY.astype(np.float32) / 40 - 3.0, "I": GRAY.astype(np.int32) * 70_000 - 5_000_000}


def _stretched(values: np.ndarray) -> np.ndarray:
    """``values`` scaled to 16-bit gray from their darkest (0) to their lightest (65535)."""
    values = values.astype(np.float64)
    return np.rint((values - values.min()) / np.ptp(values) * 65535).astype(np.uint16)


@pytest.mark.parametrize("mode", ["CMYK", "F", "I"])
def test_cmyk_and_32_bit_images_are_colorized_as_their_gray(tiny_weights, mode) -> None:
    """CMYK as Pillow converts it to RGB; I and F as 16-bit gray, scaled from their own range."""
    from hypercol import colorize

    image = Image.fromarray(GRAY).convert("CMYK") if mode == "CMYK" else Image.fromarray(WIDE[mode])
    assert image.mode == mode
    out = image.filter(ColorizeFilter(weights=tiny_weights))
    assert out.mode == "RGB" and out.size == SIZE
    expected = np.asarray(image.convert("RGB")) if mode == "CMYK" else _stretched(WIDE[mode])
    np.testing.assert_array_equal(np.asarray(out), colorize(expected, weights=tiny_weights))
    if mode != "CMYK":  # the stretch keeps the photo's tones: its 16-bit gray is the 8-bit photo's, rescaled
        assert np.abs(expected.astype(int) - _stretched(GRAY)).max() <= 1  # float32 rounding


def test_32_bit_images_without_a_range() -> None:
    from hypercol.io.images import image_to_array

    assert not image_to_array(Image.new("F", (3, 2), 0.7)).any()  # uniform: black
    assert image_to_array(Image.new("I", (3, 2), -9)).shape == (2, 3)
    broken = WIDE["F"].copy()
    broken[1, 2] = np.nan
    with pytest.raises(ValueError, match="'F' image with NaN or infinite values"):
        image_to_array(Image.fromarray(broken))
