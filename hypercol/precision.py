"""Picks the fastest numerics the machine supports, once per process.

A hub-loaded SavedModel keeps the dtype it was saved with, so Keras mixed precision
cannot reach the backbone. TensorFlow's graph rewrites can: on CPUs with AMX or
AVX512-BF16 the oneDNN bf16 rewrite (about 6x for VGG16 here), on a GPU the automatic
mixed precision rewrite. Both leave the float32 color math alone (see ``color._mix``).
Set ``HYPERCOL_PRECISION=float32`` to turn them off. Where the backbone runs in float32,
a model card's ``float32_defaults`` (the shipped head: a smaller canvas) take over.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import hypercol._quiet_tensorflow  # noqa: F401  # isort: skip -- first: TensorFlow's start-up lines hidden
import tensorflow as tf

__all__ = ["PRECISIONS", "cpu_supports_bf16", "configure_precision", "active_precision"]

PRECISIONS = ("auto", "float32", "bfloat16", "mixed_float16")
_lock = threading.Lock()
_active: str | None = None


def cpu_supports_bf16(cpuinfo: str | None = None) -> bool:
    """True when the CPU flags list AMX-BF16 or AVX512-BF16 (Linux /proc/cpuinfo)."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text() if path.exists() else ""
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return bool(flags & {"amx_bf16", "avx512_bf16"})


def _resolve(requested: str) -> str:
    if requested not in PRECISIONS:
        msg = f"precision must be one of {PRECISIONS}, got {requested!r}"
        raise ValueError(msg)
    if requested != "auto":
        return requested
    if tf.config.list_physical_devices("GPU"):
        return "mixed_float16"
    return "bfloat16" if cpu_supports_bf16() else "float32"


def configure_precision(requested: str | None = None) -> str:
    """Sets the graph rewrite for ``requested`` (default: $HYPERCOL_PRECISION or "auto").

    Grappler options are global and read when a graph is first optimised, so the first
    call in a process decides; later calls return what is active.
    """
    global _active
    with _lock:
        if _active is None:
            _active = _resolve(requested or os.environ.get("HYPERCOL_PRECISION", "auto"))
            if _active == "bfloat16":
                tf.config.optimizer.set_experimental_options({"auto_mixed_precision_onednn_bfloat16": True})
            elif _active == "mixed_float16":
                tf.config.optimizer.set_experimental_options({"auto_mixed_precision": True})
        return _active


def active_precision() -> str | None:
    """The precision chosen by the first ``configure_precision`` call, or None."""
    return _active
