"""Where a head wins and loses on ImageNet: its gain over gray by kind of object, at each saturation.

    python examples/imagenet_by_kind.py --sets data/sets.json --out runs/by-kind.json
    python examples/imagenet_by_kind.py --sets data/sets.json --weights runs/x/head.weights.h5

The ImageNet sample photos hold one photo per class, so every validation photo is of a
class the head never saw in training. Its classes fall into three kinds by their index
(the ImageNet-1k order follows WordNet): animals (0-397), man-made objects (398-923) and
food, plants and landscapes (924-999). For each saturation this prints, per kind, the mean
PSNR over gray, the colorfulness as a fraction of the truth's (ratio of the means) and the
share of photos that beat gray.

It also tries a decoding that knows what the backbone sees: one saturation for photos
the ImageNet classifier (EfficientNet-Lite2, on the gray photo) takes for a man-made
object with probability above a threshold, another for the rest. Chosen as ship_head.py
chooses (the best mean PSNR on the ImageNet and people validation photos with ImageNet at
least ``--min-colorfulness`` x the truth's colorfulness), with the faces (the first
``--faces`` validation photos of LFW and CelebA) no worse than at the card's flat
saturation by more than 0.05 dB.
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
from ship_head import validation_photos

from hypercol.core.metrics import colorfulness, psnr
from hypercol.evaluation.evaluate import gray_baseline
from hypercol.evaluation.semantic import ImageNetClassifier, imagenet_class_of
from hypercol.inference.colorizer import Colorizer
from hypercol.io.files import write_atomically

SATURATIONS = (0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0)
KINDS = {"animals": range(398), "man-made objects": range(398, 924), "food, plants, landscapes": range(924, 1000)}
MAN_MADE = KINDS["man-made objects"]
CHOOSE_ON = ("imagenet", "people-scenes", "people-sport")
FACES = ("faces-lfw", "faces-celeba")
FACE_TOLERANCE = 0.05  # dB the faces may lose against the card's flat saturation
THRESHOLDS = (0.3, 0.5, 0.7)


def kind_of(class_index: int) -> str:
    return next(name for name, classes in KINDS.items() if class_index in classes)


def man_made_probability(classifier: ImageNetClassifier, gray: np.ndarray) -> float:
    """The classifier's softmax mass on the man-made classes, seen on the gray photo."""
    logits = classifier.logits([gray])[0].astype(np.float64)
    probabilities = np.exp(logits - logits.max())
    probabilities /= probabilities.sum()
    return float(probabilities[MAN_MADE.start : MAN_MADE.stop].sum())


def measure(colorizer: Colorizer, classifier: ImageNetClassifier, paths, photos) -> list[dict]:
    """Per photo: its gray PSNR, truth colorfulness, man-made probability, and PSNR / colorfulness per saturation."""
    rows = []
    for path, photo in zip(paths, photos):
        gray = gray_baseline(photo)
        outputs = [colorizer.colorize(photo, saturation=saturation) for saturation in SATURATIONS]
        class_index = imagenet_class_of(path.name)
        rows.append(
            {
                "name": path.name,
                "kind": None if class_index is None else kind_of(class_index),
                "man_made": man_made_probability(classifier, gray),
                "gray_psnr": psnr(gray, photo),
                "truth_colorfulness": colorfulness(photo),
                "psnr": [psnr(output, photo) for output in outputs],
                "colorfulness": [colorfulness(output) for output in outputs],
            }
        )
    return rows


def summary(rows: list[dict], choice) -> tuple[float, float, float]:
    """(mean PSNR over gray, colorfulness x truth, share beating gray) with saturation index ``choice(row)``."""
    picked = [choice(row) for row in rows]
    gains = np.array([row["psnr"][i] - row["gray_psnr"] for row, i in zip(rows, picked)])
    colorful = np.mean([row["colorfulness"][i] for row, i in zip(rows, picked)])
    return (
        float(gains.mean()),
        float(colorful / np.mean([row["truth_colorfulness"] for row in rows])),
        float(np.mean(gains > 0)),
    )


def print_kinds(rows: list[dict]) -> None:
    print(
        "| saturation | "
        + " | ".join(f"{kind} (n {sum(r['kind'] == kind for r in rows)})" for kind in KINDS)
        + " | all |"
    )
    print("|---|" + "---|" * (len(KINDS) + 1))
    for index, saturation in enumerate(SATURATIONS):
        cells = []
        for group in [[r for r in rows if r["kind"] == kind] for kind in KINDS] + [rows]:
            gain, colorful, beats = summary(group, lambda row, i=index: i)
            cells.append(f"{gain:+.2f} dB, {colorful:.2f}x, {beats:.0%}")
        print(f"| {saturation} | " + " | ".join(cells) + " |")


def choose_two_level(sets: dict[str, list[dict]], flat: int, min_colorfulness: float) -> list[tuple]:
    """Every (threshold, man-made saturation, other saturation) within the bars, best first."""
    floors = {name: summary(sets[name], lambda row: flat)[0] - FACE_TOLERANCE for name in FACES if name in sets}
    count = sum(len(sets[name]) for name in CHOOSE_ON)
    found = []
    for threshold, (man_made, other) in itertools.product(
        THRESHOLDS, itertools.product(range(len(SATURATIONS)), repeat=2)
    ):
        choice = lambda row, t=threshold, a=man_made, b=other: a if row["man_made"] > t else b
        results = {name: summary(rows, choice) for name, rows in sets.items()}
        if results["imagenet"][1] < min_colorfulness or any(results[name][0] < floor for name, floor in floors.items()):
            continue
        mean = sum(results[name][0] * len(sets[name]) for name in CHOOSE_ON) / count
        found.append((mean, threshold, SATURATIONS[man_made], SATURATIONS[other], results))
    return sorted(found, key=lambda item: -item[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", type=Path, required=True, help="photo-set manifest (examples/build_photo_sets.py)")
    parser.add_argument("--weights", type=Path, help="head weights (default: the shipped default)")
    parser.add_argument("--faces", type=int, default=60, help="validation photos of each face set (0: none)")
    parser.add_argument("--min-colorfulness", type=float, default=0.6, help="ImageNet's bar, x the truth's")
    parser.add_argument("--out", type=Path, help="write every photo's figures here (JSON)")
    args = parser.parse_args()
    colorizer = Colorizer(args.weights) if args.weights else Colorizer()
    flat = min(range(len(SATURATIONS)), key=lambda i: abs(SATURATIONS[i] - colorizer.settings()[1]))
    classifier = ImageNetClassifier()
    sets = {}
    for name in CHOOSE_ON + (FACES if args.faces else ()):
        paths, photos = validation_photos(args.sets, [name])
        limit = args.faces if name in FACES else None
        sets[name] = measure(colorizer, classifier, paths[:limit], photos[:limit])
    print(
        f"{colorizer.description}; ImageNet validation photos by kind (PSNR over gray, colorfulness x truth, beats gray):"
    )
    print_kinds(sets["imagenet"])
    print(
        "\nshare taken for man-made (p > 0.5): "
        + ", ".join(f"{n} {np.mean([r['man_made'] > 0.5 for r in rows]):.0%}" for n, rows in sets.items())
    )
    print(
        f"flat saturation {SATURATIONS[flat]} (the card's, nearest):",
        {n: tuple(round(v, 2) for v in summary(rows, lambda row: flat)) for n, rows in sets.items()},
    )
    for mean, threshold, man_made, other, results in choose_two_level(sets, flat, args.min_colorfulness)[:3]:
        shown = ", ".join(f"{n} {g:+.2f} dB / {c:.2f}x" for n, (g, c, _) in results.items())
        print(f"man-made p > {threshold}: s {man_made}, others s {other}: choose-on photos {mean:+.2f} dB ({shown})")
    if args.out:
        text = json.dumps({"saturations": SATURATIONS, "sets": sets})
        write_atomically(args.out, lambda temporary: temporary.write_text(text))


if __name__ == "__main__":
    main()
