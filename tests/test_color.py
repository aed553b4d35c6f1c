"""hypercol.core.color against skimage.color (the reference) and the published reference values."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from skimage import color as skcolor

from hypercol.core import color

RNG = np.random.default_rng(0)


def test_rgb_to_lab_matches_skimage() -> None:
    rgb = RNG.uniform(0, 1, (2000, 3))
    rgb[:8] = [[0, 0, 0], [1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0.01, 0.02, 0.03], [0.5, 0.5, 0.5], [1, 1, 0]]
    ours = color.rgb_to_lab(rgb.astype(np.float32)).numpy()
    np.testing.assert_allclose(ours, skcolor.rgb2lab(rgb), atol=1e-2)


def test_lab_to_rgb_matches_skimage_in_gamut() -> None:
    lab = skcolor.rgb2lab(RNG.uniform(0, 1, (2000, 3)))
    ours = color.lab_to_rgb(lab.astype(np.float32)).numpy()
    np.testing.assert_allclose(ours, skcolor.lab2rgb(lab), atol=1e-3)


@pytest.mark.parametrize(
    ("rgb", "lab"),
    [((1.0, 0.0, 0.0), (53.24, 80.09, 67.20)), ((0.0, 0.0, 1.0), (32.30, 79.19, -107.86))],
)
def test_reference_values(rgb, lab) -> None:
    np.testing.assert_allclose(color.rgb_to_lab(np.array(rgb, np.float32)).numpy(), lab, atol=1e-2)
    np.testing.assert_allclose(color.lab_to_rgb(np.array(lab, np.float32)).numpy(), rgb, atol=1e-3)


@pytest.mark.filterwarnings("ignore:Conversion from CIE-LAB")
def test_out_of_gamut_lab_keeps_lightness_and_fits_in_gamut() -> None:
    lightness = RNG.uniform(0, 100, 3000)
    lightness[:4] = [0, 100, 1, 99]
    ab = RNG.uniform(-150, 150, (3000, 2))
    lab = np.column_stack([lightness, ab]).astype(np.float32)
    linear = skcolor.lab2xyz(lab.astype(np.float64)) @ np.linalg.inv(skcolor.colorconv.xyz_from_rgb).T
    assert ((linear < 0) | (linear > 1)).any(axis=1).mean() > 0.5  # most samples really are out of gamut
    rgb = color.lab_to_rgb(lab).numpy()
    assert rgb.min() >= 0.0 and rgb.max() <= 1.0
    np.testing.assert_allclose(skcolor.rgb2lab(rgb.astype(np.float64))[:, 0], lightness, atol=2e-2)
    # Chroma is reduced, not invented: hue is roughly kept where chroma is large enough to have one.
    back = skcolor.rgb2lab(rgb.astype(np.float64))
    chroma = np.hypot(back[:, 1], back[:, 2])
    assert (chroma <= np.hypot(ab[:, 0], ab[:, 1]) + 0.5).all()
    clear = chroma > 10
    angle = np.angle((back[clear, 1] + 1j * back[clear, 2]) / (ab[clear, 0] + 1j * ab[clear, 1]), deg=True)
    assert np.median(np.abs(angle)) < 10


def test_rgb8_is_the_float_path_rounded() -> None:
    lightness = RNG.uniform(0, 100, 50_000).astype(np.float32)
    lightness[:3] = [0, 100, 0.01]
    ab = RNG.uniform(-120, 120, (50_000, 2)).astype(np.float32)
    as_float = color.rgb_from_lightness_and_chroma(lightness, ab).numpy()
    as_uint8 = color.rgb8_from_lightness_and_chroma(lightness, ab).numpy()
    assert as_uint8.dtype == np.uint8
    np.testing.assert_array_equal(as_uint8, np.rint(as_float * 255).astype(np.uint8))
    traced = tf.function(color.rgb8_from_lightness_and_chroma, jit_compile=True)(lightness, ab).numpy()
    assert np.abs(traced.astype(int) - as_uint8).max() <= 1 and np.mean(traced == as_uint8) > 0.999  # XLA's rounding


def test_lightness_luminance_round_trip() -> None:
    y = np.linspace(0, 1, 1001, dtype=np.float32)
    lightness = color.lightness_from_luminance(y).numpy()
    gray = np.repeat(color.linear_to_srgb(y).numpy()[:, None], 3, axis=1).astype(np.float64)
    np.testing.assert_allclose(lightness, skcolor.rgb2lab(gray)[:, 0], atol=1e-2)
    np.testing.assert_allclose(color.luminance_from_lightness(lightness).numpy(), y, atol=1e-5)


@pytest.mark.parametrize(("shape", "dtype"), [((1100, 1000), np.uint8), ((3, 2**20), np.uint16), ((7, 9), np.uint8)])
def test_gray_lightness_in_bands_matches_skimage(shape, dtype) -> None:
    from hypercol.core.arrays import BANDED_LOOKUP_PIXELS, as_image_batch, lightness

    levels = RNG.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)
    ours = lightness(as_image_batch(levels), 0)
    assert ours.shape == shape and ours.dtype == np.float32
    assert (levels.size >= BANDED_LOOKUP_PIXELS) == (shape != (7, 9))  # two cases cut into bands, one not
    gray = levels[::13, ::17].astype(np.float64) / np.iinfo(dtype).max
    np.testing.assert_allclose(ours[::13, ::17], skcolor.rgb2lab(np.stack([gray] * 3, axis=-1))[..., 0], atol=2e-2)
