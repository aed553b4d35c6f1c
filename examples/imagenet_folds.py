"""K-fold validation on all the ImageNet photos: a figure that one training's luck and 94 photos do not decide.

    python examples/imagenet_folds.py prepare --sets data/sets.json --cache data/cache-lite2 --out data/folds
        [--fold N: one fold only, when five folds' caches do not fit on the disk at once]
    for fold in 0 1 2 3 4; do
        hypercol train data/folds/cache-$fold --out runs/folds-default-$fold <the recipe> --seed $((fold + 1))
    done
    python examples/imagenet_folds.py evaluate --folds data/folds \\
        --heads 'runs/folds-default-{fold}/head.weights.h5' [more patterns] --out runs/folds
        [--working-sizes 224 256: every head on each of these canvases instead of its card's]

The ImageNet validation split holds 94 colorful photos, each of a class with no training
photo, and three trainings of one recipe that differ only in their seed land 0.1 dB apart
on it (docs/measurements/heads.md): comparisons of recipes below about 0.2 dB do not resolve.
Here the set's photos are split into ``--folds`` folds by the same hash as the usual split
(fold 0 holds the usual validation photos and more): for each fold, ``prepare`` writes a
manifest whose validation split is that fold, and a feature cache that shares every other
set's parts with ``--cache`` by hard links and computes only the held-out set's. A head is
trained per fold (a different seed each); ``evaluate`` colorizes each fold's held-out photos
with its head, and every fold's people validation photos (the same photos five times, five
trainings), at each saturation of ``SATURATIONS`` with the shipped default's temperature and
uncertainty fallback. Printed per pattern of heads: at the saturation where the ImageNet
photos of all folds together reach ``--bar`` x the truth's colorfulness (interpolated), the
mean PSNR and AuC over gray, the share of photos beating gray, each fold's own PSNR gain, and
the people sets at that saturation.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
from per_photo_saturation import as_arrays, cached_curves, curves
from ship_head import colored_photos

from hypercol.inference.colorizer import Colorizer
from hypercol.io.files import write_atomically
from hypercol.models.card import ModelCard, card_path
from hypercol.training.cache import CACHE_FILE, build_feature_cache
from hypercol.training.photos import split_validation
from hypercol.training.sets import PhotoSets, manifest_text

SATURATIONS = (1.0, 1.5, 1.75, 2.0, 2.5)
PEOPLE_SETS = ("people-scenes", "people-sport")


def fold_manifest_text(base: PhotoSets, set_name: str, folds: int, fold: int) -> str:
    """The manifest ``base`` with ``set_name``'s validation split replaced by fold ``fold`` of ``folds``."""
    sets = json.loads(json.dumps(base.sets))
    entry = sets[set_name]
    by_file = {item["file"]: item for item in entry["train"] + entry["validation"]}
    files = sorted(by_file)
    train, validation = split_validation(files, 1.0 / folds, fold)
    entry["train"] = [by_file[name] for name in train]
    entry["validation"] = [by_file[name] for name in validation]
    return manifest_text(sets, generator=f"examples/imagenet_folds.py: {set_name} fold {fold} of {folds}")


def link_other_parts(base_cache: Path, out: Path, set_name: str, manifest_sha256: str) -> None:
    """Starts the cache ``out`` with hard links to every part of ``base_cache`` but ``set_name``'s, under the fold's
    manifest; the held-out set's parts are left to compute. Nothing is done if ``out`` is already a cache."""
    if (out / CACHE_FILE).exists():
        return
    meta = json.loads((base_cache / CACHE_FILE).read_text())
    own = {set_name, f"{set_name}.validation"}
    out.mkdir(parents=True, exist_ok=True)
    for part in meta["parts"]:
        if part in own:
            continue
        (out / part).mkdir(exist_ok=True)
        for file in (base_cache / part).iterdir():
            if not (out / part / file.name).exists():
                os.link(file, out / part / file.name)
    meta["parts"] = {part: state for part, state in meta["parts"].items() if part not in own}
    meta["sets_manifest_sha256"] = manifest_sha256
    text = json.dumps(meta, indent=1)
    write_atomically(out / CACHE_FILE, lambda temporary: temporary.write_text(text))


def prepare(args: argparse.Namespace) -> None:
    base = PhotoSets.read(args.sets)
    meta = json.loads((args.cache / CACHE_FILE).read_text())
    if meta["sets_manifest_sha256"] != base.sha256:
        msg = f"{args.cache} was built from another manifest than {args.sets}"
        raise SystemExit(msg)
    settings = {key: meta[key] for key in ("backbone", "crop_size", "output_stride", "seed", "paste_probability")}
    args.out.mkdir(parents=True, exist_ok=True)
    for fold in range(args.folds) if args.fold is None else [args.fold]:
        text = fold_manifest_text(base, args.set, args.folds, fold)
        manifest = args.out / f"sets-{fold}.json"
        write_atomically(manifest, lambda temporary, text=text: temporary.write_text(text))
        link_other_parts(args.cache, args.out / f"cache-{fold}", args.set, PhotoSets.read(manifest).sha256)
        build_feature_cache(
            manifest,
            args.out / f"cache-{fold}",
            sets=[args.set],
            crop_scale_of=meta.get("crop_scale_of", "short"),
            **settings,
        )
        print(f"fold {fold}: {args.out / f'sets-{fold}.json'}, {args.out / f'cache-{fold}'}")


def fold_photos(manifest: Path, names: list[str]) -> list[tuple[str, np.ndarray]]:
    """(set, photo) of the named sets' validation photos in the fold's manifest, black-and-white ones left out."""
    sets, named = PhotoSets.read(manifest), []
    for name in names:
        named += [(name, photo) for photo in colored_photos(sets.paths([name], "validation"))[1]]
    return named


def curves_file(out: Path, pattern: str, fold: int, working_size: int | None = None, knobs: dict | None = None) -> Path:
    """Where the curves of fold ``fold``'s head of ``pattern`` (on a canvas of ``working_size``, None: its card's)
    are stored: a name made of the pattern, never a hidden one (a pattern may start with ../), and of the
    decoding ``knobs`` (temperature, fallback) they were computed with, so curves of another decoding are not
    mistaken for them when the shipped card changes."""
    slug = pattern.replace("/", "_").replace("{fold}", "F").removesuffix(".weights.h5").lstrip("._")
    canvas = "" if working_size is None else f"-canvas{working_size}"
    decoding = "" if knobs is None else f"-T{knobs['temperature']:g}-fallback{knobs['fallback']:g}"
    return out / f"{slug}{canvas}{decoding}-fold{fold}.json"


def fold_colorizer(weights: Path, working_size: int | None) -> Colorizer:
    """The head of ``weights`` on its card's canvas, or on one of ``working_size`` pixels."""
    if working_size is None:
        return Colorizer(weights)
    card = ModelCard.load(card_path(weights))
    card.working_size = working_size
    return Colorizer(weights, card=card, small_canvas=False)


def pattern_curves(pattern: str, args: argparse.Namespace, knobs: dict, working_size: int | None = None) -> dict:
    """The curves of every fold's head of ``pattern`` (on a canvas of ``working_size``, None: its card's) on its
    fold's photos, one after another, with a 'fold' row."""
    joined: dict[str, list] = {}
    for fold in range(args.count):
        manifest, weights = args.folds / f"sets-{fold}.json", Path(pattern.format(fold=fold))
        if not weights.exists():  # not trained yet: the folds there are
            continue
        # The card's own canvas named as such: its curves are those stored without a canvas.
        size = None if working_size == ModelCard.load(card_path(weights)).working_size else working_size
        compute = lambda weights=weights, manifest=manifest, size=size: curves(
            fold_colorizer(weights, size),
            fold_photos(manifest, [args.set, *args.people]),
            knobs,
            SATURATIONS,
            describe=False,
        )  # the head is loaded only when its curves are not stored yet
        rows = cached_curves(curves_file(args.out, pattern, fold, size, knobs), compute, SATURATIONS)
        rows["fold"] = [fold] * len(rows["set"])
        for key, values in rows.items():
            joined.setdefault(key, []).extend(values)
    return as_arrays(joined)


def at_saturation(values: np.ndarray, position) -> np.ndarray:
    """Per photo, ``values`` (photos, saturations) interpolated at a fractional index into their saturations: one
    ``position`` for all, or an array of each photo's own."""
    positions = np.broadcast_to(np.asarray(position, dtype=float), (len(values),))
    low = np.minimum(np.floor(positions).astype(int), values.shape[1] - 2)
    weight = positions - low
    rows = np.arange(len(values))
    return (1 - weight) * values[rows, low] + weight * values[rows, low + 1]


def position_at_bar(data: dict, set_name: str, bar: float) -> float | None:
    """The fractional index into the curves' saturations where the set's photos reach ``bar`` x the truth's
    colorfulness; None if they do not reach it there."""
    held = data["set"] == set_name
    ratio = data["colorfulness"][held].mean(axis=0) / data["truth_colorfulness"][held].mean()
    return float(np.interp(bar, ratio, np.arange(len(ratio)))) if ratio[0] <= bar <= ratio[-1] else None


def report_pattern(pattern: str, data: dict, set_name: str, people: list[str], bar: float) -> np.ndarray | None:
    """Prints one pattern's figures at the saturation where the held-out set reaches the bar; returns each photo's
    PSNR gain there (None if the bar is not reached)."""
    position = position_at_bar(data, set_name, bar) if data else None
    if position is None:
        print(f"{pattern}: {'does not reach ' + str(bar) + 'x' if data else 'no head of any fold yet'}")
        return None
    held = data["set"] == set_name
    saturation = float(np.interp(position, np.arange(len(SATURATIONS)), SATURATIONS))
    gain, auc = at_saturation(data["gain"], position), at_saturation(data["auc_gain"], position)
    folds = " ".join(f"{k}: {gain[held & (data['fold'] == k)].mean():+.2f}" for k in np.unique(data["fold"]))
    print(f"{pattern} (saturation {saturation:.2f} for {bar}x on {set_name}):")
    print(
        f"  {set_name}: {gain[held].mean():+.2f} dB, AuC {auc[held].mean():+.2f}, beats gray {np.mean(gain[held] > 0):.0%}"
        f" ({held.sum()} photos; folds {folds})"
    )
    for name in people:
        mask = data["set"] == name
        colorful = at_saturation(data["colorfulness"], position)[mask].mean() / data["truth_colorfulness"][mask].mean()
        print(f"  {name}: {gain[mask].mean():+.2f} dB, AuC {auc[mask].mean():+.2f}, {colorful:.2f}x (each fold's head)")
    return gain


def report_difference(pattern: str, gain: np.ndarray, first: np.ndarray, data: dict, names: list[str]) -> None:
    """Prints ``pattern``'s PSNR gain at the bar minus the first pattern's, photo by photo: mean, standard error
    over the photos, and per fold for the first set."""
    print("  against the first pattern, photo by photo:")
    for index, name in enumerate(names):
        mask = data["set"] == name
        difference = gain[mask] - first[mask]
        line = f"    {name}: {difference.mean():+.3f} dB +- {difference.std(ddof=1) / np.sqrt(mask.sum()):.3f}"
        if index == 0:
            folds = data["fold"][mask]
            line += " (folds " + " ".join(f"{difference[folds == k].mean():+.2f}" for k in np.unique(folds)) + ")"
        print(line)


def evaluate(args: argparse.Namespace) -> None:
    args.out.mkdir(parents=True, exist_ok=True)
    args.count = len(list(args.folds.glob("sets-*.json")))
    shipped = Colorizer().card
    knobs = {"temperature": shipped.temperature, "fallback": shipped.uncertainty_fallback}
    first = None
    for pattern, size in [(pattern, size) for pattern in args.heads for size in args.working_sizes or [None]]:
        data = pattern_curves(pattern, args, knobs, size)
        label = pattern if size is None else f"{pattern} on a {size}-pixel canvas"
        gain = report_pattern(label, data, args.set, args.people, args.bar)
        if gain is None:
            continue
        photos = (data["fold"].tolist(), data["set"].tolist(), data["truth_colorfulness"].tolist())
        if first is None:
            first = (photos, gain)
        elif photos == first[0]:  # the same folds of the same photos: paired
            report_difference(pattern, gain, first[1], data, [args.set, *args.people])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    make = commands.add_parser("prepare", help="fold manifests and feature caches")
    make.add_argument("--sets", type=Path, required=True, help="the photo-set manifest the cache was built from")
    make.add_argument("--cache", type=Path, required=True, help="its feature cache (shared by hard links)")
    make.add_argument("--out", type=Path, required=True)
    make.add_argument("--folds", type=int, default=5)
    make.add_argument(
        "--fold", type=int, help="prepare this fold only (to train and delete one fold's cache before the next)"
    )
    judge = commands.add_parser("evaluate", help="each fold's head on its held-out photos")
    judge.add_argument("--folds", type=Path, required=True, help="the folder `prepare` wrote")
    judge.add_argument("--heads", nargs="+", required=True, help="head weights paths with {fold} in them")
    judge.add_argument("--out", type=Path, required=True, help="folder for the curves (reused when present)")
    judge.add_argument("--people", nargs="*", default=list(PEOPLE_SETS))
    judge.add_argument("--bar", type=float, default=0.6, help="colorfulness, x the truth's, on the held-out set")
    judge.add_argument(
        "--working-sizes", type=int, nargs="+", help="every head on each of these canvases (pixels), not its card's"
    )
    for command in (make, judge):
        command.add_argument("--set", default="imagenet", help="the set split into folds")
    args = parser.parse_args()
    if args.command == "prepare" and args.fold is not None and not 0 <= args.fold < args.folds:
        parser.error(f"--fold must be in 0..{args.folds - 1}, got {args.fold}")
    prepare(args) if args.command == "prepare" else evaluate(args)


if __name__ == "__main__":
    main()
