"""Ships an ensemble: the default head and a second head, their chroma averaged (``head="ensemble"``).

    python examples/ship_ensemble.py runs/ens/lite1-w128/head.weights.h5 \
        --member-name efficientnet_lite1_classification --ensemble-name lite2_lite1 \
        --sets data/sets.json --choose-on imagenet people-scenes people-sport \
        --min-colorfulness 0.6 --colorfulness-on imagenet --floor faces-lfw=2.47 --floor faces-celeba=5.72 \
        --stage runs/ens/stage --sweep-file runs/ens/sweep.json --reserved data/reserved \
        --report imagenet people-scenes people-sport scenes-corel faces-lfw

1. The second head's card: its training card with the default head's canvas, temperature and
   uncertainty fallback (each member decodes at its own card's knobs unless the ensemble card sets
   them, at saturation 1; the ensemble's saturation scales their mean). Both members and the
   ensemble card are staged in ``--stage``.
2. The ensemble's saturation (with ``--knees``, its knee too), temperature and uncertainty fallback
   (the last two for every member) are chosen as ``ship_head.py`` chooses a head's knobs, by the
   same rule on the validation split of the ``--choose-on`` sets (and the ``--floor`` sets'
   photos): each member's head output is computed once per photo, then decoded at every setting.
3. Every ``--report`` set and the reserved photos are evaluated with the ensemble and, photo by
   photo, against the default head; the figures go into the ensemble card.
4. The second head (weights and card) and the ensemble card are installed into ``hypercol/weights``
   atomically, unless ``--dry-run``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import tensorflow as tf
from ship_head import (
    HUE_FADES,
    KNEES,
    Rule,
    baseline,
    choose,
    floor_of,
    knee_of,
    photo_sets_of,
    report,
    sweep_row,
    validation_photos,
)
from skimage.color import rgb2lab

from hypercol.core.arrays import as_image_batch, lightness
from hypercol.core.metrics import auc, colorfulness, psnr
from hypercol.evaluation.evaluate import evaluate_images, format_table
from hypercol.inference.colorizer import Colorizer
from hypercol.inference.compose import compose
from hypercol.inference.ensemble import mean_chroma
from hypercol.inference.network import saturated
from hypercol.io.files import write_atomically
from hypercol.models.card import ENSEMBLE_SUFFIX, EnsembleCard, ModelCard, card_path
from hypercol.models.shipped import DEFAULT_WEIGHTS, WEIGHTS_DIR
from hypercol.training.photos import find_images

SATURATIONS = (1.5, 1.75, 2.0, 2.25, 2.5)
TEMPERATURES = (0.38, 0.45, 0.6)
FALLBACKS = (0.25, 0.5, 0.75)
DEFAULT_KNOBS = ("working_size", "temperature", "uncertainty_fallback")


def member_card(weights: Path) -> ModelCard:
    """The second head's training card, decoding at the default head's canvas, temperature and fallback."""
    default = ModelCard.load(card_path(DEFAULT_WEIGHTS))
    card = ModelCard.load(card_path(weights))
    card = replace(card, **{name: getattr(default, name) for name in DEFAULT_KNOBS}, saturation=1.0)
    card.small_canvas_defaults = {}
    card.metrics = {
        "chosen_on": "an ensemble member: the default head's canvas, temperature and uncertainty fallback "
        "(as over the five ImageNet folds, docs/measurements/heads.md); its figures are the ensemble's card's"
    }
    return card


def stage(args: argparse.Namespace, knobs: dict | None = None, metrics: dict | None = None) -> Path:
    """The default head, the second head and the ensemble card (with ``knobs``: its saturation, temperature and
    uncertainty fallback) in ``--stage``: the ensemble card's path."""
    args.stage.mkdir(parents=True, exist_ok=True)
    default_name, member_name = DEFAULT_WEIGHTS.name, f"{args.member_name}.weights.h5"
    for source, name in ((DEFAULT_WEIGHTS, default_name), (args.weights, member_name)):
        shutil.copyfile(source, args.stage / name)
    shutil.copyfile(card_path(DEFAULT_WEIGHTS), card_path(args.stage / default_name))
    card_path(args.stage / member_name).write_text(member_card(args.weights).to_json() + "\n")
    ensemble = EnsembleCard(
        members=[default_name, member_name], description=args.description, metrics=metrics or {}, **(knobs or {})
    )
    path = args.stage / f"{args.ensemble_name}{ENSEMBLE_SUFFIX}"
    path.write_text(ensemble.to_json() + "\n")
    return path


def averaged_chroma(members, outputs, temperature: float, fallback: float, hue_fade: float = 0.0) -> tf.Tensor:
    """The members' stored head outputs decoded at these knobs (before any saturation) and averaged."""
    chromas = []
    for member, (output, small) in zip(members, outputs):
        own_temperature = temperature if member.card.is_classification else None
        temperature_knob, _, fallback_knob = member.knobs(own_temperature, 1.0, fallback)
        chromas.append(member.unsaturated_chroma(output, small, temperature_knob, fallback_knob, hue_fade))
    return mean_chroma(chromas)


def sweep(
    colorizer: Colorizer,
    photos: list[np.ndarray],
    saturations,
    temperatures,
    fallbacks,
    knees=KNEES,
    hue_fades=HUE_FADES,
) -> list[dict]:
    """ship_head's sweep rows, one per (temperature, saturation, fallback, knee, hue fade) for every member: each
    member's head output once per photo, decoded at each setting."""
    network = colorizer.network
    grid = list(itertools.product(temperatures, fallbacks, hue_fades))
    gains = list(itertools.product(saturations, knees))
    scores = np.zeros((len(grid), len(gains), len(photos), 3))
    for index, truth in enumerate(photos):
        truth_ab = rgb2lab(truth)[..., 1:]
        full = lightness(as_image_batch(truth), 0)
        outputs = [member.run(tf.constant(full[np.newaxis])) for member in network.members]
        small = outputs[0][1]
        for knob, (temperature, fallback, hue_fade) in enumerate(grid):
            chroma = averaged_chroma(network.members, outputs, temperature, fallback, hue_fade)
            for setting, (saturation, knee) in enumerate(gains):
                coefficients = network.coefficients(small, saturated(chroma, saturation, knee))[0].numpy()
                predicted = compose(full, coefficients, as_uint8=True)
                predicted_ab = rgb2lab(predicted)[..., 1:]
                scores[knob, setting, index] = (
                    psnr(truth, predicted),
                    auc(truth_ab, predicted_ab),
                    colorfulness(predicted),
                )
        if (index + 1) % 50 == 0:
            print(f"  {index + 1}/{len(photos)} photos", flush=True)
    return [
        sweep_row(colorizer.working_size, temperature, saturation, fallback, score, knee, hue_fade)
        for (temperature, fallback, hue_fade), by_gain in zip(grid, scores)
        for (saturation, knee), score in zip(gains, by_gain)
    ]


def load_or_sweep(path: Path | None, colorizer: Colorizer, sets: Path, names: list[str], knobs: dict) -> tuple:
    """(gray baseline, rows) of ``names``' validation photos: from ``path`` if it exists, else swept (and written)."""
    if path and path.exists():
        return tuple(json.loads(path.read_text()))
    paths, photos = validation_photos(sets, names)
    print(f"sweeping {len(photos)} photos of {', '.join(names)}", flush=True)
    result = baseline(photos, photo_sets_of(sets, names, paths)), sweep(colorizer, photos, **knobs)
    if path:
        write_atomically(path, lambda temporary: temporary.write_text(json.dumps(result)))
    return result


def against_default(ensemble: dict, default: dict) -> dict:
    """The ensemble's PSNR gain over the default head photo by photo: mean and its standard error."""
    gains = np.array(
        [e["model"]["psnr"] - d["model"]["psnr"] for e, d in zip(ensemble["per_image"], default["per_image"])]
    )
    return {"psnr_gain": float(gains.mean()), "standard_error": float(gains.std(ddof=1) / np.sqrt(len(gains)))}


def evaluate(args: argparse.Namespace, colorizer: Colorizer) -> dict:
    """``report`` of every --report set and the reserved photos, with the default head beside it photo by photo
    (without the semantic test)."""
    default = Colorizer(DEFAULT_WEIGHTS, small_canvas=False)
    named = {name: validation_photos(args.sets, [name])[0] for name in args.report}
    if args.reserved:
        named["reserved"] = [Path(p) for p in find_images([args.reserved])]
    evaluations = {}
    for name, paths in named.items():
        mine, theirs = evaluate_images(paths, colorizer), evaluate_images(paths, default, semantic=False)
        evaluations[name] = report(colorizer, name, paths, mine)
        evaluations[name]["against_default"] = against_default(mine, theirs)
        print(f"{name}: against the default head {evaluations[name]['against_default']}")
        print(format_table(theirs))
    return evaluations


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", type=Path, help="the second head's .weights.h5 (its training card beside it)")
    parser.add_argument("--member-name", required=True, help="file name of the second head in hypercol/weights")
    parser.add_argument("--ensemble-name", required=True, help="the ensemble card is NAME.ensemble.json")
    parser.add_argument("--description", default="", help="what the ensemble is, for its card")
    parser.add_argument("--sets", type=Path, required=True, help="photo-set manifest (examples/build_photo_sets.py)")
    parser.add_argument("--choose-on", nargs="+", default=["imagenet"], help="sets whose validation split picks it")
    parser.add_argument("--report", nargs="+", default=["imagenet"], help="sets whose validation split is reported")
    parser.add_argument("--reserved", type=Path, help="folder written by examples/reserved_photos.py")
    parser.add_argument("--min-colorfulness", type=float, default=0.6, help="x the truth's colorfulness")
    parser.add_argument("--colorfulness-on", nargs="+", metavar="SET", help="measure the bar on these sets only")
    parser.add_argument("--floor", type=floor_of, action="append", default=[], metavar="SET=DB")
    parser.add_argument("--saturations", type=float, nargs="+", default=list(SATURATIONS))
    parser.add_argument("--temperatures", type=float, nargs="+", default=list(TEMPERATURES), help="for every member")
    parser.add_argument("--fallbacks", type=float, nargs="+", default=list(FALLBACKS), help="for every member")
    parser.add_argument("--knees", type=knee_of, nargs="+", default=list(KNEES), help="'none': one saturation")
    parser.add_argument("--hue-fades", type=float, nargs="+", default=list(HUE_FADES), help="0: off")
    parser.add_argument("--stage", type=Path, required=True, help="folder for the staged members and card")
    parser.add_argument("--sweep-file", type=Path, help="JSON of the choose-on sweep: read if it exists, else written")
    parser.add_argument("--floor-sweep-file", type=Path, help="the same for the --floor sets")
    parser.add_argument("--dry-run", action="store_true", help="choose and report, install nothing")
    return parser.parse_args()


def chosen_knobs(row: dict) -> dict:
    """A sweep row as the ensemble card's knobs."""
    return {
        "saturation": row["saturation"],
        "saturation_knee": row.get("knee"),
        "temperature": row["temperature"],
        "uncertainty_fallback": row["fallback"],
        "hue_fade": row.get("hue_fade", 0.0),
    }


def main() -> None:
    args = parse_args()
    colorizer = Colorizer(stage(args), small_canvas=False)
    grid = {
        "saturations": args.saturations,
        "temperatures": args.temperatures,
        "fallbacks": args.fallbacks,
        "knees": args.knees,
        "hue_fades": args.hue_fades,
    }
    gray, rows = load_or_sweep(args.sweep_file, colorizer, args.sets, args.choose_on, grid)
    floors = dict(args.floor)
    floor_sweep = load_or_sweep(args.floor_sweep_file, colorizer, args.sets, list(floors), grid) if floors else None
    rule = Rule(args.min_colorfulness, args.colorfulness_on, floors, floor_sweep)
    for row in rows:
        print(
            f"{chosen_knobs(row)}: PSNR {row['psnr']:.3f} (gray {gray['psnr']:.3f}), AuC {row['auc']:.2f}, "
            f"colorfulness {rule.colorfulness(row, gray):.3f} x truth, floors {rule.floor_gains(row)}"
        )
    best = choose(rows, gray, rule)
    choice = rule.describe_choice(best, rows, gray)
    print(f"rule: {choice}\nchosen: {chosen_knobs(best)}")
    colorizer = Colorizer(stage(args, chosen_knobs(best)), small_canvas=False)
    metrics = {
        "chosen_on": f"validation split of {', '.join(args.choose_on)}: {choice}",
        "sweep": [{k: v for k, v in r.items() if "per_image" not in k} for r in rows],
        "numerics": colorizer.precision,
        "validation": evaluate(args, colorizer),
    }
    ensemble_path = stage(args, chosen_knobs(best), metrics)
    if args.dry_run:
        return
    member = f"{args.member_name}.weights.h5"
    for name in (member, card_path(Path(member)).name, ensemble_path.name):
        write_atomically(WEIGHTS_DIR / name, lambda temporary, name=name: shutil.copyfile(args.stage / name, temporary))
        print(WEIGHTS_DIR / name)


if __name__ == "__main__":
    main()
