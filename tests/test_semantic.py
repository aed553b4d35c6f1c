"""The semantic test of `hypercol evaluate`: ImageNet top-1 on colorized, gray and true photos."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import data

from hypercol.evaluation.evaluate import evaluate_images, format_table
from hypercol.evaluation.semantic import imagenet_class_of, top1_accuracy


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("n01440764_tench.JPEG", 0),
        ("n01443537_goldfish.png", 1),
        ("n15075141_toilet_tissue.JPEG", 999),
        ("n02124075.jpg", 285),
        ("holiday.jpg", None),
        ("n0144076_short.jpg", None),
        ("n99999999_not_a_class.jpg", None),
        ("xn01440764_tench.jpg", None),
    ],
)
def test_class_from_file_name(name, expected) -> None:
    assert imagenet_class_of(name) == expected


def test_top1_accuracy() -> None:
    assert top1_accuracy([1, 2, 3, 4], [1, 2, 0, 0]) == 50.0
    with pytest.raises(ValueError, match="no photos"):
        top1_accuracy([], [])


def test_evaluate_reports_top1_of_model_gray_and_truth(tiny_colorizer, tmp_path) -> None:
    """Chelsea is an Egyptian cat (285) and coffee an espresso (967) to the Lite2 classifier."""
    paths = []
    for name, image in (("n02124075_Egyptian_cat.png", data.chelsea()), ("n07920052_espresso.png", data.coffee())):
        Image.fromarray(image).save(tmp_path / name)
        paths.append(tmp_path / name)
    Image.fromarray(np.full((40, 50, 3), (120, 80, 40), np.uint8)).save(tmp_path / "unlabelled.png")  # a color photo
    result = evaluate_images([*paths, tmp_path / "unlabelled.png"], tiny_colorizer)
    semantic = result["semantic"]
    assert semantic["photos"] == 2 and semantic["classifier"] == "efficientnet_lite2"
    assert semantic["top1"]["truth"] == 100.0
    assert all(value in (0.0, 50.0, 100.0) for value in semantic["top1"].values())
    assert "ImageNet top-1 % (efficientnet_lite2, 2 photos)" in format_table(result)
    assert evaluate_images(paths, tiny_colorizer, semantic=False)["semantic"] is None
    assert evaluate_images([tmp_path / "unlabelled.png"], tiny_colorizer)["semantic"] is None


def test_the_classifier_shows_photos_at_its_own_size_or_the_one_asked() -> None:
    """Lite0's own size is 224; shown at 160 instead, the cat is still a cat."""
    from hypercol.evaluation.semantic import ImageNetClassifier

    own, working = ImageNetClassifier("efficientnet_lite0"), ImageNetClassifier("efficientnet_lite0", size=160)
    assert (own.size, working.size) == (224, 160)
    assert working._square(data.chelsea()).shape == (160, 160, 3)
    assert working.top1([data.chelsea()])[0] in range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat


def test_a_pair_of_classifiers_has_no_size_of_its_own() -> None:
    from hypercol.evaluation.semantic import ImageNetClassifier

    with pytest.raises(ValueError, match="no ImageNet size of its own"):
        ImageNetClassifier("efficientnet_lite0_lite2")
