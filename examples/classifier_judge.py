"""The ImageNet classifier as a judge of each photo's colors: does it tell which photos to leave grayer?

    python examples/classifier_judge.py --sets data/sets.json --out runs/per-photo-saturation

The default colors every photo with one saturation. Chosen per photo knowing the truth, the
saturation would clear the ImageNet bars (``per_photo_saturation.py``'s oracle), but neither
what the photo shows nor the head's own certainty has told which photos to leave gray. The
Lite2 classifier was trained on 1.28 million color photos of the 1000 classes, the classes
our head never saw among them: it may know that a goldfinch is yellow and not care what color
a mug is. Here it classifies each validation photo colorized at each saturation of
``SATURATIONS``; a photo's score at a saturation is the log-probability, on that output, of
the class the classifier gives its gray version (also printed: of its true class, read from
the file name, a diagnostic of what the judge could do knowing the class). Each photo
then takes the saturation maximising score + m x colorfulness, with the one multiplier m for
all photos that brings the first set to the colorfulness bar, as the oracle does with PSNR.
Since the scores rise or fall with saturation almost monotonically, those picks go to the
ends (gray or the most saturated); so the best two-level rule is printed too: photos
whose judged change from gray to the default's saturation is above the median one
saturation, the others another, both chosen (on the reported photos themselves, so an
optimistic figure) for the best mean PSNR at the bar.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from per_photo_saturation import (
    SATURATIONS,
    as_arrays,
    cached_curves,
    choose_per_photo,
    curves,
    one_for_all,
    report,
)
from scipy.special import log_softmax
from ship_head import validation_photos

from hypercol.evaluation.semantic import ImageNetClassifier, imagenet_class_of
from hypercol.inference.colorizer import Colorizer
from hypercol.io.files import write_atomically

JUDGED_MULTIPLIERS = np.linspace(0.0, 1.0, 401)  # log-probabilities weigh differently from decibels: a wider sweep


def judged_log_probabilities(classifier, colorizer: Colorizer, photos: list[np.ndarray], knobs: dict) -> np.ndarray:
    """(photos, saturations, 1000) log-probabilities of the classifier on each photo colorized at each saturation."""
    judged = []
    for truth in photos:
        outputs = [colorizer.colorize(truth, saturation=s, **knobs) for s in SATURATIONS]
        judged.append(log_softmax(classifier.logits(outputs).astype(np.float64), axis=-1))
    return np.asarray(judged, dtype=np.float32)


def cached_judgements(path: Path, compute) -> np.ndarray:
    """The log-probabilities stored at ``path`` (.npy), or computed and stored there (atomically)."""
    if path.exists():
        return np.load(path)
    judged = compute()
    write_atomically(path, lambda temporary: np.save(temporary, judged))
    return judged


def two_level_split(signal: np.ndarray, data: dict, first: np.ndarray, bar: float) -> tuple[np.ndarray, str] | None:
    """The best (on the first set, at the bar) of the rules 'saturation index hi where ``signal`` is above its median
    on the first set, lo elsewhere'; None if none reaches the bar."""
    above, best, best_gain = signal > np.median(signal[first]), None, -np.inf
    for low in range(len(SATURATIONS)):
        for high in range(low, len(SATURATIONS)):
            chosen = np.where(above, high, low)
            picked = lambda key, chosen=chosen: data[key][first][np.arange(first.sum()), chosen[first]]
            reaches = picked("colorfulness").mean() >= bar * data["truth_colorfulness"][first].mean()
            if reaches and picked("gain").mean() > best_gain:
                best, best_gain = (chosen, f"{SATURATIONS[low]}/{SATURATIONS[high]}"), picked("gain").mean()
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", type=Path, required=True, help="photo-set manifest")
    parser.add_argument("--out", type=Path, required=True, help="folder for the curves and judgements (reused)")
    parser.add_argument("--validation", nargs="+", default=["imagenet", "people-scenes", "people-sport"])
    parser.add_argument("--bar", type=float, default=0.6, help="colorfulness, x the truth's, on the first set")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    colorizer = Colorizer()
    knobs = {"temperature": colorizer.card.temperature, "fallback": colorizer.card.uncertainty_fallback}
    named, paths = [], []
    for name in args.validation:
        set_paths, photos = validation_photos(args.sets, [name])
        named += [(name, photo) for photo in photos]
        paths += set_paths
    suffix = "-".join(args.validation)
    data = as_arrays(cached_curves(args.out / f"validation-{suffix}.json", lambda: curves(colorizer, named, knobs)))
    judged = cached_judgements(
        args.out / f"judged-{suffix}.npy",
        lambda: judged_log_probabilities(ImageNetClassifier(), colorizer, [photo for _, photo in named], knobs),
    )
    first = data["set"] == args.validation[0]
    gray_class = judged[:, 0].argmax(-1)  # saturation 0: the gray photo
    rows = np.arange(len(judged))

    per_photo = lambda scores: choose_per_photo(scores, data, first, args.bar, JUDGED_MULTIPLIERS)

    single = one_for_all(data["gain"][first], data["colorfulness"][first], data["truth_colorfulness"][first], args.bar)
    report("one for all", None if single is None else np.full(len(rows), single), data, args.validation)
    report("oracle (PSNR)", per_photo(data["gain"]), data, args.validation)
    report("judge: gray's class", per_photo(judged[rows, :, gray_class]), data, args.validation)
    report("judge: top class", per_photo(judged.max(-1)), data, args.validation)
    default = int(np.argmin(np.abs(np.asarray(SATURATIONS) - colorizer.card.saturation)))
    gray_class_scores = judged[rows, :, gray_class]
    change = gray_class_scores[:, default] - gray_class_scores[:, 0]
    for name, signal in (("rises", change), ("falls", -change)):
        split = two_level_split(signal, data, first, args.bar)
        if split is not None:
            report(f"split: {name} {split[1]}", split[0], data, args.validation)
    true_class = np.array([-1 if (label := imagenet_class_of(path.name)) is None else label for path in paths])
    known = true_class >= 0
    if known.any():
        scores = np.where(known[:, None], judged[rows, :, np.maximum(true_class, 0)], judged[rows, :, gray_class])
        report("judge: true class", per_photo(scores), data, args.validation)
        gray_right = (gray_class == true_class)[first & known].mean()
        print(f"(the gray photo's class is the true one for {gray_right:.0%} of the first set)")


if __name__ == "__main__":
    main()
