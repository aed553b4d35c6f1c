"""The ImageNet classifier's gradient as a guide to hue: does it know the colors of classes the head never saw?

    python examples/classifier_guidance.py --sets data/sets.json --grid 4 --out runs/guidance-grid4.json
    python examples/classifier_guidance.py --sets data/sets.json --grid 1 --out runs/guidance-grid1.json

The Lite2 classifier learned from 1.28 million color photos of the 1000 ImageNet classes,
among them the classes of our validation photos, which the head never saw. As a judge of a
whole photo's saturation it only liked more color (``classifier_judge.py``). Here it may
change the hue alone: each validation photo is colorized by the default, then its chroma is
turned by a coarse field of angles (``--grid`` x ``--grid`` cells, bilinear across the photo;
1 is one angle for the whole photo), the chroma's magnitude kept, so the colorfulness stays
near the default's. The angles take ``--steps`` Adam steps up the log-probability the
classifier gives, on the usual centre crop, to the class it sees in the gray photo, and
again to the photo's true class (read from its file name: what the guide could do if it
knew the object). Differentiable colors: Lab to linear RGB clipped into the gamut (the
library bounds chroma by its length and fits out-of-gamut colors towards gray, whose gradient
is undefined at gray, where the default leaves uncertain pixels).

Printed: mean PSNR over gray, colorfulness (x the truth's) and the share beating gray for the
default, the guided and the told-the-class outputs, and each guide's change photo by photo
(mean +- standard error). Per-photo rows go to ``--out`` (JSON).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import tensorflow as tf
from ship_head import validation_photos
from tqdm import tqdm

from hypercol.core import color
from hypercol.core.metrics import colorfulness, psnr
from hypercol.evaluation.evaluate import gray_baseline
from hypercol.evaluation.semantic import CENTRE_CROP, ImageNetClassifier, imagenet_class_of
from hypercol.inference.colorizer import Colorizer
from hypercol.io.files import write_atomically


def differentiable_rgb(lightness: tf.Tensor, ab: tf.Tensor) -> tf.Tensor:
    """CIE L (H, W) and chroma (H, W, 2) -> sRGB (H, W, 3) in [0, 1], out-of-gamut channels clipped."""
    fy = (lightness + 16.0) / 116.0
    f = tf.stack([fy + ab[..., 0] / 500.0, fy, fy - ab[..., 1] / 200.0], axis=-1)
    linear = color._mix(color._f_inverse(f) * color._WHITE_D65, color._XYZ_TO_RGB)
    return color.linear_to_srgb(tf.clip_by_value(linear, 1e-6, 1.0))


def turned(ab: tf.Tensor, angles: tf.Tensor) -> tf.Tensor:
    """Chroma (H, W, 2) turned by a coarse (1, g, g, 1) field of angles in radians, upsampled bilinearly."""
    field = tf.image.resize(angles, tf.shape(ab)[:2], "bilinear")[0]
    cos, sin = tf.cos(field), tf.sin(field)
    a, b = ab[..., :1], ab[..., 1:]
    return tf.concat([cos * a - sin * b, sin * a + cos * b], axis=-1)


class DifferentiableClassifier:
    """The ImageNet classifier's logits of one float photo, as a function the gradient flows through."""

    def __init__(self) -> None:
        classifier = ImageNetClassifier()
        self._backbone, self._size = classifier._backbone, classifier.size

    def logits(self, rgb: tf.Tensor) -> tf.Tensor:
        """sRGB (H, W, 3) in [0, 1] -> (1000,) logits on its centre crop."""
        height, width = (float(side) for side in rgb.shape[:2])
        side = min(height, width) * CENTRE_CROP
        top, left, bottom, right = (height - side) / 2, (width - side) / 2, (height + side) / 2, (width + side) / 2
        box = [[top / height, left / width, bottom / height, right / width]]  # normalised, as crop_and_resize takes
        crop = tf.image.crop_and_resize(rgb[tf.newaxis], box, [0], [self._size, self._size])
        backbone = self._backbone
        return backbone._signature(**{backbone._input_name: backbone.prepare(crop)})["logits"][0]


def guided_chroma(
    classifier, lightness, ab, target: int, grid: int, steps: int, rate: float
) -> tuple[tf.Tensor, float]:
    """The chroma turned to raise log p(target); also the mean size of the turn in degrees."""
    angles = tf.Variable(tf.zeros([1, grid, grid, 1]))
    optimizer = tf.keras.optimizers.Adam(rate)
    for _ in range(steps):
        with tf.GradientTape() as tape:
            logits = classifier.logits(differentiable_rgb(lightness, turned(ab, angles)))
            loss = -tf.nn.log_softmax(logits)[target]
        optimizer.apply_gradients([(tape.gradient(loss, angles), angles)])
    return turned(ab, angles), float(np.degrees(np.abs(angles.numpy())).mean())


def photo_row(path: Path, truth: np.ndarray, colorizer: Colorizer, classifier, args) -> dict:
    """PSNR and colorfulness of the gray, default, guided and told-the-class outputs of one photo."""
    gray, default = gray_baseline(truth), colorizer.colorize(truth)
    lab = color.rgb_to_lab(default.astype(np.float32) / 255.0)
    lightness, ab = lab[..., 0], lab[..., 1:]
    seen = int(tf.argmax(classifier.logits(tf.constant(gray, tf.float32) / 255.0)))
    true_class = imagenet_class_of(path.name)
    row = {"photo": path.name, "truth_colorfulness": colorfulness(truth), "seen_is_true": seen == true_class}
    row["gray"] = {"psnr": psnr(truth, gray), "colorfulness": colorfulness(gray)}
    row["default"] = {"psnr": psnr(truth, default), "colorfulness": colorfulness(default)}
    for name, target in (("guided", seen), ("told", true_class)):
        if target is None:
            continue
        chroma, turn = guided_chroma(classifier, lightness, ab, target, args.grid, args.steps, args.rate)
        output = color.rgb8_from_lightness_and_chroma(lightness, chroma).numpy()
        row[name] = {"psnr": psnr(truth, output), "colorfulness": colorfulness(output), "turn_degrees": turn}
    return row


def summary(rows: list[dict]) -> None:
    truth_colorfulness = np.mean([row["truth_colorfulness"] for row in rows])
    for name in ("default", "guided", "told"):
        kept = [row for row in rows if name in row]
        gain = np.array([row[name]["psnr"] - row["gray"]["psnr"] for row in kept])
        ratio = np.mean([row[name]["colorfulness"] for row in kept]) / truth_colorfulness
        print(
            f"{name:8s} {gain.mean():+.2f} dB over gray, {ratio:.2f}x the truth's colorfulness, "
            f"{np.mean(gain > 0):.0%} beat gray ({len(kept)} photos)"
        )
        if name != "default":
            change = np.array([row[name]["psnr"] - row["default"]["psnr"] for row in kept])
            turn = np.mean([row[name]["turn_degrees"] for row in kept])
            print(
                f"{'':8s} against the default {change.mean():+.3f} +- {change.std(ddof=1) / np.sqrt(len(change)):.3f}"
                f" dB, better on {np.mean(change > 0):.0%}, mean turn {turn:.0f} degrees"
            )
    print(f"(the class seen in the gray photo is the true one for {np.mean([r['seen_is_true'] for r in rows]):.0%})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", type=Path, required=True, help="photo-set manifest")
    parser.add_argument("--set", default="imagenet", help="validation set (its file names name the class)")
    parser.add_argument("--grid", type=int, default=4, help="cells of the angle field on a side")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rate", type=float, default=0.1, help="Adam's learning rate, radians")
    parser.add_argument("--out", type=Path, required=True, help="per-photo rows (JSON)")
    args = parser.parse_args()

    paths, photos = validation_photos(args.sets, [args.set])
    colorizer, classifier = Colorizer(), DifferentiableClassifier()
    rows = [photo_row(path, truth, colorizer, classifier, args) for path, truth in tqdm(list(zip(paths, photos)))]
    write_atomically(args.out, lambda temporary: Path(temporary).write_text(json.dumps(rows, indent=1)))
    summary(rows)


if __name__ == "__main__":
    main()
