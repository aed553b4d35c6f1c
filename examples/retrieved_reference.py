"""Colors from the most alike training photo: an automatic reference found by retrieval, against the head alone.

    python examples/retrieved_reference.py --sets data/sets.json --out runs/retrieved.json
    python examples/retrieved_reference.py --sets data/sets.json --pool imagenet --validation imagenet people-scenes

Every ImageNet validation photo is of a class the head never saw in training (one photo per
class), but the training photos hold kindred classes: a tree frog for a bullfrog, a sea snake
for a horned viper. This tries lending their colors: each training photo of the ``--pool``
sets is described by the default backbone's 1280-channel head features, averaged over the
photo (on its gray lightness, as the input is seen); each validation photo takes the training
photo of the largest cosine as its reference (``colorize(photo, reference=...)``: the reference
transfer of issue 9, which keeps the automatic chroma where nothing matches). Printed per
photo and for all of them: PSNR and AuC over gray, colorfulness as a fraction of the truth's,
the share of photos beating gray, for the head alone and with the retrieved reference.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import tensorflow as tf
from ship_head import colored_photos, validation_photos

from hypercol.core import color
from hypercol.core.metrics import colorfulness, evaluate_pair
from hypercol.evaluation.evaluate import gray_baseline
from hypercol.inference.colorizer import Colorizer
from hypercol.io.files import write_atomically
from hypercol.training.sets import PhotoSets

HEAD_TAP = "head"  # the backbone's deepest tap: what the photo shows, more than where


def photo_part(tap: tf.Tensor, small_lightness: tf.Tensor, working_size: int) -> np.ndarray:
    """(rows, cols, channels) of one photo's (1, h, w, channels) tap over the photo's part of the working canvas
    (``small_lightness``: its (1, h, w) lightness there), the edge padding left out."""
    values = tf.cast(tap, tf.float32)[0].numpy()
    stride = working_size // values.shape[0]
    rows, cols = (-(-extent // stride) for extent in small_lightness.shape[1:3])
    return values[:rows, :cols]


def global_descriptor(colorizer: Colorizer, rgb: np.ndarray) -> np.ndarray:
    """The unit mean of the deepest tap over the photo's part of the working canvas, seen on its lightness."""
    lightness = color.rgb_to_lab(rgb.astype(np.float32) / 255.0)[np.newaxis, ..., 0]
    _, small_lightness, features = colorizer.network.canvas_and_features(tf.constant(lightness, tf.float32))
    mean = photo_part(features[HEAD_TAP], small_lightness, colorizer.working_size).mean(axis=(0, 1))
    return mean / np.linalg.norm(mean)


def summary(rows: list[dict], side: str) -> str:
    gain = lambda metric: np.mean([row[side][metric] - row["gray"][metric] for row in rows])
    colors = np.mean([row[side]["colorfulness"] for row in rows]) / np.mean([row["truth_colorfulness"] for row in rows])
    beats = np.mean([row[side]["psnr"] > row["gray"]["psnr"] for row in rows])
    return f"PSNR {gain('psnr'):+.2f} dB, AuC {gain('auc'):+.2f}, colorfulness {colors:.2f}x, beats gray {beats:.0%}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", type=Path, required=True, help="photo-set manifest")
    parser.add_argument("--pool", nargs="+", default=["imagenet", "scenes-corel", "scenes-osie", "scenes-bsds", "coco"])
    parser.add_argument("--validation", nargs="+", default=["imagenet"])
    parser.add_argument("--out", type=Path, help="per-photo results (JSON)")
    args = parser.parse_args()

    colorizer = Colorizer()
    pool_paths, pool_photos = colored_photos(PhotoSets.read(args.sets).paths(args.pool, "train"))
    pool = np.stack([global_descriptor(colorizer, photo) for photo in pool_photos])
    print(f"{len(pool_paths)} training photos described", flush=True)
    rows = []
    for path, truth in zip(*validation_photos(args.sets, args.validation)):
        similarity = pool @ global_descriptor(colorizer, truth)
        nearest = int(np.argmax(similarity))
        gray = evaluate_pair(truth, gray_baseline(truth))
        automatic = evaluate_pair(truth, colorizer.colorize(truth))
        lent = evaluate_pair(truth, colorizer.colorize(truth, reference=pool_photos[nearest]))
        row = {"photo": path.name, "reference": pool_paths[nearest].name, "cosine": float(similarity[nearest])}
        rows.append(
            {**row, "gray": gray, "head": automatic, "retrieved": lent, "truth_colorfulness": colorfulness(truth)}
        )
        print(
            f"{path.name[:36]:36s} <- {pool_paths[nearest].name[:36]:36s} cosine {similarity[nearest]:.2f}: "
            f"head {automatic['psnr'] - gray['psnr']:+.2f} dB, retrieved {lent['psnr'] - gray['psnr']:+.2f} dB",
            flush=True,
        )
    print(f"{len(rows)} validation photos of {', '.join(args.validation)}")
    print(f"head alone:          {summary(rows, 'head')}")
    print(f"retrieved reference: {summary(rows, 'retrieved')}")
    if args.out:
        text = json.dumps(rows, indent=1)
        write_atomically(args.out, lambda temporary: temporary.write_text(text))


if __name__ == "__main__":
    main()
