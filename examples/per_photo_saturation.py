"""One saturation per photo instead of one for all: what it could give (the oracle) and what a learned guess gives.

    python examples/per_photo_saturation.py --sets data/sets.json --out runs/per-photo-saturation
    python examples/per_photo_saturation.py --sets data/sets.json --out runs/per-photo-saturation \\
        --held-out-head runs/lite2-w128-even/head.weights.h5

The default head colors every photo with one saturation, chosen so that the ImageNet
validation photos reach 0.6x the truth's colorfulness. Some photos would be better gray
(a mug of unknown color), others more colorful (a meadow). Each validation photo of
``--validation`` is colorized at each saturation of ``SATURATIONS`` (the card's temperature
and uncertainty fallback): its PSNR over gray and its colorfulness, a curve per photo.

- **One for all**: the best single saturation whose outputs reach the bar.
- **Oracle**: each photo's own saturation, chosen knowing the truth, the best mean PSNR whose
  outputs together reach the bar (a Lagrange multiplier on colorfulness over the photos). An
  upper bound, not a method.
- **Learned**: a ridge regression from what the photo shows (the unit mean of the backbone's
  deepest tap, as in ``retrieved_reference.py``) to its PSNR curve, then each photo's
  saturation by the predicted curve under the same multiplier. Fitted leave-one-out on the
  validation photos themselves, and with ``--held-out-head`` on training photos that head
  never saw: it was trained with ``--every-nth-photo 2``, so every second photo the cache
  kept (readable and colorful) is held out; the head itself colors them.

Printed for each ``--report`` set: mean PSNR over gray, colorfulness (x the truth's) and the
share of photos beating gray, each choice at the bar on the ``--validation`` set named first.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from retrieved_reference import global_descriptor
from ship_head import colored_photos, validation_photos
from sklearn.linear_model import Ridge
from sklearn.model_selection import LeaveOneOut, cross_val_predict

from hypercol.core.metrics import colorfulness, evaluate_pair
from hypercol.evaluation.evaluate import gray_baseline
from hypercol.inference.colorizer import Colorizer
from hypercol.io.files import write_atomically
from hypercol.training.photos import ExampleReader
from hypercol.training.sets import PhotoSets

SATURATIONS = (0.0, 0.5, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0)
MULTIPLIERS = np.linspace(0.0, 0.3, 121)  # weights of colorfulness against PSNR, swept to meet the bar
RIDGE = 10.0  # the ridge regression's alpha
# The training sets a held-out head colors (the faces are not in the ImageNet question).
HELD_OUT_SETS = (
    "imagenet",
    "people-scenes",
    "people-sport",
    "scenes-corel",
    "scenes-osie",
    "scenes-bsds",
    "scenes-urban",
    "coco",
    "debian",
)


def curves(colorizer: Colorizer, named_photos, knobs: dict, saturations=SATURATIONS, describe: bool = True) -> dict:
    """Per photo: its set, the PSNR and AuC over gray and the colorfulness at each saturation, the truth's
    colorfulness and (``describe``) the descriptor."""
    rows = {"set": [], "gain": [], "auc_gain": [], "colorfulness": [], "truth_colorfulness": []}
    rows |= {"descriptor": []} if describe else {}
    for set_name, truth in named_photos:
        gray = evaluate_pair(truth, gray_baseline(truth))
        scores = [evaluate_pair(truth, colorizer.colorize(truth, saturation=s, **knobs)) for s in saturations]
        rows["set"].append(set_name)
        rows["gain"].append([score["psnr"] - gray["psnr"] for score in scores])
        rows["auc_gain"].append([score["auc"] - gray["auc"] for score in scores])
        rows["colorfulness"].append([score["colorfulness"] for score in scores])
        rows["truth_colorfulness"].append(colorfulness(truth))
        if describe:
            rows["descriptor"].append(global_descriptor(colorizer, truth).tolist())
    return rows


def cached_curves(path: Path, compute, saturations=None) -> dict:
    """The curves stored at ``path``, or computed and stored there (atomically). With ``saturations``, their grid is
    stored beside them, and stored curves of another grid are refused (SystemExit)."""
    if path.exists():
        rows = json.loads(path.read_text())
    else:
        rows = compute() | ({"saturations": list(saturations)} if saturations is not None else {})
        text = json.dumps(rows)
        write_atomically(path, lambda temporary: temporary.write_text(text))
    if saturations is not None and rows.pop("saturations", list(saturations)) != list(saturations):
        msg = f"{path.parent} holds curves at other saturations than {tuple(saturations)}: choose another --out"
        raise SystemExit(msg)
    return rows


def as_arrays(rows: dict) -> dict:
    return {key: np.asarray(value) for key, value in rows.items()}


def multiplier_at_bar(scores, colorful, truth_colorful, bar: float, multipliers=MULTIPLIERS) -> float | None:
    """The smallest of the swept ``multipliers`` m for which each photo's saturation maximising ``scores`` + m x
    colorfulness gives outputs reaching ``bar`` x the truth's mean colorfulness; None if none does."""
    for multiplier in multipliers:
        chosen = np.argmax(scores + multiplier * colorful, axis=1)
        if colorful[np.arange(len(chosen)), chosen].mean() >= bar * truth_colorful.mean():
            return float(multiplier)
    return None


def one_for_all(gain, colorful, truth_colorful, bar: float) -> int | None:
    """The saturation index of the best mean PSNR among those whose outputs reach the bar; None if none does."""
    reaching = colorful.mean(axis=0) >= bar * truth_colorful.mean()
    return int(np.argmax(np.where(reaching, gain.mean(axis=0), -np.inf))) if reaching.any() else None


def choose_per_photo(scores, data: dict, first, bar: float, multipliers=MULTIPLIERS) -> np.ndarray | None:
    """Each photo's saturation index maximising ``scores`` + m x colorfulness, with the m of ``multiplier_at_bar`` on
    the photos ``first`` (a mask); None if no swept m reaches the bar."""
    colorful, truth_colorful = data["colorfulness"], data["truth_colorfulness"]
    multiplier = multiplier_at_bar(scores[first], colorful[first], truth_colorful[first], bar, multipliers)
    return None if multiplier is None else np.argmax(scores + multiplier * colorful, axis=1)


def held_out_photos(sets_manifest: Path, names: list[str], every_nth: int = 2) -> list[tuple[str, np.ndarray]]:
    """(set, photo) of the training photos a head trained with ``--every-nth-photo`` never saw: of the photos the
    cache kept (readable and colorful, in the listed order), all but every ``every_nth``-th."""
    sets, held = PhotoSets.read(sets_manifest), []
    for name in names:
        paths = [str(path) for path in sets.paths([name], "train")]
        reader = ExampleReader(paths, 224)
        kept = [path for path in paths if reader.open_usable(path) is not None]
        _, photos = colored_photos([Path(path) for index, path in enumerate(kept) if index % every_nth])
        held += [(name, photo) for photo in photos]
    return held


def report(name: str, chosen: np.ndarray | None, data: dict, sets: list[str]) -> None:
    if chosen is None:
        print(f"{name:22s} does not reach the bar")
        return
    picked = lambda key: data[key][np.arange(len(chosen)), chosen]
    parts = []
    for set_name in sets:
        mask = data["set"] == set_name
        ratio = picked("colorfulness")[mask].mean() / data["truth_colorfulness"][mask].mean()
        gain = picked("gain")[mask]
        parts.append(f"{set_name} {gain.mean():+.2f} dB {ratio:.2f}x {np.mean(gain > 0):.0%}")
    print(f"{name:22s} " + " | ".join(parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", type=Path, required=True, help="photo-set manifest")
    parser.add_argument(
        "--out", type=Path, required=True, help="folder for the curves (reused when present: one file per list of sets)"
    )
    parser.add_argument("--validation", nargs="+", default=["imagenet", "people-scenes", "people-sport"])
    parser.add_argument("--bar", type=float, default=0.6, help="colorfulness, x the truth's, on the first set")
    parser.add_argument("--held-out-head", type=Path, help="a head trained with --every-nth-photo 2")
    parser.add_argument("--held-out-sets", nargs="+", default=list(HELD_OUT_SETS))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    colorizer = Colorizer()
    knobs = {"temperature": colorizer.card.temperature, "fallback": colorizer.card.uncertainty_fallback}

    def validation():
        named = [(name, photo) for name in args.validation for photo in validation_photos(args.sets, [name])[1]]
        return curves(colorizer, named, knobs)

    data = as_arrays(cached_curves(args.out / f"validation-{'-'.join(args.validation)}.json", validation))
    first = data["set"] == args.validation[0]
    per_photo = lambda scores: choose_per_photo(scores, data, first, args.bar)
    single = one_for_all(data["gain"][first], data["colorfulness"][first], data["truth_colorfulness"][first], args.bar)
    report("one for all", None if single is None else np.full(len(data["gain"]), single), data, args.validation)
    report("oracle", per_photo(data["gain"]), data, args.validation)
    leave_one_out = cross_val_predict(Ridge(RIDGE), data["descriptor"], data["gain"], cv=LeaveOneOut())
    report("learned, leave-one-out", per_photo(leave_one_out), data, args.validation)
    if args.held_out_head:
        head = Colorizer(args.held_out_head)
        compute = lambda: curves(head, held_out_photos(args.sets, args.held_out_sets), knobs)
        held = as_arrays(cached_curves(args.out / f"held-out-{'-'.join(args.held_out_sets)}.json", compute))
        print(f"(fitted on {len(held['gain'])} held-out training photos)")
        predicted = Ridge(RIDGE).fit(held["descriptor"], held["gain"]).predict(data["descriptor"])
        report("learned, held out", per_photo(predicted), data, args.validation)


if __name__ == "__main__":
    main()
