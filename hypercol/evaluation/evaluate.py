"""Evaluation: colorize the gray version of each photo and compare with the truth and with gray.

The gray baseline keeps each photo's lightness with a = b = 0; MSE-trained colorizers
barely beat it on PSNR and lose to the truth on colorfulness, so it is always shown.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from hypercol.core import color
from hypercol.core.metrics import NEAR_GRAY_COLORFULNESS, colorfulness, evaluate_pair
from hypercol.evaluation.semantic import CLASSIFIER_BACKBONE, ImageNetClassifier, imagenet_class_of, top1_accuracy
from hypercol.inference.colorizer import Colorizer, get_colorizer
from hypercol.training.photos import find_images
from hypercol.training.sets import PhotoSets

__all__ = ["color_truth", "evaluate_images", "format_table", "validation_split", "METRICS"]

METRICS = ("psnr", "ssim", "auc", "colorfulness")


def gray_baseline(rgb: np.ndarray) -> np.ndarray:
    """uint8 (H, W, 3) -> the same lightness with zero chroma, uint8 (H, W, 3)."""
    lightness = color.rgb_to_lab(rgb.astype(np.float32) / 255.0)[..., 0]
    return color.rgb8_from_lightness_and_chroma(lightness, np.zeros((*rgb.shape[:2], 2), np.float32)).numpy()


def evaluate_images(
    paths: Sequence[str | Path],
    colorizer: Colorizer | None = None,
    *,
    temperature: float | None = None,
    saturation: float | None = None,
    semantic: bool = True,
) -> dict:
    """Per-image and mean metrics of the model and the gray baseline, plus the truth's colorfulness.

    Photos whose names start with an ImageNet WordNet id (``n01440764_tench.JPEG``) also
    get the semantic test (``semantic=False``: skipped): the top-1 accuracy of an ImageNet
    classifier on the colorized, gray and true photos (:mod:`hypercol.evaluation.semantic`).
    """
    colorizer = colorizer or get_colorizer()
    used_temperature, used_saturation = colorizer.settings(temperature, saturation)
    per_image, skipped = [], []
    classified = {"model": [], "gray": [], "truth": [], "class": []}  # top-1 predictions, classes
    for path in paths:
        name = Path(path).name
        try:
            truth = color_truth(path)
            # RGB input is reduced to its luminance: the model sees only the gray photo.
            predicted = colorizer.colorize(truth, temperature=temperature, saturation=saturation)
            gray = gray_baseline(truth)
            row = {"model": evaluate_pair(truth, predicted), "gray": evaluate_pair(truth, gray)}
        except (OSError, ValueError, Image.DecompressionBombError) as error:  # one photo must not stop the others
            skipped.append({"image": str(path), "error": f"{type(error).__name__}: {error}"})
            continue
        per_image.append({"image": name, **row, "truth_colorfulness": colorfulness(truth)})
        label = imagenet_class_of(name) if semantic else None
        if label is not None:  # classified now: only three numbers per photo are kept
            for side, top1 in zip(("model", "gray", "truth"), _classifier().top1([predicted, gray, truth])):
                classified[side].append(top1)
            classified["class"].append(label)
    if not per_image:
        reasons = f" ({len(skipped)} skipped, e.g. {skipped[0]['image']}: {skipped[0]['error']})" if skipped else ""
        msg = f"no images to evaluate{reasons}"
        raise ValueError(msg)
    mean = {
        side: {metric: float(np.mean([row[side][metric] for row in per_image])) for metric in METRICS}
        for side in ("model", "gray")
    }
    mean["truth"] = {"colorfulness": float(np.mean([row["truth_colorfulness"] for row in per_image]))}
    return {
        "weights": str(colorizer.weights),
        "head_type": colorizer.card.head_type,
        "temperature": used_temperature if colorizer.card.is_classification else None,
        "saturation": used_saturation,
        "images": len(per_image),
        "mean": mean,
        "semantic": semantic_test(classified) if classified["class"] else None,
        "per_image": per_image,
        "skipped": skipped,
    }


def color_truth(path: str | Path) -> np.ndarray:
    """The color photo ``path`` as uint8 (H, W, 3); ValueError for a black-and-white one (a gray mode, or
    colorfulness under :data:`~hypercol.core.metrics.NEAR_GRAY_COLORFULNESS`: no color to recover, and its gray baseline all but
    exact), Pillow's errors for unreadable files."""
    with Image.open(path) as image:
        if image.mode in ("1", "L", "LA", "I", "I;16", "F"):
            msg = f"a black-and-white photo (mode {image.mode!r}): evaluation compares colors"
            raise ValueError(msg)
        rgb = np.asarray(image.convert("RGB"))
    colors = colorfulness(rgb)
    if colors < NEAR_GRAY_COLORFULNESS:
        msg = (
            f"a black-and-white photo or nearly (colorfulness {colors:.1f} < {NEAR_GRAY_COLORFULNESS:g}): "
            "evaluation compares colors"
        )
        raise ValueError(msg)
    return rgb


def semantic_test(classified: dict[str, list]) -> dict:
    """ImageNet top-1 accuracy of the classifier's predictions on the colorized, gray and true photos."""
    top1 = {side: top1_accuracy(classified[side], classified["class"]) for side in ("model", "gray", "truth")}
    return {"classifier": CLASSIFIER_BACKBONE, "photos": len(classified["class"]), "top1": top1}


@lru_cache(maxsize=1)
def _classifier() -> ImageNetClassifier:
    return ImageNetClassifier(CLASSIFIER_BACKBONE)


def format_table(result: dict) -> str:
    """A markdown table of the mean metrics: model, gray baseline and truth side by side."""
    mean = result["mean"]
    lines = [
        f"| metric ({result['images']} photos) | model | gray (a=b=0) | truth |",
        "|---|---|---|---|",
    ]
    for metric in METRICS:
        truth = f"{mean['truth'][metric]:.2f}" if metric in mean["truth"] else "—"
        lines.append(f"| {metric} | {mean['model'][metric]:.3f} | {mean['gray'][metric]:.3f} | {truth} |")
    semantic = result.get("semantic")
    if semantic:
        top1 = semantic["top1"]
        label = f"ImageNet top-1 % ({semantic['classifier']}, {semantic['photos']} photos)"
        lines.append(f"| {label} | {top1['model']:.1f} | {top1['gray']:.1f} | {top1['truth']:.1f} |")
    return "\n".join(lines)


def evaluate_folder(folder: str | Path, weights: str | Path | None = None, head: str | None = None, **knobs) -> dict:
    """:func:`evaluate_images` over every photo under ``folder`` (``knobs``: temperature, saturation)."""
    colorizer = get_colorizer(weights, head)
    return evaluate_images(find_images([folder]), colorizer, **knobs)


def validation_split(manifest: str | Path, names: Sequence[str]) -> list[Path]:
    """The validation photos of the named sets of a photo-set manifest (``examples/build_photo_sets.py``).

    They were held out by a fixed hash of the file name and are never trained on.
    """
    return PhotoSets.read(manifest).paths(names, "validation")
