"""The real thing: the VGG16 backbone and the shipped head on a real photograph."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import color as skcolor
from skimage import data

from hypercol.colorizer import SHIPPED_HEADS, card_path


@pytest.mark.parametrize("head", sorted(SHIPPED_HEADS))
def test_shipped_head_colorizes_a_photograph(head) -> None:
    from hypercol import colorize

    assert SHIPPED_HEADS[head].exists() and card_path(SHIPPED_HEADS[head]).exists()
    gray = data.camera()
    rgb = colorize(gray, head=head)
    assert rgb.shape == (*gray.shape, 3) and rgb.dtype == np.uint8
    lab = skcolor.rgb2lab(rgb)
    expected_lightness = skcolor.rgb2lab(np.dstack([gray] * 3))[..., 0]
    assert np.abs(lab[..., 0] - expected_lightness).max() <= 1.0
    assert np.hypot(lab[..., 1], lab[..., 2]).mean() > 2
