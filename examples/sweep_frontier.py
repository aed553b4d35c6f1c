"""Compares heads at equal colorfulness, from the knob sweeps `examples/ship_head.py` wrote.

    python examples/sweep_frontier.py runs/long/sweep.json runs/double/sweep.json --at 0.4 0.5 0.6

A colder temperature or a stronger saturation buys colorfulness at the cost of PSNR, so
two heads decoded with the same knobs are not compared fairly when one is fainter. For
each threshold this prints, per sweep, the setting with the best mean PSNR among those at
least that many times as colorful as the truth (the rule ship_head.py chooses by), as
differences from leaving the photos gray. Both sweeps must cover the same photos.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def photos_of(gray: dict, names: list[str]) -> np.ndarray:
    """Mask of a sweep's photos that belong to the named sets (the sweep must name each photo's set)."""
    if not gray.get("photo_sets"):
        msg = "this sweep file does not name each photo's set: sweep again (ship_head.py writes it now)"
        raise SystemExit(msg)
    unknown = set(names) - set(gray["photo_sets"])
    if unknown:
        raise SystemExit(f"the sweep has no photos of {sorted(unknown)}")
    return np.isin(gray["photo_sets"], names)


def colorfulness_fraction(row: dict, gray: dict, sets: list[str] | None = None) -> float:
    """The row's colorfulness as a fraction of the truth's: on every photo, or on those of ``sets``."""
    if sets is None:
        return row["colorfulness"] / gray["truth_colorfulness"]
    mask = photos_of(gray, sets)
    return np.mean(np.array(row["colorfulness_per_image"])[mask]) / np.mean(
        np.array(gray["truth_colorfulness_per_image"])[mask]
    )


def best_at(rows: list[dict], gray: dict, fraction: float, colorfulness_on: list[str] | None = None) -> dict | None:
    """The sweep row with the best mean PSNR among those at least ``fraction`` x as colorful as the truth
    (on the photos of ``colorfulness_on``, or on all), or None."""
    colorful = [r for r in rows if colorfulness_fraction(r, gray, colorfulness_on) >= fraction]
    return max(colorful, key=lambda r: r["psnr"]) if colorful else None


def by_set(row: dict, gray: dict) -> dict[str, tuple[float, float, float]]:
    """Per photo set of the sweep: (PSNR over gray in dB, colorfulness x the truth's, share beating gray)."""
    gains = np.array(row["psnr_per_image"]) - np.array(gray["psnr_per_image"])
    figures = {}
    for name in dict.fromkeys(gray["photo_sets"]):
        mask = photos_of(gray, [name])
        figures[name] = (
            float(gains[mask].mean()),
            colorfulness_fraction(row, gray, [name]),
            float((gains[mask] > 0).mean()),
        )
    return figures


def beats_gray(row: dict, gray: dict) -> float:
    """The share of the sweep's photos on which the row's setting has a higher PSNR than gray."""
    return float(np.mean(np.array(row["psnr_per_image"]) > np.array(gray["psnr_per_image"])))


def describe(row: dict | None, gray: dict) -> str:
    if row is None:
        return "never this colorful"
    beats = beats_gray(row, gray)
    knobs = f"T {row['temperature']} s {row['saturation']} fallback {row['fallback']}"
    if row.get("knee") is not None:
        knobs += f" knee {row['knee']}"
    if row.get("hue_fade"):
        knobs += f" hue fade {row['hue_fade']}"
    return (
        f"{row['psnr'] - gray['psnr']:+.2f} dB, {row['auc'] - gray['auc']:+.2f} AuC, "
        f"beats gray {100 * beats:.0f}% ({knobs})"
    )


def same_photos(grays: list[dict]) -> bool:
    """Whether sweeps' gray figures come from the same photos: the same gray PSNR per photo, up to float
    rounding (the gray baseline's Lab math runs in TensorFlow: 0.002 dB apart between two machines' sweeps)."""
    first = np.asarray(grays[0]["psnr_per_image"])
    return all(
        len(gray["psnr_per_image"]) == len(first) and np.allclose(gray["psnr_per_image"], first, atol=0.01)
        for gray in grays
    )


def knees_apart(paths: list[Path], loaded: list) -> tuple[list[str], list]:
    """Each sweep split in two: its rows without a saturation knee, and those with one."""
    names, split = [], []
    for path, (gray, rows) in zip(paths, loaded):
        for label, keep in (
            ("one saturation", lambda row: row.get("knee") is None),
            ("knee", lambda row: row.get("knee") is not None),
        ):
            names.append(f"{path} ({label})")
            split.append((gray, [row for row in rows if keep(row)]))
    return names, split


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweeps", type=Path, nargs="+", help="sweep files written by ship_head.py --sweep-file")
    parser.add_argument("--at", type=float, nargs="+", default=[0.4, 0.5, 0.6], help="colorfulness x the truth's")
    parser.add_argument(
        "--colorfulness-on", nargs="+", metavar="SET", help="measure the colorfulness bar on these sets' photos only"
    )
    parser.add_argument("--by-set", action="store_true", help="also print each set's figures at each chosen setting")
    parser.add_argument(
        "--knees-apart",
        action="store_true",
        help="each sweep as two columns: its settings with one saturation for all, and those with a saturation knee",
    )
    args = parser.parse_args()
    loaded = [json.loads(path.read_text()) for path in args.sweeps]
    grays = [gray for gray, _ in loaded]
    if not same_photos(grays):
        parser.error("the sweeps were run on different photos; compare sweeps of the same validation photos")
    if args.knees_apart:
        args.sweeps, loaded = knees_apart(args.sweeps, loaded)
    gray = grays[0]
    print(f"{len(gray['psnr_per_image'])} photos; gray PSNR {gray['psnr']:.3f}, AuC {gray['auc']:.3f}")
    where = "" if args.colorfulness_on is None else f" (on {', '.join(args.colorfulness_on)})"
    print(f"| best PSNR with colorfulness{where} >= | " + " | ".join(str(p) for p in args.sweeps) + " |")
    print("|---|" + "---|" * len(args.sweeps))
    chosen = {
        fraction: [best_at(rows, gray, fraction, args.colorfulness_on) for _, rows in loaded] for fraction in args.at
    }
    for fraction, rows in chosen.items():
        print(f"| {fraction} x truth | " + " | ".join(describe(row, gray) for row in rows) + " |")
    if args.by_set:
        for fraction, rows in chosen.items():
            for path, row in zip(args.sweeps, rows):
                if row is not None:
                    sets = "; ".join(
                        f"{name} {gain:+.2f} dB, {colorful:.2f}x, beats gray {100 * beats:.0f}%"
                        for name, (gain, colorful, beats) in by_set(row, gray).items()
                    )
                    print(f"{fraction} x truth, {path}: {sets}")


if __name__ == "__main__":
    main()
