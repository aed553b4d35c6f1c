"""Evaluates a trained head on the reserved photos and installs it as a shipped head.

    python examples/ship_head.py runs/vgg16_default/head.weights.h5 regression data/reserved

Writes hypercol/weights/vgg16_<type>.weights.h5 and its model card, with the evaluation
(model, gray baseline, truth) added under "metrics". Both files are written atomically.
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from hypercol.colorizer import SHIPPED_HEADS, Colorizer, ModelCard, card_path
from hypercol.evaluate import evaluate_images, format_table
from hypercol.train import find_images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", type=Path)
    parser.add_argument("head", choices=sorted(SHIPPED_HEADS))
    parser.add_argument("reserved", type=Path, help="folder written by examples/reserved_photos.py")
    parser.add_argument("--temperatures", type=float, nargs="*", default=[1.0, 0.6, 0.38, 0.2])
    parser.add_argument("--default-temperature", type=float, help="classification: the temperature the card ships with")
    args = parser.parse_args()

    colorizer = Colorizer(args.weights)
    photos = find_images([args.reserved])
    settings = args.temperatures if colorizer.is_classification else [None]
    evaluations = {}
    for temperature in settings:
        result = evaluate_images(photos, colorizer, temperature=temperature)
        label = "default" if temperature is None else f"T={temperature:g}"
        print(f"\n{args.head} {label}\n{format_table(result)}")
        evaluations[label] = {"mean": result["mean"], "per_image": result["per_image"]}

    card = ModelCard.load(card_path(args.weights))
    if args.default_temperature is not None:
        card.temperature = args.default_temperature
    card.metrics = {
        "evaluated_on": "256x256 centre crops of the reserved photos (examples/reserved_photos.py): "
        + ", ".join(Path(p).stem for p in photos),
        "results": evaluations,
    }
    target = SHIPPED_HEADS[args.head]
    target.parent.mkdir(parents=True, exist_ok=True)
    for source_write, destination in (
        (lambda tmp: shutil.copyfile(args.weights, tmp), target),
        (lambda tmp: tmp.write_text(card.to_json() + "\n"), card_path(target)),
    ):
        temporary = destination.with_name(f".{destination.name}.tmp")
        source_write(temporary)
        os.replace(temporary, destination)
        print(destination)


if __name__ == "__main__":
    main()
