"""The real thing: the VGG16 backbone and the shipped head on a real photograph."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import color as skcolor
from skimage import data

from hypercol.models.card import card_path, is_ensemble_card
from hypercol.models.shipped import SHIPPED_HEADS


@pytest.mark.parametrize("head", sorted(SHIPPED_HEADS))
def test_shipped_head_colorizes_a_photograph(head) -> None:
    from hypercol import colorize

    path = SHIPPED_HEADS[head]
    assert path.exists() and (is_ensemble_card(path) or card_path(path).exists())
    gray = data.camera()
    rgb = colorize(gray, head=head)
    assert rgb.shape == (*gray.shape, 3) and rgb.dtype == np.uint8
    lab = skcolor.rgb2lab(rgb)
    expected_lightness = skcolor.rgb2lab(np.dstack([gray] * 3))[..., 0]
    assert np.abs(lab[..., 0] - expected_lightness).max() <= 1.0
    assert np.hypot(lab[..., 1], lab[..., 2]).mean() > 2


def test_both_shipped_heads_run_through_the_filter_and_the_cli(tmp_path) -> None:
    from PIL import Image

    from hypercol import ColorizeFilter
    from hypercol.cli import main

    photo = Image.fromarray(data.camera()[::4, ::4])
    for head in sorted(SHIPPED_HEADS):
        knobs = {"temperature": 0.5} if head == "classification" else {}
        colored = photo.filter(ColorizeFilter(head=head, saturation=0.8, **knobs))
        assert colored.mode == "RGB" and colored.size == photo.size
    source = tmp_path / "camera.png"
    photo.save(source)
    assert (
        main(["colorize", str(source), "-o", str(tmp_path / "out"), "--head", "classification", "--temperature", "0.5"])
        == 0
    )
    assert (
        main(["colorize", str(source), "-o", str(tmp_path / "out2"), "--head", "regression", "--saturation", "0.7"])
        == 0
    )
    assert (tmp_path / "out" / "camera_color.png").exists() and (tmp_path / "out2" / "camera_color.png").exists()


@pytest.mark.parametrize("head", ["classification", "ensemble"])
def test_default_head_and_ensemble_beat_gray_on_color_photos_they_never_saw(head) -> None:
    """scikit-image's color photos are reserved for evaluation: never trained on, never used to choose defaults.

    The default head's mean PSNR over them must beat leaving the photos gray, and its
    colors must be visible (colorfulness at least a third of the truth's); the same for the ensemble.
    """
    from hypercol import colorize
    from hypercol.core.metrics import colorfulness, psnr
    from hypercol.evaluation.evaluate import gray_baseline

    photos = [data.astronaut(), data.coffee(), data.chelsea(), data.rocket()]
    photos = [photo[:: max(1, max(photo.shape[:2]) // 256), :: max(1, max(photo.shape[:2]) // 256)] for photo in photos]
    model = [colorize(photo, head=head) for photo in photos]
    model_psnr = np.mean([psnr(truth, output) for truth, output in zip(photos, model)])
    gray_psnr = np.mean([psnr(truth, gray_baseline(truth)) for truth in photos])
    assert model_psnr > gray_psnr
    model_colorfulness = np.mean([colorfulness(output) for output in model])
    assert model_colorfulness > np.mean([colorfulness(truth) for truth in photos]) / 3


def test_a_new_reference_steers_the_default_head_as_the_same_one_prepared() -> None:
    """On the shipped default, in whatever precision the machine picks (bf16 where there is AMX): the
    graph a new reference runs in must round the input's descriptors as the prepared path does."""
    from hypercol import colorize
    from hypercol.inference.colorizer import get_colorizer
    from hypercol.inference.guidance import prepare_reference

    gray, reference = data.camera()[::2, ::2], data.astronaut()[::2, ::2]
    new = colorize(gray, reference=reference)
    prepared = colorize(gray, reference=prepare_reference(get_colorizer(), reference))
    np.testing.assert_array_equal(new, prepared)
    assert not np.array_equal(new, colorize(gray))
