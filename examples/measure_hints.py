"""PSNR of colorization steered by hints and reference photos, against the automatic result (issue 9).

    python examples/measure_hints.py --sets data/sets.json --count 40

Validation photos only: the ``validation`` entries of the set in the photo-set manifest
(or, without a manifest, the hashed validation split of ``--photos``), near-gray photos
(colorfulness < 8) skipped. Each photo is resized to a short side of 256 and split along
its long side into an input crop and a reference crop of the same size that overlap by
at most half of it (256 x 256 crops of a 3:2 photo overlap by 128 columns).

- hints as in Zhang et al. 2017: k random 3 x 3 patches showing the true colors
  (seeded by the photo's index), k = 0, 10, 100;
- reference = the photo's own reference crop; unrelated = another photo's reference crop.

Prints the mean PSNR of each, its gain over automatic, the share of photos that gain,
the largest lightness change, and the time per call.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

import numpy as np
from PIL import Image

from hypercol.core.metrics import colorfulness, psnr
from hypercol.evaluation.evaluate import gray_baseline, validation_split
from hypercol.inference import guidance
from hypercol.inference.colorizer import Colorizer
from hypercol.io.files import is_image_name
from hypercol.models.shipped import DEFAULT_WEIGHTS
from hypercol.training.photos import split_validation

SHORT_SIDE = 256
MIN_COLORFULNESS = 8.0
HINT_COUNTS = (0, 10, 100)
PATCH = 3


def validation_photos(sets: Path | None, photos: Path | None, set_name: str) -> list[Path]:
    """The validation split: from the manifest if given, else hashed from the folder (fraction 0.11)."""
    if sets is not None:
        return validation_split(sets, [set_name])
    files = sorted(str(p) for p in photos.iterdir() if is_image_name(p.name))
    return [Path(p) for p in split_validation(files, 0.11)[1]]


def crops(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """(input crop, reference crop) of the photo at a short side of 256, overlapping by at most half; None if gray."""
    with Image.open(path) as image:
        image = image.convert("RGB")
        scale = SHORT_SIDE / min(image.size)
        photo = np.asarray(image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS))
    if colorfulness(photo) < MIN_COLORFULNESS:
        return None
    transposed = photo.shape[0] > photo.shape[1]
    if transposed:
        photo = photo.transpose(1, 0, 2)
    length = photo.shape[1]
    side = min(SHORT_SIDE, (2 * length) // 3)  # overlap 2 * side - length <= side / 2
    first, second = photo[:, :side], photo[:, length - side :]
    if transposed:
        first, second = first.transpose(1, 0, 2), second.transpose(1, 0, 2)
    return np.ascontiguousarray(first), np.ascontiguousarray(second)


def simulated_hints(truth: np.ndarray, count: int, seed: int) -> np.ndarray:
    """(H, W, 4) uint8: ``count`` random 3 x 3 patches of the true colors, alpha 255; the rest transparent."""
    rng = np.random.default_rng(seed)
    hints = np.zeros((*truth.shape[:2], 4), np.uint8)
    for _ in range(count):
        top = rng.integers(0, truth.shape[0] - PATCH + 1)
        left = rng.integers(0, truth.shape[1] - PATCH + 1)
        window = (slice(top, top + PATCH), slice(left, left + PATCH))
        hints[(*window, slice(0, 3))] = truth[window]
        hints[(*window, 3)] = 255
    return hints


def lightness_change(truth: np.ndarray, output: np.ndarray) -> float:
    """Largest |CIE L| difference between the gray input and the output (8-bit rounding included)."""
    from skimage.color import rgb2lab

    return float(np.abs(rgb2lab(gray_baseline(truth))[..., 0] - rgb2lab(output)[..., 0]).max())


def measure(colorizer: Colorizer, pairs: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, list[float]]:
    """Per-photo PSNR (and timings, lightness changes) of every case."""
    results: dict[str, list[float]] = {}

    def record(name: str, truth: np.ndarray, **guidance) -> np.ndarray:
        start = time.perf_counter()
        output = colorizer.colorize(truth, **guidance)
        results.setdefault(f"{name} seconds", []).append(time.perf_counter() - start)
        results.setdefault(name, []).append(psnr(truth, output))
        results.setdefault("lightness change", []).append(lightness_change(truth, output))
        return output

    for index, (truth, reference) in enumerate(pairs):
        automatic = record("automatic", truth)
        for count in HINT_COUNTS:
            output = record(f"hints k={count}", truth, hints=simulated_hints(truth, count, seed=index))
            if count == 0 and not np.array_equal(output, automatic):
                raise AssertionError(f"photo {index}: k = 0 differs from the automatic result")
        record("reference, same photo", truth, reference=reference)
        record("reference, unrelated", truth, reference=pairs[(index + len(pairs) // 2) % len(pairs)][1])
    return results


def print_table(results: dict[str, list[float]]) -> None:
    automatic = np.array(results["automatic"])
    print(f"{len(automatic)} photos")
    print("| case | PSNR (dB) | gain over automatic (dB) | photos that gain | s / call |")
    print("|---|---|---|---|---|")
    for name, values in results.items():
        if name.endswith("seconds") or name == "lightness change":
            continue
        values = np.array(values)
        gain = values - automatic
        seconds = np.median(results[f"{name} seconds"][1:] or results[f"{name} seconds"])
        print(f"| {name} | {values.mean():.2f} | {gain.mean():+.2f} | {(gain > 0).mean():.0%} | {seconds:.2f} |")
    print(f"largest lightness change: {max(results['lightness change']):.2f} CIE L")


def _number(text: str) -> int | float:
    """``"160"`` -> 160 (the counts of GuidanceSettings are whole numbers), ``"0.3"`` -> 0.3."""
    return int(text) if text.strip().lstrip("+-").isdigit() else float(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", type=Path, help="photo-set manifest (examples/build_photo_sets.py)")
    parser.add_argument("--photos", type=Path, help="without a manifest: a folder of photos to split")
    parser.add_argument("--set", default="imagenet")
    parser.add_argument("--count", type=int, default=40, help="photos to measure (after skipping gray ones)")
    parser.add_argument("--skip", type=int, default=0, help="start after this many (non-gray) photos")
    parser.add_argument("--weights", type=Path, default=DEFAULT_WEIGHTS)
    parser.add_argument(
        "--set-option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="change a hypercol.inference.guidance.GuidanceSettings field for this run (ablations), e.g. attraction=0",
    )
    args = parser.parse_args()
    if (args.sets is None) == (args.photos is None):
        parser.error("give --sets or --photos")
    changes = {name: _number(value) for name, _, value in (item.partition("=") for item in args.set_option)}
    settings = dataclasses.replace(guidance.DEFAULT_SETTINGS, **changes)
    print(settings)
    pairs = []
    for path in validation_photos(args.sets, args.photos, args.set):
        pair = crops(path)
        if pair is not None:
            pairs.append(pair)
        if len(pairs) == args.skip + args.count:
            break
    pairs = pairs[args.skip :]
    print_table(measure(Colorizer(args.weights, guidance=settings), pairs))


if __name__ == "__main__":
    main()
