"""Edge-aware chroma upsampling (guided filter) and the uncertainty fallback."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from hypercol.core.bins import normalised_entropy
from hypercol.core.color import rgb8_from_lightness_and_chroma, rgb_from_lightness_and_chroma
from hypercol.core.guided import apply_coefficients, guided_coefficients
from hypercol.core.metrics import colorfulness
from hypercol.inference.compose import LARGE_CHUNK, SMALL_CHUNK, TILE, TILE_RATIOS, compose, tile_ratio, upsampled
from hypercol.inference.network import GUIDED_EPSILON, GUIDED_RADIUS


def _step_scene(size: int) -> tuple[np.ndarray, np.ndarray]:
    """A dark left half and a light right half: L (size, size); chroma red on the left, blue on the right."""
    lightness = np.where(np.arange(size) < size // 2, 30.0, 70.0)[np.newaxis, :].repeat(size, 0).astype(np.float32)
    chroma = np.zeros((size, size, 2), np.float32)
    chroma[:, : size // 2] = (60, 40)
    chroma[:, size // 2 :] = (10, -60)
    return lightness, chroma


def _area(x: np.ndarray, factor: int) -> np.ndarray:
    return tf.image.resize(x, (x.shape[0] // factor, x.shape[1] // factor), method="area").numpy()


def test_guided_upsampling_stops_color_at_the_lightness_edge() -> None:
    full_l, full_chroma = _step_scene(256)
    # The network's view: 32x32, with its chroma blurred across the edge.
    small_l = _area(full_l[..., None], 8)[..., 0]
    small_chroma = tf.nn.avg_pool2d(_area(full_chroma, 8)[None], 5, 1, "SAME")[0].numpy()
    coefficients = guided_coefficients(small_l[None], small_chroma[None], GUIDED_RADIUS, GUIDED_EPSILON)[0].numpy()
    bilinear = np.concatenate([np.zeros_like(small_chroma), small_chroma], axis=-1)
    errors = {}
    for name, coeffs in (("guided", coefficients), ("bilinear", bilinear)):
        upsampled = tf.image.resize(coeffs, (256, 256), method="bilinear").numpy()
        chroma = np.asarray(apply_coefficients(full_l, upsampled))
        errors[name] = np.abs(chroma - full_chroma)[:, 112:144].mean()  # the band around the edge
    assert errors["guided"] < 0.6 * errors["bilinear"]  # measured: 11.8 against 22.5


def test_guided_coefficients_keep_flat_chroma() -> None:
    lightness = np.random.default_rng(0).uniform(20, 80, (1, 24, 24)).astype(np.float32)
    chroma = np.broadcast_to(np.float32([25, -40]), (1, 24, 24, 2))
    coefficients = guided_coefficients(lightness, chroma, 2, 1e-3)
    np.testing.assert_allclose(np.asarray(apply_coefficients(lightness, coefficients)), chroma, atol=1e-3)


def test_compose_keeps_lightness_with_guided_coefficients() -> None:
    from skimage.color import rgb2lab

    full_l, full_chroma = _step_scene(64)
    coefficients = guided_coefficients(full_l[None], full_chroma[None], 2, 1e-3)[0].numpy()
    rgb = compose(full_l, coefficients, as_uint8=False)
    np.testing.assert_allclose(rgb2lab(rgb)[..., 0], full_l, atol=0.05)


@pytest.mark.parametrize(
    ("small", "full"),
    [((224, 224), (2048, 2048)), ((224, 149), (100, 67)), ((7, 224), (3000, 40)), ((160, 224), (1999, 2801))],
)
def test_separable_upsampling_is_exactly_tensorflows_bilinear_resize(small, full) -> None:
    coefficients = np.random.default_rng(1).normal(0, 20, (*small, 4)).astype(np.float32)
    expected = tf.image.resize(coefficients, full, method="bilinear").numpy()
    np.testing.assert_array_equal(upsampled(tf.constant(coefficients), tf.constant(full)).numpy(), expected)


# Pixel counts on either side of the chunk sizes: only small chunks, exactly one large chunk, one large
# chunk and a padded small one, several large and several small.
@pytest.mark.parametrize(
    "shape", [(1, 1), (1, SMALL_CHUNK + 1), (512, LARGE_CHUNK // 512), (1, LARGE_CHUNK + 1), (1531, 700)]
)
@pytest.mark.parametrize("as_uint8", [True, False])
def test_compose_in_chunks_equals_the_whole_image_at_once(shape, as_uint8) -> None:
    rng = np.random.default_rng(2)
    lightness = rng.uniform(0, 100, shape).astype(np.float32)
    coefficients = rng.normal(0, 30, (min(shape[0], 24), min(shape[1], 24), 4)).astype(np.float32)
    full = tf.image.resize(coefficients, shape, method="bilinear")
    to_rgb = rgb8_from_lightness_and_chroma if as_uint8 else rgb_from_lightness_and_chroma
    expected = to_rgb(lightness, apply_coefficients(lightness, full)).numpy()
    rgb = compose(lightness, coefficients, as_uint8=as_uint8)
    assert rgb.shape == (*shape, 3) and rgb.dtype == expected.dtype
    if as_uint8:  # XLA's fused arithmetic may round a level differently from the op-by-op graph
        assert np.abs(rgb.astype(int) - expected).max() <= 1 and np.mean(rgb == expected) > 0.999
    else:
        np.testing.assert_allclose(rgb, expected, atol=2e-5)


# (image shape, coefficient shape, the kernel tile_ratio picks): each kernel at its largest ratio
# of coefficients to pixels, tiles ending past the image, a wide and a tall image.
TILED_CASES = [
    ((2048, 2048), (256, 256), TILE_RATIOS[0]),
    ((1500, 1100), (224, 164), TILE_RATIOS[1]),
    ((1024, 1024), (256, 256), TILE_RATIOS[1]),
    ((1024, 1030), (500, 515), TILE_RATIOS[2]),
    ((1000, 3000), (75, 224), TILE_RATIOS[0]),
    ((3000, 1000), (224, 75), TILE_RATIOS[0]),
]


@pytest.mark.parametrize(("shape", "cells", "ratio"), TILED_CASES)
@pytest.mark.parametrize("as_uint8", [True, False])
def test_compose_in_tiles_equals_the_whole_image_at_once(shape, cells, ratio, as_uint8) -> None:
    assert tile_ratio(shape, cells) == ratio
    rng = np.random.default_rng(3)
    lightness = rng.uniform(0, 100, shape).astype(np.float32)
    coefficients = rng.normal(0, 1, (*cells, 4)).astype(np.float32) * np.float32([0.5, 0.5, 40, 40])
    full = tf.image.resize(coefficients, shape, method="bilinear")
    to_rgb = rgb8_from_lightness_and_chroma if as_uint8 else rgb_from_lightness_and_chroma
    expected = to_rgb(lightness, apply_coefficients(lightness, full)).numpy()
    rgb = compose(lightness, coefficients, as_uint8=as_uint8)
    assert rgb.shape == (*shape, 3) and rgb.dtype == expected.dtype
    if as_uint8:
        assert np.abs(rgb.astype(int) - expected).max() <= 1 and np.mean(rgb == expected) > 0.999
    else:
        np.testing.assert_allclose(rgb, expected, atol=3e-5)  # measured up to 1.1e-5


@pytest.mark.parametrize(
    ("shape", "cells"),
    [
        ((1024, 1024), (600, 600)),  # not twice the coefficients' size
        ((600, 1000), (134, 224)),  # tiles of 1024 x 1024: three quarters more pixels than the image
        ((1, 2**20), (1, 224)),  # one row: a whole tile of padding per tile
        ((TILE, TILE), (TILE // 2 + 1, TILE // 2 + 1)),  # more cells per pixel than the last kernel takes
        ((0, 2048), (0, 224)),  # empty
    ],
)
def test_tiles_only_where_they_pay(shape, cells) -> None:
    assert tile_ratio(shape, cells) is None


def test_normalised_entropy_bounds() -> None:
    uniform = tf.zeros([3, 50])
    certain = tf.one_hot([1, 2, 3], 50) * 100.0
    np.testing.assert_allclose(normalised_entropy(uniform).numpy(), 1.0, atol=1e-5)
    np.testing.assert_allclose(normalised_entropy(certain).numpy(), 0.0, atol=1e-5)


def make_classification_colorizer(tiny_spec, folder, logit_scale: float = 1.0):
    """A tiny classification colorizer with random weights; ``logit_scale`` < 1 makes it unsure."""
    from conftest import randomize

    from hypercol.inference.colorizer import Colorizer
    from hypercol.models.card import ModelCard
    from hypercol.models.head import build_head

    config = {"base_width": 16, "min_width": 8, "outputs": 9, "output_stride": 4}
    head = build_head(tiny_spec.taps, **config)
    randomize(head, seed=3)
    for weight in head.weights:
        if "chroma" in weight.path:
            weight.assign(weight * logit_scale)
    weights = folder / "cls.weights.h5"
    head.save_weights(str(weights))
    centres = [[a, b] for a in (-40, 0, 40) for b in (-40, 0, 40)]
    card = ModelCard("tiny_vgg", [t.key for t in tiny_spec.taps], 64, config, "classification", centres, [1.0] * 9)
    weights.with_name("cls.json").write_text(card.to_json())
    return Colorizer(weights)


@pytest.fixture(scope="module")
def classification_colorizer(tiny_spec, tmp_path_factory):
    return make_classification_colorizer(tiny_spec, tmp_path_factory.mktemp("cls"))


def test_uncertainty_fallback_moves_unsure_colors_towards_gray(tiny_spec, tmp_path) -> None:
    # Moderate logits: the head is unsure (entropy well inside (0, 1)), so the fallback has room to act.
    unsure = make_classification_colorizer(tiny_spec, tmp_path, logit_scale=0.0005)
    gray = np.random.default_rng(0).integers(0, 256, (48, 48), dtype=np.uint8)
    colorful = [colorfulness(unsure.colorize(gray, fallback=f)) for f in (0.0, 1.0, 4.0)]
    assert colorful[0] > 1.05 * colorful[1] > 1.05**2 * colorful[2]
    with pytest.raises(ValueError, match="fallback"):
        unsure.colorize(gray, fallback=-1.0)


def test_edge_aware_and_bilinear_colorizers_differ_only_in_chroma(classification_colorizer) -> None:
    from skimage.color import rgb2lab

    from hypercol.inference.colorizer import Colorizer

    bilinear = Colorizer(classification_colorizer.weights, edge_aware=False)
    gray = np.random.default_rng(1).integers(0, 256, (80, 60), dtype=np.uint8)
    a, b = classification_colorizer.colorize(gray), bilinear.colorize(gray)
    assert np.abs(a.astype(int) - b.astype(int)).max() > 3
    np.testing.assert_allclose(rgb2lab(a)[..., 0], rgb2lab(b)[..., 0], atol=1.0)


@pytest.mark.parametrize("radius", [1, 4])
def test_guided_coefficients_match_a_direct_box_filter(radius) -> None:
    """The separable one-pass filter gives He et al.'s coefficients with a plain (2r+1)^2 box mean."""
    rng = np.random.default_rng(radius)
    lightness = tf.constant(rng.uniform(0, 100, (2, 23, 31)).astype(np.float32))
    chroma = tf.constant(rng.normal(0, 30, (2, 23, 31, 2)).astype(np.float32))

    def box(x):
        return tf.nn.avg_pool2d(x, 2 * radius + 1, 1, "SAME")

    guide = lightness[..., tf.newaxis] / 100.0
    mean_guide, mean_chroma = box(guide), box(chroma)
    variance = box(guide * guide) - mean_guide**2
    slope = (box(guide * chroma) - mean_guide * mean_chroma) / (tf.maximum(variance, 0.0) + GUIDED_EPSILON)
    expected = tf.concat([box(slope), box(mean_chroma - slope * mean_guide)], axis=-1)
    actual = guided_coefficients(lightness, chroma, radius, GUIDED_EPSILON)
    np.testing.assert_allclose(actual.numpy(), expected.numpy(), atol=2e-3)
