"""Compares trained heads at the same decoding knobs on validation photos: which training is better?

    python examples/compare_heads.py runs/long/head.weights.h5 runs/scenes/head.weights.h5 \
        --sets data/sets.json --on imagenet --temperature 0.38 --saturation 1.75 --fallback 0

Every head runs with the same temperature, saturation, uncertainty fallback and working
size (``examples/ship_head.py`` chooses those for one head; comparing two heads each at
its own card's defaults would compare the knobs as much as the training). Photos are the
validation split of each ``--on`` set, black-and-white ones left out, never trained on.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from ship_head import validation_photos

from hypercol.evaluation.evaluate import METRICS, evaluate_images
from hypercol.inference.colorizer import Colorizer
from hypercol.models.card import ModelCard, card_path


def colorizer_at_knobs(weights: Path, knobs: argparse.Namespace) -> Colorizer:
    """The head of ``weights`` decoding with the given knobs instead of its card's."""
    card = ModelCard.load(card_path(weights))
    card.temperature, card.saturation = knobs.temperature, knobs.saturation
    card.uncertainty_fallback, card.working_size = knobs.fallback, knobs.working_size
    return Colorizer(weights, card=card, small_canvas=False)


def evaluate_head(colorizer: Colorizer, paths: list[Path]) -> dict:
    result = evaluate_images(paths, colorizer)
    beats = np.mean([row["model"]["psnr"] > row["gray"]["psnr"] for row in result["per_image"]])
    return {**result["mean"], "beats_gray_psnr_fraction": float(beats)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", type=Path, nargs="+", help="classification heads (card beside each)")
    parser.add_argument("--sets", type=Path, required=True, help="photo-set manifest")
    parser.add_argument("--on", nargs="+", default=["imagenet"], help="sets whose validation split is used")
    parser.add_argument("--temperature", type=float, required=True)
    parser.add_argument("--saturation", type=float, required=True)
    parser.add_argument("--fallback", type=float, default=0.0)
    parser.add_argument("--working-size", type=int, default=224)
    args = parser.parse_args()

    colorizers = {weights: colorizer_at_knobs(weights, args) for weights in args.weights}  # loaded once
    for name in args.on:
        paths, _ = validation_photos(args.sets, [name])
        print(
            f"\n{name}: {len(paths)} validation photos, T {args.temperature} s {args.saturation} "
            f"fallback {args.fallback} working size {args.working_size}"
        )
        print("| head | " + " | ".join(METRICS) + " | beats gray (PSNR) |\n|---|" + "---|" * (len(METRICS) + 1))
        gray = None
        for weights, colorizer in colorizers.items():
            mean = evaluate_head(colorizer, paths)
            gray = mean["gray"]
            cells = " | ".join(f"{mean['model'][metric]:.3f}" for metric in METRICS)
            print(f"| {weights} | {cells} | {100 * mean['beats_gray_psnr_fraction']:.0f}% |")
        print("| gray | " + " | ".join(f"{gray[metric]:.3f}" for metric in METRICS) + " | |")


if __name__ == "__main__":
    main()
