"""How far decoding can take each head: its frontier at each colorfulness bar, and its best AuC at any setting.

    python examples/decoding_bounds.py --sets data/sets.json --heads vgg16_classification \
        lite0_classification hypercol/weights/efficientnet_lite1_classification.weights.h5 \
        classification ensemble --out runs/bounds.json
    python examples/decoding_bounds.py --sets data/sets.json --heads classification ensemble \
        --temperatures 0.2 0.38 0.6 1.0 --fallbacks 0 0.5 1 2 --saturations 0.5 0.75 1 1.25 1.5 --median

Each head (a shipped name, a ``.weights.h5`` or an ``.ensemble.json``) colors the validation photos of
``--report`` sets on its cards' canvases, its members' head outputs computed once per photo, then
decoded at every (temperature, fallback, saturation); an ensemble's members are averaged at saturation 1
as ``head="ensemble"`` averages them. ``--median`` decodes each stride-4 cell as the geometric median of
its bins instead of the annealed mean: the point nearest the truth on average under the head's own
distribution, which AuC rewards (the temperature then sharpens the distribution first).

Printed per head: the best PSNR over gray on the ``--bar-on`` set among the settings at least as colorful
as each ``--bars`` multiple of its truth, with that setting's AuC, share beating gray and the other sets'
PSNR; the best PSNR and AuC of each set at any setting; and the AuC of the best setting for each photo
chosen knowing its truth (what one knob per photo could reach). Measured with it (usual split,
docs/measurements/heads.md, "Every shipped head side by side" and "The AuC bar, at any decoding").
"""

from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

import numpy as np
import tensorflow as tf
from ship_ensemble import averaged_chroma
from ship_head import auc_rgb, gray_baseline, photo_sets_of, validation_photos
from skimage.color import rgb2lab

from hypercol.core.arrays import as_image_batch, lightness
from hypercol.core.bins import normalised_entropy
from hypercol.core.metrics import auc, colorfulness, psnr
from hypercol.inference.colorizer import Colorizer
from hypercol.inference.compose import compose
from hypercol.io.files import write_atomically
from hypercol.models.shipped import SHIPPED_HEADS

PSNR, AUC, COLORFULNESS = 0, 1, 2


def geometric_median(probabilities: tf.Tensor, centres: tf.Tensor, iterations: int = 30) -> tf.Tensor:
    """(..., Q) bin probabilities and (Q, 2) centres -> (..., 2): the point with the least expected distance to
    the bins (Weiszfeld's iteration from the mean)."""
    point = tf.tensordot(probabilities, centres, axes=[[-1], [0]])
    for _ in range(iterations):
        distance = tf.norm(point[..., tf.newaxis, :] - centres, axis=-1)
        weights = probabilities / tf.maximum(distance, 1e-3)
        point = tf.tensordot(weights, centres, axes=[[-1], [0]]) / tf.reduce_sum(weights, -1, keepdims=True)
    return point


def members_of(network) -> list:
    """An ensemble's member networks, or the one network of a head."""
    return list(getattr(network, "members", [network]))


def median_chroma(members, outputs, temperature: float, fallback: float) -> tf.Tensor:
    """The members' mean bin distribution at ``temperature`` decoded as its geometric median, scaled by its
    certainty ** ``fallback``, at the first member's working shape (saturation 1)."""
    first = members[0]
    if len({tuple(output.shape) for output, _ in outputs}) > 1 or any(m.card.bins != first.card.bins for m in members):
        raise SystemExit("--median averages the members' bin distributions: they need one canvas and one set of bins")
    probabilities = tf.add_n([tf.nn.softmax(output / temperature, axis=-1) for output, _ in outputs]) / len(outputs)
    certainty = 1.0 - normalised_entropy(tf.math.log(tf.maximum(probabilities, 1e-12)))  # log p: logits of p
    centres = tf.constant(np.asarray(first.card.bins, np.float32).reshape(-1, 2))
    chroma = geometric_median(probabilities, centres) * tf.pow(certainty, fallback)[..., tf.newaxis]
    small = tf.shape(outputs[0][1])[1:3]
    size = first.working_size
    return tf.image.resize(chroma, [size, size], method="bilinear")[:, : small[0], : small[1], :]


def score_head(network, photos, grid, median: bool) -> np.ndarray:
    """(settings, photos, 3) PSNR, AuC and colorfulness of ``network`` at every (T, fallback, saturation)."""
    members = members_of(network)
    decode = median_chroma if median else averaged_chroma
    scores = np.zeros((len(grid), len(photos), 3))
    for index, truth in enumerate(photos):
        truth_ab = rgb2lab(truth)[..., 1:]
        full = lightness(as_image_batch(truth), 0)
        outputs = [member.run(tf.constant(full[np.newaxis])) for member in members]
        small = outputs[0][1]
        chromas = {}  # decoded once per (T, fallback), at saturation 1
        for setting, (temperature, fallback, saturation) in enumerate(grid):
            if (temperature, fallback) not in chromas:
                chromas[temperature, fallback] = decode(members, outputs, temperature, fallback)
            chroma = saturation * chromas[temperature, fallback]
            predicted = compose(full, members[0].coefficients(small, chroma)[0].numpy(), as_uint8=True)
            predicted_ab = rgb2lab(predicted)[..., 1:]
            scores[setting, index] = psnr(truth, predicted), auc(truth_ab, predicted_ab), colorfulness(predicted)
    return scores


def gray_scores(photos) -> np.ndarray:
    """(photos, 3): gray's PSNR and AuC, and the truth's colorfulness."""
    rows = []
    for truth in photos:
        gray = gray_baseline(truth)
        rows.append((psnr(truth, gray), auc_rgb(truth, gray), colorfulness(truth)))
    return np.array(rows)


def best_at_bar(scores: np.ndarray, gray: np.ndarray, on: np.ndarray, bar: float) -> int | None:
    """The setting with the best mean PSNR on the photos ``on`` among those whose mean colorfulness there is at
    least ``bar`` x the truth's; None if no setting is that colorful."""
    colorful = scores[:, on, COLORFULNESS].mean(axis=1) / gray[on, COLORFULNESS].mean()
    allowed = np.flatnonzero(colorful >= bar)
    if not len(allowed):
        return None
    return int(allowed[np.argmax(scores[allowed][:, on, PSNR].mean(axis=1))])


def over_gray(scores: np.ndarray, gray: np.ndarray, photos: np.ndarray, metric: int) -> np.ndarray:
    """Each setting's mean ``metric`` over gray on ``photos``."""
    return scores[:, photos, metric].mean(axis=1) - gray[photos, metric].mean()


def best_per_photo(scores: np.ndarray, gray: np.ndarray, photos: np.ndarray, metric: int) -> float:
    """The mean over gray of each photo's best setting for ``metric``, chosen knowing its truth."""
    return float((scores[:, photos, metric].max(axis=0) - gray[photos, metric]).mean())


def report(name: str, scores: np.ndarray, gray: np.ndarray, sets: np.ndarray, grid, args) -> dict:
    """Prints and returns ``name``'s frontier at each bar and its bounds at any setting."""
    on = sets == args.bar_on
    result = {"frontier": {}, "any_setting": {}}
    for bar in args.bars:
        setting = best_at_bar(scores, gray, on, bar)
        if setting is None:
            print(f"{name}: nothing reaches {bar}x on {args.bar_on}")
            continue
        row = {
            "knobs": dict(zip(("temperature", "fallback", "saturation"), grid[setting])),
            "psnr_gain": {s: float(over_gray(scores, gray, sets == s, PSNR)[setting]) for s in args.report},
            "auc_gain": float(over_gray(scores, gray, on, AUC)[setting]),
            "beats_gray": float((scores[setting, on, PSNR] > gray[on, PSNR]).mean()),
        }
        result["frontier"][str(bar)] = row
        gains = ", ".join(f"{s} {gain:+.2f} dB" for s, gain in row["psnr_gain"].items())
        print(f"{name} at >= {bar}x: {gains}; AuC {row['auc_gain']:+.2f}, {row['beats_gray']:.0%} beat gray")
    for s in args.report:
        photos = sets == s
        bounds = {
            "best_psnr_gain": float(over_gray(scores, gray, photos, PSNR).max()),
            "best_auc_gain": float(over_gray(scores, gray, photos, AUC).max()),
            "auc_gain_best_per_photo": best_per_photo(scores, gray, photos, AUC),
        }
        result["any_setting"][s] = bounds
        print(f"{name}, {s}, any setting: " + ", ".join(f"{k} {v:+.2f}" for k, v in bounds.items()))
    return result


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", type=Path, required=True, help="photo-set manifest (examples/build_photo_sets.py)")
    parser.add_argument("--heads", nargs="+", required=True, help="shipped names, .weights.h5 or .ensemble.json")
    parser.add_argument("--report", nargs="+", default=["imagenet", "people-scenes", "people-sport"])
    parser.add_argument("--bar-on", default="imagenet", help="the set whose colorfulness the bars are on")
    parser.add_argument("--bars", type=float, nargs="+", default=[0.4, 0.5, 0.6, 0.7], help="x the truth's")
    parser.add_argument("--temperatures", type=float, nargs="+", default=[0.38, 0.6])
    parser.add_argument("--fallbacks", type=float, nargs="+", default=[0.25, 0.5])
    parser.add_argument("--saturations", type=float, nargs="+", default=[1.0, 1.25, 1.5, 1.75, 2.0, 2.25, 2.5])
    parser.add_argument("--median", action="store_true", help="decode as the geometric median of the bins")
    parser.add_argument("--out", type=Path, help="JSON of every head's figures")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    paths, photos = validation_photos(args.sets, args.report)
    sets = np.array(photo_sets_of(args.sets, args.report, paths))
    gray = gray_scores(photos)
    grid = list(itertools.product(args.temperatures, args.fallbacks, args.saturations))
    figures = {}
    for head in args.heads:
        network = Colorizer(SHIPPED_HEADS.get(head, Path(head)), small_canvas=False).network
        figures[head] = report(head, score_head(network, photos, grid, args.median), gray, sets, grid, args)
    if args.out:
        write_atomically(args.out, lambda temporary: temporary.write_text(json.dumps(figures, indent=1)))


if __name__ == "__main__":
    main()
