"""hypercol.models.hypercolumns: every tap upsampled to the image and stacked."""

from __future__ import annotations

import numpy as np
import pytest

from hypercol import hypercolumns
from hypercol.models.backbones import get_spec
from hypercol.models.hypercolumns import MAX_BACKBONE_BYTES, MAX_HYPERCOLUMN_BYTES, backbone_bytes_per_pixel

IMAGE = np.random.default_rng(0).integers(0, 256, (40, 56), dtype=np.uint8)


def test_tiny_backbone_shape_and_values(tiny_spec) -> None:
    columns = hypercolumns(IMAGE, backbone="tiny_vgg")
    assert columns.shape == (40, 56, tiny_spec.channels) == (40, 56, 4 + 6 + 8 + 8 + 8)
    assert columns.dtype == np.float32
    assert np.isfinite(columns).all() and columns.std() > 0
    # The first tap has stride 1: its channels are the activations themselves, not smoothed copies.
    assert np.abs(np.diff(columns[..., 0], axis=1)).mean() > 0


def test_tap_selection_and_size(tiny_spec) -> None:
    columns = hypercolumns(IMAGE, backbone="tiny_vgg", taps=["block5_conv3", "block1_conv2"], size=(10, 14))
    assert columns.shape == (10, 14, 8 + 4)
    full = hypercolumns(IMAGE, backbone="tiny_vgg", taps=["block1_conv2"])
    assert not np.allclose(columns[..., 8:], full[:10, :14])  # resized, not cropped
    gray_as_rgb = hypercolumns(np.dstack([IMAGE] * 3), backbone="tiny_vgg", taps=["block1_conv2"])
    np.testing.assert_allclose(gray_as_rgb, full, rtol=1e-5, atol=1e-5)


def test_rgb_input_is_seen_in_color(tiny_spec) -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (40, 56, 3), dtype=np.uint8)
    columns = hypercolumns(rgb, backbone="tiny_vgg", taps=["block1_conv2"])
    swapped = hypercolumns(rgb[..., ::-1].copy(), backbone="tiny_vgg", taps=["block1_conv2"])
    assert not np.allclose(columns, swapped)


def test_real_vgg16_shape() -> None:
    columns = hypercolumns(IMAGE, backbone="vgg16")
    assert columns.shape == (40, 56, get_spec("vgg16").channels) == (40, 56, 1472)
    assert np.isfinite(columns).all()
    assert (columns.reshape(-1, 1472).std(axis=0) > 0).mean() > 0.5  # most channels respond to the image


def test_default_backbone_is_efficientnet_lite2() -> None:
    columns = hypercolumns(IMAGE)
    assert columns.shape == (40, 56, get_spec("efficientnet_lite2").channels) == (40, 56, 2528)
    assert np.isfinite(columns).all()
    assert (columns.reshape(-1, 2528).std(axis=0) > 0).mean() > 0.5


def test_huge_size_is_refused_before_allocating(tiny_spec) -> None:
    side = int(np.sqrt(MAX_HYPERCOLUMN_BYTES / 4 / tiny_spec.channels)) + 10
    with pytest.raises(ValueError, match="GiB.*smaller size="):
        hypercolumns(IMAGE, backbone="tiny_vgg", size=(side, side))
    with pytest.raises(ValueError, match="GiB"):
        hypercolumns(IMAGE, size=(8000, 8000))


@pytest.mark.parametrize(
    ("image", "size", "error", "match"),
    [
        (np.zeros((2, 40, 56), np.uint8), None, ValueError, "one image"),
        (np.zeros(5, np.uint8), None, ValueError, "shape"),
        (np.zeros((0, 5), np.uint8), None, ValueError, "empty"),
        (np.full((4, 4), 2.0), None, ValueError, r"\[0, 1\]"),
        (np.zeros((4, 4), np.int32), None, TypeError, "int32"),
        (IMAGE, (0, 5), ValueError, "size"),
        (IMAGE, (5,), ValueError, "size"),
    ],
)
def test_bad_inputs(tiny_spec, image, size, error, match) -> None:
    with pytest.raises(error, match=match):
        hypercolumns(image, backbone="tiny_vgg", size=size)


def test_backbone_memory_is_estimated_from_the_input(tiny_spec) -> None:
    # The backbone runs at the input's own resolution whatever size= asks for: it used to abort (std::bad_alloc).
    with pytest.raises(ValueError, match=r"vgg16.*4000x4000.*GiB \(limit 4 GiB\).*downscale"):
        hypercolumns(np.zeros((4000, 4000), np.uint8), backbone="vgg16", size=(8, 8))
    side = int(np.sqrt(MAX_BACKBONE_BYTES / backbone_bytes_per_pixel(tiny_spec))) + 10
    assert side**2 < 100_000_000  # refused by this guard, not by the one on pixel counts
    with pytest.raises(ValueError, match="tiny_vgg.*limit"):
        hypercolumns(np.broadcast_to(np.uint8(0), (side, side)), backbone="tiny_vgg", size=(8, 8))


@pytest.mark.parametrize(
    ("size", "error", "match"),
    [
        ("ab", TypeError, "pair of integers"),
        (5, TypeError, "pair of integers"),
        ((np.nan, 5), TypeError, "integers"),
        ((2.5, 3.7), TypeError, "integers"),
        ((True, 4), TypeError, "integers"),
        ((4, 5, 6), ValueError, "pair"),
        ((-1, 5), ValueError, "at least 1"),
    ],
)
def test_bad_sizes_name_the_problem(tiny_spec, size, error, match) -> None:
    with pytest.raises(error, match=match):
        hypercolumns(IMAGE, backbone="tiny_vgg", size=size)


def test_numpy_integer_sizes(tiny_spec) -> None:
    columns = hypercolumns(IMAGE, backbone="tiny_vgg", size=np.array([10, 14]))
    assert columns.shape == (10, 14, tiny_spec.channels)
