"""Helpers shared by the benchmark files (imported by conftest.py first).

The oneDNN bf16 graph rewrite is process-global: it is switched on here, before any
graph is optimised, exactly as the first ``Colorizer`` would. From then on every
``tf.function`` graph gets it, while eager Keras calls never go through grappler, so
"float32" means an eager ``model(x, training=False)`` call and "bf16" a call inside
``tf.function``.
"""

from __future__ import annotations

import gc
import os
import re
import subprocess
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from hypercol.core.precision import configure_precision

PRECISION = configure_precision()  # before any tf.function is traced


def precision_label(compiled: bool) -> str:
    """What a call runs in: graph calls get the active rewrite, eager calls stay float32."""
    if not compiled:
        return "float32 (eager)"
    return {"bfloat16": "bf16 (oneDNN rewrite, tf.function)", "mixed_float16": "fp16 (AMP rewrite, tf.function)"}.get(
        PRECISION, "float32 (tf.function)"
    )


# --- memory ---------------------------------------------------------------------------


def _status_kib(field: str) -> int:
    text = Path("/proc/self/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


def _reset_peak_rss() -> bool:
    """Resets VmHWM (Linux >= 4.0: write 5 to clear_refs); False when not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


class PeakRSS:
    """Peak resident set size of this process over a ``with`` block, in MiB."""

    def __enter__(self) -> PeakRSS:  # noqa: PYI034
        gc.collect()
        self.reset = _reset_peak_rss()
        self.start_mib = _status_kib("VmRSS") / 1024
        return self

    def __exit__(self, *exc) -> None:
        self.peak_mib = _status_kib("VmHWM") / 1024


def gray_images(batch: int | None, size: int, seed: int = 0) -> np.ndarray:
    """uint8 gray test images: (size, size) for ``batch=None``, else (batch, size, size)."""
    rng = np.random.default_rng(seed)
    # Smooth structure plus noise, so the colour math sees a realistic spread of values.
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    base = (ramp[:, None] + ramp[None, :]) / 2
    shape = (size, size) if batch is None else (batch, size, size)
    return np.clip(base + rng.normal(0, 30, shape), 0, 255).astype(np.uint8)


def cpu_description() -> dict:
    info = {"model_name": "unknown", "cpus": os.cpu_count()}
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in text.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Model name":
                info["model_name"] = value.strip()
            elif key.strip() == "CPU(s)":
                info["cpus"] = int(value.strip())
    except (OSError, subprocess.CalledProcessError, ValueError):
        pass
    flags = set()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("cpu family", "model"):
                info.setdefault(key.strip().replace("cpu ", ""), value.strip())
            elif key.strip() == "flags":
                flags.update(value.split())
    info["isa_flags"] = sorted(flags & {"amx_bf16", "amx_tile", "avx512_bf16", "avx512f", "avx2"})
    return info


def busy_processes() -> list[str]:
    """Other processes using CPU while the benchmarks ran (the machine is shared)."""
    try:
        text = subprocess.run(
            ["ps", "-eo", "pid,pcpu,args", "--sort=-pcpu"], capture_output=True, text=True, check=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return []
    busy = []
    for line in text.splitlines()[1:]:
        parts = line.split(None, 2)
        if len(parts) == 3 and int(parts[0]) != os.getpid():
            try:
                if float(parts[1]) >= 20.0:
                    busy.append(f"{parts[1]}% {parts[2][:90]}")
            except ValueError:
                continue
    return busy[:5]


def graph_gflop(fn, *shapes) -> float:
    """Floating-point operations (TF's profiler: 2 per multiply-add) of ``fn`` traced at ``shapes``, in G."""
    import tensorflow as tf
    from tensorflow.python.profiler import model_analyzer, option_builder

    concrete = tf.function(fn).get_concrete_function(*[tf.TensorSpec(shape, tf.float32) for shape in shapes])
    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return round(model_analyzer.profile(concrete.graph, options=options).total_float_ops / 1e9, 1)
