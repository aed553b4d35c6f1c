"""Which photos lose to gray, and would knowing how colorful each photo is close the gap?

    python examples/photo_colorfulness.py --folds data/folds \\
        --heads 'runs/folds-base-{fold}/head.weights.h5' --out runs/photo-colorfulness

The default colors every photo with one saturation. On the five folds of ``imagenet_folds.py``
each fold's head colorizes its held-out ImageNet photos and the people validation photos at
each saturation of ``GRID`` (the default's temperature and uncertainty fallback), and the
curves are stored with each photo's path. Printed, with every choice at the saturation(s)
where the ImageNet photos of all folds reach ``--bar`` x the truth's colorfulness:

- **By quarter of the truth's colorfulness**: mean PSNR over gray, share beating gray, and the
  outputs' colorfulness against the truth's, for one saturation for all.
- **Knowing one number per photo**: each photo's saturation set so that its output's
  colorfulness is k x (the truth's colorfulness)^p, with the one k that reaches the bar
  (interpolated along each photo's curve). An upper bound, not a method: how much of the
  gap one scalar per photo would close.
- **Guessing it**: the same with the truth's colorfulness predicted from the gray photo: a
  ridge regression on the mean and spread of each of the backbone's taps over the photo and
  its lightness statistics, to the log of the colorfulness, fitted per fold on that fold's
  training photos of every non-face set (``DESCRIBED_SETS``), never on the evaluated ones.
  With the correlation of the guess with the truth.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import tensorflow as tf
from imagenet_folds import at_saturation, position_at_bar
from per_photo_saturation import HELD_OUT_SETS, as_arrays, cached_curves, curves
from retrieved_reference import photo_part
from ship_head import colored_photos
from sklearn.linear_model import RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from hypercol.core import color
from hypercol.core.metrics import colorfulness
from hypercol.evaluation.evaluate import color_truth
from hypercol.inference.colorizer import Colorizer
from hypercol.io.files import write_atomically
from hypercol.training.sets import PhotoSets

GRID = (0.0, 0.5, 1.0, 1.5, 1.75, 2.0, 2.5, 3.0)
POWERS = (0.5, 1.0, 1.5, 2.0)
EVALUATED_SETS = ("imagenet", "people-scenes", "people-sport")
DESCRIBED_SETS = HELD_OUT_SETS  # every set of photos but the faces
RIDGE_ALPHAS = np.logspace(0, 5, 11)


def positions_for_colorfulness(colorful: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per photo, the fractional saturation index where its output's colorfulness reaches its target (the running
    maximum of its curve, so a dip does not fold it back; clamped to the grid's ends)."""
    index = np.arange(colorful.shape[1])
    rising = np.maximum.accumulate(colorful, axis=1) + 1e-9 * index  # strictly increasing for np.interp
    return np.array([np.interp(target, curve, index) for curve, target in zip(rising, targets)])


def proportional_positions(data: dict, values: np.ndarray, first: np.ndarray, bar: float, power: float):
    """Each photo's fractional index where its output's colorfulness is k x ``values`` ** ``power``, with the one k
    (by bisection of its log) that brings the ``first`` photos to the bar; None if even the grid's top misses it."""
    target_mean = bar * data["truth_colorfulness"][first].mean()
    positions = lambda k: positions_for_colorfulness(data["colorfulness"], k * values**power)
    reached = lambda k: at_saturation(data["colorfulness"], positions(k))[first].mean() >= target_mean
    low, high = -12.0, 12.0
    if not reached(np.exp(high)):
        return None
    for _ in range(50):
        middle = (low + high) / 2
        low, high = (low, middle) if reached(np.exp(middle)) else (middle, high)
    return positions(np.exp(high))


def by_quarter(data: dict, first: np.ndarray, positions) -> list[str]:
    """Lines of the ``first`` photos' figures at ``positions`` (one for all, or each photo's own), by quarter of the truth's colorfulness."""
    truth = data["truth_colorfulness"]
    gain, colorful = at_saturation(data["gain"], positions), at_saturation(data["colorfulness"], positions)
    edges = np.quantile(truth[first], [0.0, 0.25, 0.5, 0.75, 1.0])
    quarter = np.searchsorted(edges[1:-1], truth, side="right")  # 0-3, each photo in exactly one
    lines = []
    for index in range(4):
        inside = first & (quarter == index)
        lines.append(
            f"truth's colorfulness {edges[index]:.0f}-{edges[index + 1]:.0f}: {gain[inside].mean():+.2f} dB, beats gray "
            f"{np.mean(gain[inside] > 0):.0%}, outputs {colorful[inside].mean():.1f} against {truth[inside].mean():.1f}"
        )
    return lines


def summary(data: dict, positions) -> str:
    """PSNR over gray, AuC over gray, colorfulness x the truth's and share beating gray, per evaluated set."""
    if positions is None:
        return "does not reach the bar"
    parts = []
    for name in np.unique(data["set"]):
        mask = data["set"] == name
        gain, auc = (at_saturation(data[key], positions)[mask] for key in ("gain", "auc_gain"))
        colorful = at_saturation(data["colorfulness"], positions)[mask].mean() / data["truth_colorfulness"][mask].mean()
        parts.append(f"{name} {gain.mean():+.2f} dB, AuC {auc.mean():+.2f}, {colorful:.2f}x, {np.mean(gain > 0):.0%}")
    return " | ".join(parts)


def pooled_taps(colorizer: Colorizer, rgb: np.ndarray) -> np.ndarray:
    """What the gray photo shows, as one vector: the mean and spread of each tap over the photo's part of the
    working canvas, and its lightness's mean, spread and 5th and 95th percentiles."""
    lightness = np.asarray(color.rgb_to_lab(rgb.astype(np.float32) / 255.0))[np.newaxis, ..., 0]
    _, small, features = colorizer.network.canvas_and_features(tf.constant(lightness, tf.float32))
    parts = []
    for tap in features.values():
        inside = photo_part(tap, small, colorizer.working_size)
        parts += [inside.mean(axis=(0, 1)), inside.std(axis=(0, 1))]
    parts.append(np.array([lightness.mean(), lightness.std(), *np.percentile(lightness, [5, 95])]))
    return np.concatenate(parts).astype(np.float32)


def described_photos(manifest: Path, colorizer: Colorizer, path: Path) -> dict:
    """Per colorful photo of ``DESCRIBED_SETS`` (either split): its pooled taps and its truth's colorfulness,
    stored at ``path`` (.npz, atomically) and reused."""
    if not path.exists():
        sets, rows = PhotoSets.read(manifest), {"path": [], "colorfulness": [], "taps": []}
        for file in sets.paths(list(DESCRIBED_SETS), "train") + sets.paths(list(DESCRIBED_SETS), "validation"):
            try:
                rgb = color_truth(file)
            except ValueError:  # black-and-white or nearly: not evaluated, nothing to learn
                continue
            rows["path"].append(str(file))
            rows["colorfulness"].append(colorfulness(rgb))
            rows["taps"].append(pooled_taps(colorizer, rgb))
        arrays = {key: np.asarray(value) for key, value in rows.items()}
        write_atomically(path, lambda temporary: np.savez(temporary, **arrays))
    with np.load(path) as stored:
        return {key: stored[key] for key in stored.files}


def guessed_colorfulness(described: dict, training: set[str], evaluated: list[str]) -> np.ndarray:
    """The colorfulness of the ``evaluated`` photos predicted by a ridge regression (on standardised pooled taps,
    to the log) fitted on the ``training`` photos; ValueError if an evaluated photo is among them."""
    if seen := training.intersection(evaluated):
        msg = f"{len(seen)} evaluated photos are among the training photos, e.g. {min(seen)}"
        raise ValueError(msg)
    row = {path: index for index, path in enumerate(described["path"])}
    fitted = np.array([path in training for path in described["path"]])
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=RIDGE_ALPHAS))
    model.fit(described["taps"][fitted], np.log(described["colorfulness"][fitted]))
    return np.exp(model.predict(described["taps"][[row[path] for path in evaluated]]))


def fold_curves(folds: Path, fold: int, weights: Path, out: Path, knobs: dict) -> dict:
    """The curves of fold ``fold``'s head on its evaluated photos at the ``GRID`` saturations, with each photo's path
    (stored in ``out`` and reused; the head is loaded only to compute them)."""
    sets = PhotoSets.read(folds / f"sets-{fold}.json")

    def compute() -> dict:
        named, paths = [], []
        for name in EVALUATED_SETS:
            kept, photos = colored_photos(sets.paths([name], "validation"))
            named += [(name, photo) for photo in photos]
            paths += [str(path) for path in kept]
        return curves(Colorizer(weights), named, knobs, GRID, describe=False) | {"path": paths}

    return cached_curves(out / f"curves-fold{fold}.json", compute, GRID)


def all_folds(args: argparse.Namespace, knobs: dict) -> dict:
    """Every fold's curves joined, with each photo's guessed colorfulness from that fold's own regression."""
    described = described_photos(args.folds / "sets-0.json", Colorizer(), args.out / "described.npz")
    joined: dict[str, list] = {}
    for fold in range(len(list(args.folds.glob("sets-*.json")))):
        rows = fold_curves(args.folds, fold, Path(args.heads.format(fold=fold)), args.out, knobs)
        sets = PhotoSets.read(args.folds / f"sets-{fold}.json")
        training = {str(path) for path in sets.paths(list(DESCRIBED_SETS), "train")}
        rows["guess"] = guessed_colorfulness(described, training, rows["path"]).tolist()
        rows["fold"] = [fold] * len(rows["path"])
        for key, values in rows.items():
            joined.setdefault(key, []).extend(values)
    return as_arrays(joined)


def report(data: dict, bar: float) -> None:
    first = data["set"] == EVALUATED_SETS[0]
    single = position_at_bar(data, EVALUATED_SETS[0], bar)
    print(f"one saturation for all: {summary(data, single)}")
    if single is not None:
        print("\n".join(f"  {line}" for line in by_quarter(data, first, single)))
    for power in POWERS:
        positions = proportional_positions(data, data["truth_colorfulness"], first, bar, power)
        print(f"knowing the truth's colorfulness, ^{power}: {summary(data, positions)}")
    guess, truth = np.log(data["guess"]), np.log(data["truth_colorfulness"])
    print(
        f"the guess against the truth, correlation of the logs: {EVALUATED_SETS[0]} "
        f"{np.corrcoef(guess[first], truth[first])[0, 1]:+.2f}, all {np.corrcoef(guess, truth)[0, 1]:+.2f}"
    )
    for power in POWERS:
        positions = proportional_positions(data, data["guess"], first, bar, power)
        print(f"guessing it, ^{power}: {summary(data, positions)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folds", type=Path, required=True, help="the folder `imagenet_folds.py prepare` wrote")
    parser.add_argument("--heads", required=True, help="head weights path with {fold} in it")
    parser.add_argument("--out", type=Path, required=True, help="folder for curves and descriptions (reused)")
    parser.add_argument("--bar", type=float, default=0.6, help="colorfulness, x the truth's, on the ImageNet photos")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    shipped = Colorizer().card
    report(all_folds(args, {"temperature": shipped.temperature, "fallback": shipped.uncertainty_fallback}), args.bar)


if __name__ == "__main__":
    main()
