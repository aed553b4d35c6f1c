"""Color hints and a reference photo on a real photo: gray + hints | automatic | with hints | with reference.

    python examples/hints_and_reference.py --sets data/sets.json --photo n01530575_brambling.JPEG \\
        --out docs/hints_and_reference.jpg

The photo (from the validation split of the photo-set manifest, never trained on) is
resized to a short side of 256 and split like examples/measure_hints.py: the left (top)
crop is colorized, the right (bottom) crop, overlapping it by at most half, is the
reference. The hints are 5 x 5 dots of the photo's true colors, at ``--points`` (where a
person who knows the colors would paint them) or at ``--hints`` random places. Panels:
the gray input with the painted dots, the automatic result, the result with the hints,
the result with the reference (shown as an inset).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from hypercol.core.metrics import psnr
from hypercol.evaluation.evaluate import gray_baseline
from hypercol.inference.colorizer import Colorizer
from hypercol.models.shipped import DEFAULT_WEIGHTS
from hypercol.training.sets import PhotoSets

GAP = 6
DOT = 5


def painted_hints(truth: np.ndarray, corners: list[tuple[int, int]]) -> np.ndarray:
    """(H, W, 4) uint8: opaque 5 x 5 dots of the true colors at ``corners`` (top, left), elsewhere transparent."""
    hints = np.zeros((*truth.shape[:2], 4), np.uint8)
    for top, left in corners:
        window = (slice(top, top + DOT), slice(left, left + DOT))
        hints[window] = np.dstack([truth[window], np.full((DOT, DOT), 255, np.uint8)])
    return hints


def dot_corners(shape: tuple[int, int], points: str | None, count: int, seed: int) -> list[tuple[int, int]]:
    """``points`` ("row,col;row,col;...", dot centres) as a person would place them, else ``count`` random ones."""
    if points:
        centres = [tuple(int(value) for value in point.split(",")) for point in points.split(";")]
        return [
            (min(max(row - DOT // 2, 0), shape[0] - DOT), min(max(col - DOT // 2, 0), shape[1] - DOT))
            for row, col in centres
        ]
    rng = np.random.default_rng(seed)
    return list(zip(rng.integers(0, shape[0] - DOT, count), rng.integers(0, shape[1] - DOT, count)))


def with_dots(gray: np.ndarray, hints: np.ndarray, corners: list[tuple[int, int]]) -> np.ndarray:
    """The gray input with the hint dots painted on, each outlined in white."""
    image = Image.fromarray(np.where(hints[..., 3:] > 0, hints[..., :3], gray))
    draw = ImageDraw.Draw(image)
    for top, left in corners:
        draw.rectangle([int(left) - 1, int(top) - 1, int(left) + DOT, int(top) + DOT], outline=(255, 255, 255))
    return np.asarray(image)


def with_inset(result: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """``result`` with a third-size thumbnail of the reference in its bottom-right corner, framed in white."""
    height = result.shape[0] // 3
    width = round(reference.shape[1] * height / reference.shape[0])
    thumbnail = np.asarray(Image.fromarray(reference).resize((width, height), Image.LANCZOS))
    framed = result.copy()
    framed[-height - 4 :, -width - 4 :] = 255
    framed[-height - 2 : -2, -width - 2 : -2] = thumbnail
    return framed


def main() -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from measure_hints import crops

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", type=Path, required=True, help="photo-set manifest")
    parser.add_argument("--set", default="imagenet")
    parser.add_argument("--photo", required=True, help="file name of a validation photo of the set")
    parser.add_argument("--hints", type=int, default=12, help="random dots (without --points)")
    parser.add_argument("--points", help='dot centres "row,col;row,col;..." in the input crop')
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    entry = PhotoSets.read(args.sets).sets[args.set]
    if args.photo not in {item["file"] for item in entry["validation"]}:
        parser.error(f"{args.photo} is not in the {args.set} validation split")
    truth, reference = crops(Path(entry["root"]) / args.photo)
    colorizer = Colorizer(DEFAULT_WEIGHTS)
    corners = dot_corners(truth.shape[:2], args.points, args.hints, args.seed)
    hints = painted_hints(truth, corners)
    automatic = colorizer.colorize(truth)
    hinted = colorizer.colorize(truth, hints=hints)
    referenced = colorizer.colorize(truth, reference=reference)
    panels = [with_dots(gray_baseline(truth), hints, corners), automatic, hinted, with_inset(referenced, reference)]
    gap = np.full((truth.shape[0], GAP, 3), 255, np.uint8)
    sheet = np.concatenate([part for panel in panels for part in (panel, gap)][:-1], axis=1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(args.out, quality=88)
    print(
        f"{args.out}: PSNR automatic {psnr(truth, automatic):.2f}, with {len(corners)} hints {psnr(truth, hinted):.2f}, "
        f"with the reference {psnr(truth, referenced):.2f} dB"
    )


if __name__ == "__main__":
    main()
