"""Measurements that need a fresh process; run by bench_subprocess.py (one mode a call), prints one JSON line.

python benchmarks/child.py memory WEIGHTS SIZE
    peak resident memory of colorizing one SIZE x SIZE uint8 image, with the baselines
    after import, after loading the model and after a warm-up call. Read from VmHWM in
    /proc/self/status, which starts afresh at exec: ru_maxrss does not (Linux carries
    the forking parent's high-water mark into it, 9 GB after the peer benchmarks).
python benchmarks/child.py float32 WEIGHTS SIZE:BATCH:REPEATS ...
    colorize timings with HYPERCOL_PRECISION=float32 (the bf16 rewrite is
    process-global, so hypercol in float32 needs its own process).
python benchmarks/child.py vs_vgg16 WEIGHTS ROUNDS
    colorize of 16 uint8 256x256 images and a plain float32 Keras VGG16 forward
    of the same batch (eager: no graph rewrite reaches it), alternating round by round.
    The parent chooses the precision (HYPERCOL_PRECISION) and may cap oneDNN's
    instruction set (ONEDNN_MAX_CPU_ISA=AVX2) to stand in for a CPU without AVX-512.
python benchmarks/child.py train ROUNDS
    bench_train.py's two training steps (from photos, from the feature cache)
    with HYPERCOL_PRECISION=float32, alternating round by round.
"""

import json
import os
import re
import resource
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def _maxrss_mib() -> float:
    """Peak resident set size of this process since exec, MiB."""
    status = Path("/proc/self/status")
    if status.exists():
        match = re.search(r"^VmHWM:\s+(\d+) kB", status.read_text(), re.MULTILINE)
        if match:
            return int(match.group(1)) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux; see above


def memory(weights: str, size: int) -> dict:
    import numpy as np

    import hypercol
    from hypercol.inference.colorizer import Colorizer

    result = {"size": size, "after_import_mib": _maxrss_mib()}
    colorizer = Colorizer(weights)
    result["after_load_mib"] = _maxrss_mib()
    colorizer.colorize(np.zeros((256, 256), np.uint8))
    result["after_warmup_mib"] = _maxrss_mib()
    ramp = (np.linspace(0, 255, size) // 2).astype(np.uint8)
    image = ramp[:, None] + ramp[None, :]  # uint8 throughout: no large temporaries
    result["after_input_mib"] = _maxrss_mib()
    start = time.perf_counter()
    output = colorizer.colorize(image)
    result["seconds"] = time.perf_counter() - start
    result["peak_mib"] = _maxrss_mib()
    result["input_mib"] = image.nbytes / 2**20
    result["output_mib"] = output.nbytes / 2**20
    result["precision"] = colorizer.precision
    result["hypercol"] = hypercol.__version__
    return result


def float32(weights: str, specs: list[str]) -> dict:
    os.environ["HYPERCOL_PRECISION"] = "float32"
    import numpy as np

    from hypercol.inference.colorizer import Colorizer

    colorizer = Colorizer(weights)
    assert colorizer.precision == "float32", colorizer.precision
    rng = np.random.default_rng(0)
    timings = []
    for spec in specs:
        size, batch, repeats = (int(part) for part in spec.split(":"))
        ramp = np.linspace(0, 255, size, dtype=np.float32)
        base = (ramp[:, None] + ramp[None, :]) / 2
        shape = (size, size) if batch == 1 else (batch, size, size)
        images = np.clip(base + rng.normal(0, 30, shape), 0, 255).astype(np.uint8)
        colorizer.colorize(images)  # warm-up
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            colorizer.colorize(images)
            seconds.append(time.perf_counter() - start)
        timings.append({"size": size, "batch": batch, "seconds": seconds})
    return {
        "precision": colorizer.precision,
        "path": colorizer.description,
        "timings": timings,
        "peak_mib": _maxrss_mib(),
    }


def _alternate(sides: dict, rounds: int) -> dict[str, list[float]]:
    """Seconds of each named call over ``rounds`` rounds, the calls taking turns within a round.

    Round 0 warms up (tracing, oneDNN primitives) and is not timed.
    """
    timings = {name: [] for name in sides}
    for round_ in range(rounds + 1):
        for name, call in sides.items():
            start = time.perf_counter()
            call()
            if round_:
                timings[name].append(time.perf_counter() - start)
    return timings


def vs_vgg16(weights: str, rounds: int) -> dict:
    import keras
    import tensorflow as tf
    from cases import VGG16_BATCH
    from harness import gray_images

    from hypercol.inference.colorizer import Colorizer

    colorizer = Colorizer(weights)
    vgg16 = keras.applications.VGG16(weights=None, include_top=False)
    batch, size = VGG16_BATCH
    images = gray_images(batch, size)
    pixels = tf.constant(images[..., None].repeat(3, axis=-1), tf.float32)
    sides = {
        "reference_s": lambda: vgg16(pixels, training=False).numpy(),
        "colorize_s": lambda: colorizer.colorize(images),
    }
    timings = _alternate(sides, rounds)
    return {
        "path": colorizer.description,
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", ""),
        "size": size,
        "batch": batch,
        **timings,
        "peak_mib": _maxrss_mib(),
    }


def train(rounds: int) -> dict:
    os.environ["HYPERCOL_PRECISION"] = "float32"
    import numpy as np
    from bench_train import cached_step, photo_step
    from cases import TRAIN_BATCH, TRAIN_SIZE

    rng = np.random.default_rng(0)
    sides = {"online_s": photo_step(rng), "cached_s": cached_step(rng)}
    timings = _alternate(sides, rounds)
    from hypercol.core.precision import active_precision

    return {
        "precision": active_precision(),
        "onednn_max_cpu_isa": os.environ.get("ONEDNN_MAX_CPU_ISA", ""),
        "size": TRAIN_SIZE,
        "batch": TRAIN_BATCH,
        **timings,
    }


if __name__ == "__main__":
    mode, *rest = sys.argv[1:]
    if mode == "memory":
        print(json.dumps(memory(rest[0], int(rest[1]))))
    elif mode == "float32":
        print(json.dumps(float32(rest[0], rest[1:])))
    elif mode == "vs_vgg16":
        print(json.dumps(vs_vgg16(rest[0], int(rest[1]))))
    elif mode == "train":
        print(json.dumps(train(int(rest[0]))))
    else:
        raise SystemExit(f"unknown mode {mode!r}; use memory, float32, vs_vgg16 or train")
