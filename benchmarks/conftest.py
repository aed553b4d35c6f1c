"""pytest fixtures and session hooks for hypercol's throughput benchmarks (`make bench`).

See harness.py for how precision is set up (process-global bf16 rewrite; eager = float32).
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
for path in (str(ROOT), str(BENCH_DIR)):
    if path not in sys.path:
        sys.path.insert(0, path)

import pytest
from harness import PRECISION, PeakRSS, busy_processes, cpu_description, graph_gflop

_SESSION = {"start": time.time(), "loadavg_start": os.getloadavg(), "busy_start": busy_processes(), "skipped": {}}


# --- fixtures -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def default_weights() -> Path:
    """The shipped default head: what ``colorize`` runs."""
    from hypercol.models.shipped import DEFAULT_WEIGHTS

    return DEFAULT_WEIGHTS


@pytest.fixture(scope="session")
def colorizer(default_weights):
    import numpy as np

    from hypercol.inference.colorizer import Colorizer

    colorizer = Colorizer(default_weights)
    colorizer.colorize(np.zeros((256, 256), np.uint8))  # traces and compiles once, outside any timing
    return colorizer


@pytest.fixture(scope="session")
def keras_vgg16():
    """The plain float32 Keras VGG16 conv stack (random weights), called eagerly."""
    import keras

    return keras.applications.VGG16(weights=None, include_top=False)


def backbone_gflop(name: str, size: int) -> float:
    """GFLOP of the backbone ``name`` on one ``size`` x ``size`` canvas, from a graph the profiler can read
    (the hub SavedModel's call is opaque to it): EfficientNet-Lite built from the same weights, or the
    Keras VGG16 conv stack, the same layers as the VGG16 export."""
    if name.startswith("efficientnet_"):
        from hub_models.efficientnet_lite import EfficientNetLite, read_state_dict, weights_path

        variant = name.removeprefix("efficientnet_")
        module = EfficientNetLite(read_state_dict(weights_path(variant)), variant)
        return graph_gflop(lambda x: module.serve.python_function(x), [1, size, size, 3])
    import keras

    vgg16 = keras.applications.VGG16(weights=None, include_top=False)
    return graph_gflop(lambda x: vgg16(x, training=False), [1, size, size, 3])


@pytest.fixture(scope="session")
def hypercol_gflop(colorizer) -> float:
    """Network GFLOP per image of hypercol: its backbone + head at the working size (every square
    image is processed on the same working-size canvas)."""
    size = colorizer.working_size
    shapes = [[1, size, size, 1]] + [
        [1, size // t.stride, size // t.stride, t.channels] for t in colorizer.backbone.spec.taps
    ]
    head = graph_gflop(lambda *inputs: colorizer.head(list(inputs), training=False), *shapes)
    return round(backbone_gflop(colorizer.card.backbone, size) + head, 1)


@pytest.fixture
def measure(benchmark):
    """``measure(fn, images=, rounds=, group=, reference=None, **info)``: times ``fn``, records its peak RSS.

    ``reference`` (a callable) is timed before every round, untimed by pytest-benchmark,
    so ``fn`` and its yardstick alternate and see the same load on a shared machine;
    its timings (after the warm-up round) land in ``extra_info["reference_s"]``.
    ``info`` lands in the JSON's ``extra_info`` (kind, name, size, batch, precision ...),
    which report.py turns into the markdown table.
    """

    def run(fn, *, images: int, rounds: int, group: str, warmup_rounds: int = 1, reference=None, **info):
        benchmark.group = group
        reference_s: list[float] = []

        def setup():
            if reference is not None:
                start = time.perf_counter()
                reference()
                reference_s.append(time.perf_counter() - start)

        with PeakRSS() as memory:
            result = benchmark.pedantic(fn, setup=setup, rounds=rounds, warmup_rounds=warmup_rounds, iterations=1)
        benchmark.extra_info.update(info)
        benchmark.extra_info.update(
            images=images,
            rss_start_mib=round(memory.start_mib, 1),
            peak_rss_mib=round(memory.peak_mib, 1) if memory.reset else None,
        )
        timed = reference_s[warmup_rounds:]
        if timed:  # none with --benchmark-disable, which runs ``fn`` once as a smoke test, without setup
            benchmark.extra_info.update(reference_s=timed, reference_median_s=statistics.median(timed))
        return result

    return run


# --- session information --------------------------------------------------------------


def pytest_runtest_logreport(report):
    if report.skipped and isinstance(report.longrepr, tuple):
        _SESSION["skipped"][report.nodeid] = report.longrepr[2].removeprefix("Skipped: ")


def pytest_benchmark_update_json(config, benchmarks, output_json):
    import tensorflow as tf

    output_json["hypercol_session"] = {
        "precision": PRECISION,
        "cpu": cpu_description(),
        "tensorflow": tf.__version__,
        "duration_s": round(time.time() - _SESSION["start"], 1),
        "loadavg_start": _SESSION["loadavg_start"],
        "loadavg_end": os.getloadavg(),
        "busy_processes_at_start": _SESSION["busy_start"],
        "busy_processes_at_end": busy_processes(),
        "skipped": _SESSION["skipped"],
    }
