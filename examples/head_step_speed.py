"""Times the training step from photos of head variants against the VGG16 default's, in one process.

    python examples/head_step_speed.py base_width=128 output_stride=8 base_width=128,output_stride=8
    python examples/head_step_speed.py --heads runs/my-head/head.weights.h5

Each variant is the default head's card (its backbone, taps, bins and head options) with the
options given changed; the step is the one `hypercol train` runs and `benchmarks/bench_train.py`
times (batch 16 at 224, frozen backbone forward, the head's forward and backward, Adam, in the
machine's precision). The heads are freshly built: only speed is measured here, their quality
needs training and a sweep (docs/measurements/heads.md). The VGG16 default's step, the default
head's and every variant's run in turn, round after round, so all of them see the same load;
medians of the rounds are printed in milliseconds an example, and as the VGG16 step's multiple.
``--heads`` adds the heads that trained weights' cards describe, each on its card's backbone
(for a head on another backbone than the default's).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))


def variant(text: str) -> dict[str, int]:
    """'base_width=128,output_stride=8' -> {'base_width': 128, 'output_stride': 8}."""
    options = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        if not sep or not value.strip().isdigit():
            raise argparse.ArgumentTypeError(f"expected OPTION=INTEGER[,OPTION=INTEGER...], got {item!r}")
        options[name.strip()] = int(value)
    return options


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="*", type=variant, help="head options changed from the default head's")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--steps-per-round", type=int, default=3)
    parser.add_argument("--heads", nargs="*", type=Path, default=[], help="weights whose cards' heads to add")
    args = parser.parse_args()

    import bench_train
    import numpy as np

    rng = np.random.default_rng(0)

    def head_step(changes: dict, weights=bench_train.DEFAULT_WEIGHTS):
        run, head = bench_train.head_photo_step(rng, weights, head_changes=changes)
        return run, head.count_params()

    steps = {"VGG16 default": (bench_train.photo_step(rng, bench_train.EARLIER_DEFAULT), None)}
    steps["default head"] = head_step({})
    for changes in args.variants:
        steps[",".join(f"{k}={v}" for k, v in changes.items())] = head_step(changes)
    for weights in args.heads:
        steps[str(weights)] = head_step({}, weights)
    for run, _ in steps.values():
        run()  # traced outside the timing
    times = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, (run, _) in steps.items():
            start = time.perf_counter()
            for _ in range(args.steps_per_round):
                run()
            times[name].append((time.perf_counter() - start) / args.steps_per_round / bench_train.TRAIN_BATCH * 1000)
    vgg16 = statistics.median(times["VGG16 default"])
    print("| head | ms an example (rounds) | examples/s against the VGG16 default's | parameters |\n|---|---|---|---|")
    for name, (_, parameters) in steps.items():
        median = statistics.median(times[name])
        size = f"{parameters / 1e6:.2f} M" if parameters else ""
        print(
            f"| {name} | {median:.1f} ({min(times[name]):.1f}-{max(times[name]):.1f}) | {vgg16 / median:.2f}x | {size} |"
        )


if __name__ == "__main__":
    main()
