"""Before/after of the edge-aware chroma upsampling on a large photo: bilinear | guided filter | truth.

    python examples/edge_aware.py PHOTO [PHOTO ...] --size 2048 --out docs/edge_aware.jpg

Each photo (one row each) is resized to a long side of ``--size``, colorized from its gray version with
plain bilinear chroma upsampling and with the guided filter (the default), and a
``--crop``-pixel detail around the strongest lightness edges is shown at full resolution.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from hypercol.inference.colorizer import Colorizer
from hypercol.models.shipped import DEFAULT_WEIGHTS


def busiest_window(gray: np.ndarray, size: int) -> tuple[int, int]:
    """Top-left corner of the ``size`` window with the most gradient energy (on a coarse grid)."""
    gradient = (
        np.abs(np.diff(gray.astype(np.float32), axis=0))[:, :-1] + np.abs(np.diff(gray.astype(np.float32), axis=1))[:-1]
    )
    step = size // 4
    best, corner = -1.0, (0, 0)
    for top in range(0, gradient.shape[0] - size, step):
        for left in range(0, gradient.shape[1] - size, step):
            energy = float(gradient[top : top + size, left : left + size].sum())
            if energy > best:
                best, corner = energy, (top, left)
    return corner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("photos", type=Path, nargs="+")
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--crop", type=int, default=384)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    colorizers = [Colorizer(DEFAULT_WEIGHTS, edge_aware=edge_aware) for edge_aware in (False, True)]
    rows = []
    for photo in args.photos:
        with Image.open(photo) as image:
            image = image.convert("RGB")
            scale = args.size / max(image.size)
            truth = np.asarray(image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS))
        results = [colorizer.colorize(truth) for colorizer in colorizers]
        top, left = busiest_window(np.asarray(Image.fromarray(truth).convert("L")), args.crop)
        window = (slice(top, top + args.crop), slice(left, left + args.crop))
        gap = np.full((args.crop, 8, 3), 255, np.uint8)
        rows += [np.concatenate([results[0][window], gap, results[1][window], gap, truth[window]], axis=1)]
        rows += [np.full((8, rows[-1].shape[1], 3), 255, np.uint8)]
        print(f"{photo.name}: {truth.shape[1]}x{truth.shape[0]} photo, detail at ({left}, {top})")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.concatenate(rows[:-1])).save(args.out, quality=90)
    print(args.out)


if __name__ == "__main__":
    main()
