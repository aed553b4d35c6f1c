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


def best_at(rows: list[dict], gray: dict, fraction: float) -> dict | None:
    """The sweep row with the best mean PSNR among those at least ``fraction`` x as colorful as the truth, or None."""
    colorful = [r for r in rows if r["colorfulness"] >= fraction * gray["truth_colorfulness"]]
    return max(colorful, key=lambda r: r["psnr"]) if colorful else None


def beats_gray(row: dict, gray: dict) -> float:
    """The share of the sweep's photos on which the row's setting has a higher PSNR than gray."""
    return float(np.mean(np.array(row["psnr_per_image"]) > np.array(gray["psnr_per_image"])))


def describe(row: dict | None, gray: dict) -> str:
    if row is None:
        return "never this colorful"
    beats = beats_gray(row, gray)
    knobs = f"T {row['temperature']} s {row['saturation']} fallback {row['fallback']}"
    return (
        f"{row['psnr'] - gray['psnr']:+.2f} dB, {row['auc'] - gray['auc']:+.2f} AuC, "
        f"beats gray {100 * beats:.0f}% ({knobs})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweeps", type=Path, nargs="+", help="sweep files written by ship_head.py --sweep-file")
    parser.add_argument("--at", type=float, nargs="+", default=[0.4, 0.5, 0.6], help="colorfulness x the truth's")
    args = parser.parse_args()
    loaded = [json.loads(path.read_text()) for path in args.sweeps]
    grays = [gray for gray, _ in loaded]
    if any(g["psnr_per_image"] != grays[0]["psnr_per_image"] for g in grays):
        parser.error("the sweeps were run on different photos; compare sweeps of the same validation photos")
    gray = grays[0]
    print(f"{len(gray['psnr_per_image'])} photos; gray PSNR {gray['psnr']:.3f}, AuC {gray['auc']:.3f}")
    print("| best PSNR with colorfulness >= | " + " | ".join(str(p) for p in args.sweeps) + " |")
    print("|---|" + "---|" * len(args.sweeps))
    for fraction in args.at:
        cells = [describe(best_at(rows, gray, fraction), gray) for _, rows in loaded]
        print(f"| {fraction} x truth | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
