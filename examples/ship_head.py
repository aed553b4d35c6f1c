"""Chooses a trained head's defaults on validation photos, evaluates it and installs it as a shipped head.

    python examples/ship_head.py runs/mixed/head.weights.h5 classification \
        --sets data/sets.json --choose-on imagenet --report imagenet people-scenes faces-lfw \
        --reserved data/reserved

1. Defaults (working size, temperature, saturation, uncertainty fallback; with ``--knees`` the
   saturation knee, each photo's own gain; with ``--hue-fades`` the fade where the bins disagree
   on hue) are chosen on the validation split of the
   ``--choose-on`` sets of the photo-set manifest, never on
   the reserved photos: the setting with the best mean PSNR among those whose outputs
   reach ``--min-colorfulness`` x the truth's colorfulness. The network runs once per
   photo and working size; every knob setting is decoded from its output.
   With ``--small-canvas-sizes``, the small canvas (where the backbone is slow: float32, or
   bf16 without AMX) is the smallest of those whose best setting by the same rule is within
   0.2 dB PSNR and 0.3 AuC of the full canvas's choice (issue 11); its saturation is then
   lowered towards the full canvas's until every ``--report`` set is within those bounds.
   Stored as the card's ``small_canvas_defaults``.
2. The chosen defaults are evaluated on the validation split of every ``--report`` set
   and on the reserved photos (model, gray baseline, truth) and written into the card;
   the small canvas beside the full one, per set.
3. The weights and the card are installed into ``hypercol/weights`` atomically.

``--sweep-training-photos`` only runs the knob sweep, on photos the head was trained on
(as many of each ``--choose-on`` set as its validation split holds): set beside the sweep
of the validation photos, it tells whether the head fits its own training photos better.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import shutil
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image
from skimage.color import rgb2lab
from sweep_frontier import beats_gray, colorfulness_fraction, photos_of

from hypercol.core.arrays import as_image_batch, lightness
from hypercol.core.metrics import auc, auc_rgb, colorfulness, hue_error, psnr
from hypercol.evaluation.evaluate import color_truth, evaluate_images, format_table, gray_baseline, validation_split
from hypercol.inference.colorizer import Colorizer
from hypercol.inference.compose import compose
from hypercol.inference.network import saturated
from hypercol.io.files import write_atomically
from hypercol.models.card import ModelCard, card_path, is_ensemble_card
from hypercol.models.shipped import SHIPPED_HEADS
from hypercol.training.photos import find_images
from hypercol.training.sets import PhotoSets, entry_paths

# On the validation photos of 2026-12-01, saturations below 1 and a full fallback (1.0) made
# every head too faint to be chosen; colder temperatures and stronger saturations are where
# the choice is made.
TEMPERATURES = (1.0, 0.6, 0.45, 0.38, 0.3)
SATURATIONS = (1.0, 1.25, 1.5, 1.75, 2.0)
FALLBACKS = (0.0, 0.25, 0.5)
# None: one saturation for every photo; a number: each photo's own gain (the card's saturation_knee).
KNEES = (None,)
# Classification: the exponent of the bins' hue agreement the chroma is scaled by (the card's hue_fade); 0 = off.
HUE_FADES = (0.0,)
# Issue 11: what the small canvas may cost against the full one, on validation photos.
SMALL_CANVAS_PSNR_BOUND, SMALL_CANVAS_AUC_BOUND = 0.2, 0.3
SMALL_CANVAS_SATURATION_STEPS = 5


def validation_photos(sets_manifest: Path, names: list[str]) -> tuple[list[Path], list[np.ndarray]]:
    """The validation split of the named sets without its black-and-white photos: (paths, decoded photos)."""
    return colored_photos(validation_split(sets_manifest, names))


def colored_photos(paths: list[Path]) -> tuple[list[Path], list[np.ndarray]]:
    """(paths, decoded photos) of those of ``paths`` that are not black-and-white (evaluate's own rule)."""
    kept = []
    for path in paths:
        try:
            kept.append((path, color_truth(path)))
        except ValueError:  # black-and-white or nearly
            continue
    return [path for path, _ in kept], [photo for _, photo in kept]


def training_photos(sets_manifest: Path, names: list[str]) -> tuple[list[np.ndarray], list[str]]:
    """As many training photos of each named set as its validation split holds (the first by the sha256 of the file
    name), without the black-and-white ones: does the head fit the photos it was trained on better than new ones?
    (decoded photos, the set of each)"""
    sets = PhotoSets.read(sets_manifest).sets
    owner = {}
    for name in names:
        entry = sets[name]
        by_hash = sorted(entry["train"], key=lambda item: hashlib.sha256(item["file"].encode()).hexdigest())
        owner |= {Path(entry["root"]) / item["file"]: name for item in by_hash[: len(entry["validation"])]}
    paths, photos = colored_photos(list(owner))
    return photos, [owner[path] for path in paths]


def photo_sets_of(sets_manifest: Path, names: list[str], paths: list[Path]) -> list[str]:
    """The set each of ``paths`` (validation photos of the named sets) belongs to."""
    sets = PhotoSets.read(sets_manifest).sets
    owner = {path: name for name in names for path in entry_paths(sets[name], "validation")}
    return [owner[path] for path in paths]


def load_rgb(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def sweep(
    weights: Path,
    card: ModelCard,
    photos: list[np.ndarray],
    working_sizes: list[int],
    temperatures=TEMPERATURES,
    saturations=SATURATIONS,
    fallbacks=FALLBACKS,
    knees=KNEES,
    hue_fades=HUE_FADES,
) -> list[dict]:
    """Mean PSNR, AuC and colorfulness of every (working size, T, s, fallback, knee, hue fade), and the photos'
    gray/truth figures. The chroma is decoded once per (T, fallback, hue fade) before any saturation and then
    :func:`saturated` at each (saturation, knee): what a card with those knobs decodes."""
    rows = []
    classification = card.head_type == "classification"
    decodings = list(
        itertools.product(
            temperatures if classification else (None,),
            fallbacks if classification else (0.0,),
            hue_fades if classification else (0.0,),
        )
    )
    gains = list(itertools.product(saturations, knees))
    card.saturation_knee = None  # the decoding below applies each knee itself
    for size in working_sizes:
        card.working_size = size
        colorizer = Colorizer(weights, card=card, small_canvas=False)
        scores = np.zeros((len(decodings), len(gains), len(photos), 3))
        for index, truth in enumerate(photos):
            truth_ab = rgb2lab(truth)[..., 1:]  # once per photo, not once per setting
            full = lightness(as_image_batch(truth), 0)
            output, small = colorizer.network.run(tf.constant(full[np.newaxis]))
            for decoding, (temperature, fallback, hue_fade) in enumerate(decodings):
                temperature_knob, _, fallback_knob = colorizer.knobs(temperature, 1.0, fallback)
                chroma = colorizer.network.unsaturated_chroma(output, small, temperature_knob, fallback_knob, hue_fade)
                for gain, (saturation, knee) in enumerate(gains):
                    coefficients = colorizer.network.coefficients(small, saturated(chroma, saturation, knee))
                    predicted = compose(full, coefficients[0].numpy(), as_uint8=True)
                    predicted_ab = rgb2lab(predicted)[..., 1:]
                    scores[decoding, gain, index] = (
                        psnr(truth, predicted),
                        auc(truth_ab, predicted_ab),
                        colorfulness(predicted),
                    )
        rows += [
            sweep_row(size, temperature, saturation, fallback, score, knee, hue_fade)
            for (temperature, fallback, hue_fade), by_gain in zip(decodings, scores)
            for (saturation, knee), score in zip(gains, by_gain)
        ]
    return rows


def sweep_row(
    working_size: int,
    temperature,
    saturation: float,
    fallback,
    score: np.ndarray,
    knee: float | None = None,
    hue_fade: float = 0.0,
) -> dict:
    """One setting's row of a sweep: its knobs, mean PSNR, AuC and colorfulness, and the per-photo PSNR and
    colorfulness (``score``: (photos, 3))."""
    mean = score.mean(axis=0)
    return {
        "working_size": working_size,
        "temperature": temperature,
        "saturation": saturation,
        "fallback": fallback,
        "knee": knee,
        "hue_fade": hue_fade,
        "psnr": mean[0],
        "auc": mean[1],
        "colorfulness": mean[2],
        "psnr_per_image": score[:, 0].tolist(),
        "colorfulness_per_image": score[:, 2].tolist(),
    }


def baseline(photos: list[np.ndarray], photo_sets: list[str] | None = None) -> dict:
    """Gray's figures on ``photos`` and the truth's colorfulness; ``photo_sets`` names each photo's set."""
    grays = [gray_baseline(truth) for truth in photos]
    truth_colorfulness = [colorfulness(t) for t in photos]
    return {
        "photo_sets": photo_sets,
        "truth_colorfulness_per_image": truth_colorfulness,
        "psnr": float(np.mean([psnr(t, g) for t, g in zip(photos, grays)])),
        "auc": float(np.mean([auc_rgb(t, g) for t, g in zip(photos, grays)])),
        "truth_colorfulness": float(np.mean(truth_colorfulness)),
        "psnr_per_image": [psnr(t, g) for t, g in zip(photos, grays)],
    }


@dataclass
class Rule:
    """Which knob setting ships: the best mean PSNR on the choose-on photos among the settings that are
    colorful enough and keep every floor.

    ``colorfulness_on``: the sets whose photos must reach ``min_colorfulness`` x their truth's
    colorfulness (None: all the choose-on photos together). ``floors``: set -> dB over gray
    that the setting must keep on that set's photos, read from ``floor_sweep`` (a sweep of
    those sets' validation photos, written by another run with ``--choose-on`` them).
    """

    min_colorfulness: float
    colorfulness_on: list[str] | None = None
    floors: dict[str, float] = field(default_factory=dict)
    floor_sweep: tuple[dict, list[dict]] | None = None

    def colorfulness(self, row: dict, gray: dict) -> float:
        """The row's colorfulness as a fraction of the truth's, on the photos the rule measures it on."""
        return colorfulness_fraction(row, gray, self.colorfulness_on)

    def floor_gains(self, row: dict) -> dict[str, float]:
        """dB over gray on each floor set with the row's knobs."""
        if not self.floors:
            return {}
        floor_gray, floor_rows = self.floor_sweep
        same = next(r for r in floor_rows if _knobs(r) == _knobs(row))
        gains = np.array(same["psnr_per_image"]) - np.array(floor_gray["psnr_per_image"])
        return {name: float(gains[photos_of(floor_gray, [name])].mean()) for name in self.floors}

    def keeps_floors(self, row: dict) -> bool:
        return all(gain >= self.floors[name] for name, gain in self.floor_gains(row).items())

    def best(self, rows: list[dict], gray: dict) -> dict | None:
        """The row the rule ships, or None when no row is colorful enough and keeps the floors."""
        allowed = [r for r in rows if self.colorfulness(r, gray) >= self.min_colorfulness and self.keeps_floors(r)]
        return max(allowed, key=lambda r: r["psnr"]) if allowed else None

    def describe(self) -> str:
        where = "the choose-on photos" if self.colorfulness_on is None else ", ".join(self.colorfulness_on)
        text = f"best PSNR with colorfulness >= {self.min_colorfulness} x truth on {where}"
        floors = ", ".join(f"{name} >= gray {gain:+.2f} dB" for name, gain in self.floors.items())
        return text + (f", keeping {floors}" if floors else "")

    def describe_choice(self, chosen: dict, rows: list[dict], gray: dict) -> str:
        """:meth:`describe`, and when no row passed, that :func:`choose` fell back and how colorful its row is."""
        if self.best(rows, gray) is not None:
            return self.describe()
        which = (
            "the most colorful that keeps the floors"
            if self.floors and self.keeps_floors(chosen)
            else "the most colorful"
        )
        return f"{self.describe()}; no setting passed, so {which} ({self.colorfulness(chosen, gray):.3f} x truth)"


def _knobs(row: dict) -> tuple:
    knobs = row["working_size"], row["temperature"], row["saturation"], row["fallback"]
    return (*knobs, row.get("knee"), row.get("hue_fade", 0.0))


def choose(rows: list[dict], gray: dict, rule: Rule) -> dict:
    """The rule's row; when none passes, the most colorful that keeps the floors (or the most colorful)."""
    keeping = [r for r in rows if rule.keeps_floors(r)] or rows
    return rule.best(rows, gray) or max(keeping, key=lambda r: rule.colorfulness(r, gray))


def within_bounds(psnr_drop: float, auc_drop: float) -> bool:
    """Whether the small canvas's loss against the full one is within the issue-11 bounds."""
    return psnr_drop <= SMALL_CANVAS_PSNR_BOUND and auc_drop <= SMALL_CANVAS_AUC_BOUND


def choose_small_canvas(rows: list[dict], gray: dict, rule: Rule, chosen: dict, sizes: list[int]) -> dict | None:
    """The small canvas's setting: on the smallest of ``sizes`` whose best row by :func:`choose`'s rule is within
    the issue-11 bounds of ``chosen``; None when no canvas is."""
    for size in sorted(sizes):
        best = rule.best([r for r in rows if r["working_size"] == size], gray)
        if best is not None:
            psnr_drop, auc_drop = chosen["psnr"] - best["psnr"], chosen["auc"] - best["auc"]
            print(f"canvas {size}: {psnr_drop:+.3f} dB, {auc_drop:+.3f} AuC below the full canvas")
            if within_bounds(psnr_drop, auc_drop):
                return best
    return None


def defaults_of(row: dict) -> dict:
    """A sweep row as card fields (the temperature, fallback and hue fade only for classification heads)."""
    fields = {"working_size": row["working_size"], "saturation": row["saturation"], "saturation_knee": row.get("knee")}
    if row["temperature"] is not None:
        fields.update(
            temperature=row["temperature"], uncertainty_fallback=row["fallback"], hue_fade=row.get("hue_fade", 0.0)
        )
    return fields


FACE_CENTRE = 0.4  # the centre 40% of a face crop is face: skin, eyes, mouth


def face_colors(colorizer: Colorizer, paths: list[Path]) -> dict:
    """Mean :func:`hypercol.core.metrics.hue_error` over the centre of face crops, for the model and for gray."""
    sides = {"model": [], "gray": []}
    for path in paths:
        truth = load_rgb(path)
        side = round(min(truth.shape[:2]) * FACE_CENTRE)
        top, left = (truth.shape[0] - side) // 2, (truth.shape[1] - side) // 2
        window = (slice(top, top + side), slice(left, left + side))
        for name, predicted in (("model", colorizer.colorize(truth)), ("gray", gray_baseline(truth))):
            sides[name].append(hue_error(truth[window], predicted[window]))
    return {name: {key: float(np.nanmean([r[key] for r in rows])) for key in rows[0]} for name, rows in sides.items()}


def report(colorizer: Colorizer, name: str, paths: list[Path], result: dict | None = None) -> dict:
    """The card's summary of ``colorizer`` on ``paths`` (printed): ``result`` of ``evaluate_images`` if the caller has it."""
    result = result or evaluate_images(paths, colorizer)
    beats = np.mean([row["model"]["psnr"] > row["gray"]["psnr"] for row in result["per_image"]])
    print(f"\n{name}: {len(paths)} photos, model beats gray on PSNR for {100 * beats:.0f}%\n{format_table(result)}")
    summary = {"photos": len(paths), "mean": result["mean"], "beats_gray_psnr_fraction": float(beats)}
    if result["semantic"]:
        summary["semantic"] = result["semantic"]
    if name.startswith("faces"):
        summary["face_colors"] = face_colors(colorizer, paths)
        print(f"face centre colors: {summary['face_colors']}")
    return summary


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("weights", type=Path)
    parser.add_argument("head", choices=sorted(h for h, path in SHIPPED_HEADS.items() if not is_ensemble_card(path)))
    parser.add_argument("--sets", type=Path, required=True, help="photo-set manifest (examples/build_photo_sets.py)")
    parser.add_argument(
        "--choose-on", nargs="+", default=["imagenet"], help="sets whose validation split picks the defaults"
    )
    parser.add_argument("--report", nargs="+", default=["imagenet"], help="sets whose validation split is reported")
    parser.add_argument("--reserved", type=Path, help="folder written by examples/reserved_photos.py")
    parser.add_argument("--min-colorfulness", type=float, default=0.5, help="x the truth's colorfulness")
    parser.add_argument("--working-sizes", type=int, nargs="+", default=[224], help="working sizes to try")
    parser.add_argument(
        "--small-canvas-sizes",
        type=int,
        nargs="*",
        default=[],
        help="smaller canvases to try where the backbone is slow",
    )
    parser.add_argument(
        "--temperatures", type=float, nargs="+", default=list(TEMPERATURES), help="classification temperatures to try"
    )
    parser.add_argument("--saturations", type=float, nargs="+", default=list(SATURATIONS), help="saturations to try")
    parser.add_argument(
        "--fallbacks", type=float, nargs="+", default=list(FALLBACKS), help="classification fallbacks to try"
    )
    parser.add_argument(
        "--knees",
        type=knee_of,
        nargs="+",
        default=list(KNEES),
        help="saturation knees to try ('none': one saturation for every photo)",
    )
    parser.add_argument(
        "--hue-fades",
        type=float,
        nargs="+",
        default=list(HUE_FADES),
        help="classification: exponents of the bins' hue agreement to try (0: off)",
    )
    parser.add_argument("--dry-run", action="store_true", help="choose and report, install nothing")
    parser.add_argument(
        "--sweep-training-photos",
        action="store_true",
        help="only sweep the knobs on training photos of the --choose-on sets (as many as their validation splits)",
    )
    parser.add_argument(
        "--sweep-file", type=Path, help="JSON of the sweep: read if it exists (same head and photos), else written"
    )
    parser.add_argument("--compare", type=Path, nargs="*", default=[], help="other heads to report the same way")
    parser.add_argument(
        "--colorfulness-on",
        nargs="+",
        metavar="SET",
        help="measure the colorfulness bar on these choose-on sets only (default: all the choose-on photos)",
    )
    parser.add_argument(
        "--floor",
        type=floor_of,
        action="append",
        default=[],
        metavar="SET=DB",
        help="keep at least DB over gray on SET's validation photos (from --floor-sweep), e.g. faces-lfw=2.47",
    )
    parser.add_argument("--floor-sweep", type=Path, help="sweep file of the --floor sets (another run's --sweep-file)")
    args = parser.parse_args()
    if args.floor and not (args.floor_sweep and args.floor_sweep.exists()):
        parser.error("--floor needs --floor-sweep: a sweep file of those sets' validation photos")
    return args


def floor_of(text: str) -> tuple[str, float]:
    """``SET=DB`` of ``--floor`` as (set, dB)."""
    name, _, value = text.partition("=")
    try:
        return name, float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected SET=DB, got {text!r}") from None


def knee_of(text: str) -> float | None:
    """A ``--knees`` value: 'none' or a number > 0."""
    if text.lower() == "none":
        return None
    try:
        knee = float(text)
    except ValueError:
        knee = 0.0
    if not (np.isfinite(knee) and knee > 0):
        raise argparse.ArgumentTypeError(f"expected 'none' or a number > 0, got {text!r}")
    return knee


def rule_of(args: argparse.Namespace) -> Rule:
    floor_sweep = json.loads(args.floor_sweep.read_text()) if args.floor else None
    return Rule(args.min_colorfulness, args.colorfulness_on, dict(args.floor), floor_sweep)


def load_or_sweep(
    args: argparse.Namespace, card: ModelCard, photos: list[np.ndarray], photo_sets: list[str] | None = None
) -> tuple[dict, list[dict]]:
    """(gray baseline, sweep rows) over every working size asked for: from ``--sweep-file`` if it exists."""
    if args.sweep_file and args.sweep_file.exists():
        gray, rows = json.loads(args.sweep_file.read_text())
    else:
        sizes = sorted({*args.working_sizes, *args.small_canvas_sizes}, reverse=True)
        grid = {
            "saturations": args.saturations,
            "fallbacks": args.fallbacks,
            "knees": args.knees,
            "hue_fades": args.hue_fades,
        }
        gray, rows = baseline(photos, photo_sets), sweep(args.weights, card, photos, sizes, args.temperatures, **grid)
        if args.sweep_file:
            write_atomically(args.sweep_file, lambda temporary: temporary.write_text(json.dumps([gray, rows])))
    for row in sorted(rows, key=lambda r: -r["colorfulness"]):
        beats = beats_gray(row, gray)
        shown = {k: (round(float(v), 3) if isinstance(v, float) else v) for k, v in row.items() if "per_image" not in k}
        print(shown, f"beats gray on {100 * beats:.0f}%")
    return gray, rows


def small_canvas_saturations(row: dict, chosen: dict) -> list[float]:
    """Saturations to try on the small canvas: from the sweep's pick down to the full canvas's, most colorful first."""
    low = min(row["saturation"], chosen["saturation"])
    return sorted(
        {round(float(s), 4) for s in np.linspace(row["saturation"], low, SMALL_CANVAS_SATURATION_STEPS)}, reverse=True
    )


def evaluate_small_canvas(args, card: ModelCard, full: dict, defaults: dict) -> dict:
    """The small canvas with ``defaults`` on every ``--report`` set, and how far below the full canvas it is."""
    colorizer = Colorizer(args.weights, card=replace(card, **defaults), small_canvas=False)
    validation = {}
    for name in args.report:
        print(f"\n--- small canvas {defaults}")
        fast = report(colorizer, name, validation_photos(args.sets, [name])[0])
        model, reduced = full[name]["mean"]["model"], fast["mean"]["model"]
        validation[name] = {
            **fast,
            "psnr_drop": model["psnr"] - reduced["psnr"],
            "auc_drop": model["auc"] - reduced["auc"],
        }
        print(f"{name}: {validation[name]['psnr_drop']:+.3f} dB, {validation[name]['auc_drop']:+.3f} AuC below")
    return {"numerics": colorizer.precision, "validation": validation}


def settle_small_canvas(args, card: ModelCard, full: dict, row: dict, chosen: dict) -> tuple[dict, dict] | None:
    """(small_canvas_defaults, their metrics): the most colorful saturation on ``row``'s canvas that stays within the
    issue-11 bounds of the full canvas on every ``--report`` set; None when none does."""
    tried = []
    for saturation in small_canvas_saturations(row, chosen):
        defaults = {**defaults_of(row), "saturation": saturation}
        measured = evaluate_small_canvas(args, card, full, defaults)
        drops = measured["validation"].values()
        tried.append(
            {
                "saturation": saturation,
                **{n: (v["psnr_drop"], v["auc_drop"]) for n, v in measured["validation"].items()},
            }
        )
        if all(within_bounds(v["psnr_drop"], v["auc_drop"]) for v in drops):
            return defaults, {
                "chosen_on": f"canvas: the smallest of {sorted(args.small_canvas_sizes)} whose best setting by the "
                f"same rule on the same photos is within {SMALL_CANVAS_PSNR_BOUND} dB / {SMALL_CANVAS_AUC_BOUND} AuC of the "
                "full canvas's; saturation: the highest from that setting's down to the full canvas's that stays "
                "within those bounds on every reported validation set",
                "sweep_choice": {k: v for k, v in row.items() if k != "psnr_per_image"},
                "tried": tried,
                **measured,
            }
    return None


def main() -> None:
    args = parse_args()
    card = ModelCard.load(card_path(args.weights))
    card.small_canvas_defaults = {}
    if args.sweep_training_photos:
        load_or_sweep(args, card, *training_photos(args.sets, args.choose_on))
        return
    paths, photos = validation_photos(args.sets, args.choose_on)
    gray, rows = load_or_sweep(args, card, photos, photo_sets_of(args.sets, args.choose_on, paths))
    rule = rule_of(args)
    candidates = [r for r in rows if r["working_size"] in args.working_sizes]
    best = choose(candidates, gray, rule)
    choice = rule.describe_choice(best, candidates, gray)
    print(f"gray: PSNR {gray['psnr']:.3f} AuC {gray['auc']:.3f}; truth colorfulness {gray['truth_colorfulness']:.2f}")
    print(f"rule: {choice}")
    print(f"chosen: { ({k: v for k, v in best.items() if 'per_image' not in k}) }")
    print(f"colorfulness {rule.colorfulness(best, gray):.3f} x truth; floors {rule.floor_gains(best)}")
    for name, value in defaults_of(best).items():
        setattr(card, name, value)
    small_row = choose_small_canvas(rows, gray, rule, best, args.small_canvas_sizes)
    colorizer = Colorizer(args.weights, card=card, small_canvas=False)
    evaluations = {name: report(colorizer, name, validation_photos(args.sets, [name])[0]) for name in args.report}
    if args.reserved:
        evaluations["reserved"] = report(colorizer, "reserved", [Path(p) for p in find_images([args.reserved])])
    for other in args.compare:
        print(f"\n--- for comparison: {other}")
        for name in [*args.report, *(["reserved"] if args.reserved else [])]:
            paths = find_images([args.reserved]) if name == "reserved" else validation_photos(args.sets, [name])[0]
            report(Colorizer(other, small_canvas=False), name, [Path(p) for p in paths])
    card.metrics = {
        "chosen_on": f"validation split of {', '.join(args.choose_on)} ({len(photos)} photos): {choice}",
        "sweep": [{k: v for k, v in r.items() if "per_image" not in k} for r in rows],
        "validation": evaluations,
    }
    settled = small_row and settle_small_canvas(args, card, evaluations, small_row, best)
    if settled:
        card.small_canvas_defaults, card.metrics["small_canvas"] = settled
        print(f"small canvas: {card.small_canvas_defaults}")
    if args.dry_run:
        return
    target = SHIPPED_HEADS[args.head]
    write_atomically(target, lambda temporary: shutil.copyfile(args.weights, temporary))
    write_atomically(card_path(target), lambda temporary: temporary.write_text(card.to_json() + "\n"))
    print(target, card_path(target), sep="\n")


if __name__ == "__main__":
    main()
