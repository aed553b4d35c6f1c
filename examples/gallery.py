"""A side-by-side gallery (gray | hypercol | truth) of validation photos, never trained on.

    python examples/gallery.py --sets data/sets.json --set imagenet --count 12 --out docs/gallery_imagenet.jpg
    python examples/gallery.py --sets data/sets.json --set imagenet scenes-corel people-scenes --count 18 \
        --out docs/gallery.jpg [--weights OTHER.weights.h5 hypercol/weights/lite2_lite1.ensemble.json]
    python examples/gallery.py --folder ../shared/photos/bw-portraits --count 12 --out docs/portraits.jpg

Photos are the first ``--count`` of the sets' validation splits (chosen by a hash of the
file name, see examples/build_photo_sets.py; several sets take turns), each shown at
``--height`` pixels, colorized by the default head or by each of ``--weights`` (a column each). With
``--folder`` (genuine black-and-white photos, no color truth) rows are input | hypercol.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from hypercol import colorize
from hypercol.evaluation.evaluate import gray_baseline, validation_split
from hypercol.io.files import is_image_name


def row(photo: np.ndarray, height: int, with_truth: bool, weights: list[Path | None]) -> np.ndarray:
    """gray | one colorized column per head of ``weights`` (None: the default) | truth (``with_truth``), each
    colorized at the photo's own size (as the evaluation does), then shown ``height`` pixels high."""
    width = round(photo.shape[1] * height / photo.shape[0])

    def shown(image: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(image).resize((width, height), Image.LANCZOS))

    gap = np.full((height, 6, 3), 255, np.uint8)
    columns = [gray_baseline(photo)] + [colorize(photo, weights=each) for each in weights]
    columns += [photo] if with_truth else []
    return np.concatenate([part for column in map(shown, columns) for part in (gap, column)][1:], axis=1)


def interleaved(manifest: Path, sets: list[str]) -> list[Path]:
    """The validation photos of ``sets``, taking turns: first of each, second of each, ..."""
    splits = [validation_split(manifest, [name]) for name in sets]
    return [split[i] for i in range(max(map(len, splits))) for split in splits if i < len(split)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", type=Path, help="photo-set manifest")
    parser.add_argument("--folder", type=Path, help="black-and-white photos to show instead (no truth)")
    parser.add_argument("--set", nargs="+", default=["imagenet"], help="photo sets (several take turns)")
    parser.add_argument(
        "--weights",
        type=Path,
        nargs="+",
        default=[None],
        help="head weights or ensemble cards, one column each (default: the shipped default head)",
    )
    parser.add_argument("--count", type=int, default=12)
    parser.add_argument("--height", type=int, default=160)
    parser.add_argument("--columns", type=int, default=2)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    if args.folder:
        paths = sorted(p for p in args.folder.iterdir() if is_image_name(p.name))
    else:
        paths = interleaved(args.sets, args.set)
    rows = []
    for path in paths[: args.count]:
        with Image.open(path) as image:
            rows.append(row(np.asarray(image.convert("RGB")), args.height, not args.folder, args.weights))
    width = max(r.shape[1] for r in rows)
    padded = [np.pad(r, ((0, 6), (0, width - r.shape[1] + 12), (0, 0)), constant_values=255) for r in rows]
    per_column = -(-len(padded) // args.columns)
    columns = [padded[i : i + per_column] for i in range(0, len(padded), per_column)]
    columns[-1] += [np.full_like(padded[0], 255)] * (per_column - len(columns[-1]))
    sheet = np.concatenate([np.concatenate(c, axis=0) for c in columns], axis=1)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(args.out, quality=88)
    print(args.out)


if __name__ == "__main__":
    main()
