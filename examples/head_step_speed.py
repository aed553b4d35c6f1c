"""Times the training step from photos of head variants against the VGG16 default's, in one process.

    python examples/head_step_speed.py base_width=128 output_stride=8 base_width=128,output_stride=8

Each variant is the default head's card (its backbone, taps, bins and head options) with the
options given changed; the step is the one `hypercol train` runs and `benchmarks/bench_train.py`
times (batch 16 at 224, frozen backbone forward, the head's forward and backward, Adam, in the
machine's precision). The heads are freshly built: only speed is measured here, their quality
needs training and a sweep (docs/measurements/heads.md). The VGG16 default's step, the default
head's and every variant's run in turn, round after round, so all of them see the same load;
medians of the rounds are printed in milliseconds an example, and as the VGG16 step's multiple.
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
    args = parser.parse_args()

    import bench_train
    import numpy as np
    import tensorflow as tf
    from cases import TRAIN_BATCH, TRAIN_SIZE

    from hypercol.models.backbones import load_backbone
    from hypercol.models.card import ModelCard, card_path
    from hypercol.models.head import build_head
    from hypercol.models.shipped import DEFAULT_WEIGHTS
    from hypercol.training.losses import rebalanced_cross_entropy
    from hypercol.training.photos import forward_from_photos

    rng = np.random.default_rng(0)
    card = ModelCard.load(card_path(DEFAULT_WEIGHTS))
    backbone = load_backbone(card.backbone, taps=card.taps)
    centres = np.asarray(card.bins, np.float32).reshape(-1, 2)
    loss = rebalanced_cross_entropy(centres, np.ones(len(centres), np.float32))
    lightness = tf.constant(rng.uniform(0, 100, (TRAIN_BATCH, TRAIN_SIZE, TRAIN_SIZE)), tf.float32)

    def head_step(changes: dict):
        config = {**card.head_config, **changes}
        head = build_head(backbone.spec.taps, **config)
        step = bench_train._step(forward_from_photos, backbone, head, loss)
        cells = TRAIN_SIZE // config["output_stride"]
        chroma = tf.constant(rng.normal(0, 20, (TRAIN_BATCH, cells, cells, 2)), tf.float32)
        return (lambda: float(step((lightness, chroma)))), head.count_params()

    steps = {"VGG16 default": (bench_train.photo_step(rng, bench_train.EARLIER_DEFAULT), None)}
    steps["default head"] = head_step({})
    for changes in args.variants:
        steps[",".join(f"{k}={v}" for k, v in changes.items())] = head_step(changes)
    for run, _ in steps.values():
        run()  # traced outside the timing
    times = {name: [] for name in steps}
    for _ in range(args.rounds):
        for name, (run, _) in steps.items():
            start = time.perf_counter()
            for _ in range(args.steps_per_round):
                run()
            times[name].append((time.perf_counter() - start) / args.steps_per_round / TRAIN_BATCH * 1000)
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
