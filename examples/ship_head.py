"""Evaluates a trained head on the reserved photos and installs it as a shipped head.

    python examples/ship_head.py runs/vgg16_default/head.weights.h5 regression data/reserved --corpus data/corpus

Writes hypercol/weights/vgg16_<type>.weights.h5 and its model card, with the evaluation
(model, gray baseline, truth) added under "metrics". Both files are written atomically.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image
from reserved_photos import centre_crop

from hypercol.colorizer import SHIPPED_HEADS, Colorizer, ModelCard, card_path
from hypercol.evaluate import evaluate_images, format_table
from hypercol.train import find_images, split_validation, write_atomically


def choose_saturation(colorizer: Colorizer, corpus: Path) -> float:
    """The largest saturation whose outputs on the held-out training photos are no more colorful than the truth."""
    _, validation = split_validation(find_images([corpus]), 0.1)
    with tempfile.TemporaryDirectory() as folder:
        for path in validation:
            crop = centre_crop(np.asarray(Image.open(path).convert("RGB")))
            Image.fromarray(crop).save(Path(folder) / (Path(path).stem + ".png"))
        crops = find_images([folder])
        for saturation in (1.0, 0.875, 0.75, 0.625, 0.5):
            mean = evaluate_images(crops, colorizer, saturation=saturation)["mean"]
            if mean["model"]["colorfulness"] <= mean["truth"]["colorfulness"]:
                return saturation
    return 0.5


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", type=Path)
    parser.add_argument("head", choices=sorted(SHIPPED_HEADS))
    parser.add_argument("reserved", type=Path, help="folder written by examples/reserved_photos.py")
    parser.add_argument("--temperatures", type=float, nargs="*", default=[1.0, 0.6, 0.38, 0.2])
    parser.add_argument("--working-size", type=int, help="override the inference working size of the card")
    parser.add_argument(
        "--corpus",
        type=Path,
        help="choose the card's saturation on this corpus's validation split (never on the reserved photos): "
        "the largest of 1, 7/8, ..., 1/2 whose outputs are no more colorful than the truth",
    )
    parser.add_argument("--default-temperature", type=float, help="classification: the temperature the card ships with")
    args = parser.parse_args()

    card = ModelCard.load(card_path(args.weights))
    if args.default_temperature is not None:
        card.temperature = args.default_temperature
    if args.working_size is not None:
        card.working_size = args.working_size
    staged = args.weights.with_name("staged.weights.h5")  # the card's defaults take part in the evaluation
    shutil.copyfile(args.weights, staged)
    card_path(staged).write_text(card.to_json())
    colorizer = Colorizer(staged)
    if args.corpus:
        card.saturation = choose_saturation(colorizer, args.corpus)
        card_path(staged).write_text(card.to_json())
        colorizer = Colorizer(staged)
        print(f"saturation chosen on the validation split of {args.corpus}: {card.saturation:g}")
    photos = find_images([args.reserved])
    settings = [(None, None), (None, 1.0)]
    if colorizer.is_classification:
        settings += [(t, s) for t in args.temperatures for s in (None, 1.0)]
    evaluations = {}
    for temperature, saturation in settings:
        result = evaluate_images(photos, colorizer, temperature=temperature, saturation=saturation)
        label = f"T={result['temperature']}, saturation={result['saturation']:g}"
        print(f"\n{args.head} {label}\n{format_table(result)}")
        evaluations[label] = {"mean": result["mean"], "per_image": result["per_image"]}

    card.metrics = {
        "evaluated_on": "256x256 centre crops of the reserved photos (examples/reserved_photos.py): "
        + ", ".join(Path(p).stem for p in photos),
        "results": evaluations,
    }
    target = SHIPPED_HEADS[args.head]
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, lambda temporary: shutil.copyfile(args.weights, temporary))
    write_atomically(card_path(target), lambda temporary: temporary.write_text(card.to_json() + "\n"))
    print(target, card_path(target), sep="\n")


if __name__ == "__main__":
    main()
