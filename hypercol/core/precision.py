"""Picks the fastest numerics the machine supports, once per process.

A hub-loaded SavedModel keeps the dtype it was saved with, so Keras mixed precision
cannot reach the backbone. TensorFlow's graph rewrites can: on CPUs with AMX the oneDNN
bf16 rewrite (about 6x for VGG16 here), on a GPU the automatic mixed precision rewrite.
Both leave the float32 color math alone (see ``color._mix``). Set
``HYPERCOL_PRECISION=float32`` to turn them off, ``bfloat16`` to ask for the bf16 rewrite.

On CPUs with AVX512-BF16 but no AMX, "auto" is float32: there the rewrite gains nothing for
the default head's EfficientNet-Lite network or loses (2-core AMD EPYC: 11.3 against 11.6 ms
per image; 2-core Xeon, family 6 model 207: 29.2 against 19.1 ms; docs/measurements/speed.md), though
it still speeds up VGG16 about 1.7x (``HYPERCOL_PRECISION=bfloat16`` for the VGG16 heads).

Only AMX (and a GPU) make VGG16 cheap next to everything around it: with float32, or bf16
on AVX512-BF16 alone (about 2x over float32), the backbone is most of a call, and a model
card's ``small_canvas_defaults`` (the VGG16 classification head: a 160-pixel canvas) take
over, see :func:`backbone_is_fast`. EfficientNet-Lite2 and Lite0, the backbones of the default
head and the one before it, are cheap in every precision; their cards have no small canvas.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import hypercol.core.quiet_tensorflow  # noqa: F401  # isort: skip -- first: TensorFlow's start-up lines hidden
import tensorflow as tf

__all__ = [
    "PRECISIONS",
    "environment_choice",
    "cpu_has_amx",
    "backbone_is_fast",
    "configure_precision",
    "active_precision",
    "wants_small_canvas",
    "check_environment",
]

PRECISIONS = ("auto", "float32", "bfloat16", "mixed_float16")
_lock = threading.Lock()
_active: str | None = None


def _cpu_flags(cpuinfo: str | None) -> set[str]:
    """The CPU flags in ``cpuinfo`` (default: Linux /proc/cpuinfo; none elsewhere)."""
    if cpuinfo is None:
        path = Path("/proc/cpuinfo")
        cpuinfo = path.read_text() if path.exists() else ""
    flags = set()
    for line in cpuinfo.splitlines():
        if line.startswith("flags"):
            flags.update(line.partition(":")[2].split())
    return flags


def cpu_has_amx(cpuinfo: str | None = None) -> bool:
    """True when the CPU flags list AMX-BF16 (the tile units that make the bf16 rewrite about 6x)."""
    return "amx_bf16" in _cpu_flags(cpuinfo)


def backbone_is_fast(precision: str, cpuinfo: str | None = None) -> bool:
    """True where the backbone runs on matrix units: a GPU (``mixed_float16``), or bf16 on a CPU with AMX.

    Elsewhere (float32, or bf16 on AVX512-BF16 alone) it is most of a ``colorize`` call.
    """
    return precision == "mixed_float16" or (precision == "bfloat16" and cpu_has_amx(cpuinfo))


def environment_choice(name: str, choices: tuple[str, ...]) -> str:
    """The environment variable ``name``, one of ``choices``; unset or empty, the first of them.
    A ValueError naming the variable otherwise."""
    value = os.environ.get(name, "") or choices[0]
    if value not in choices:
        msg = f"{name} must be one of {choices} (or unset), got {value!r}"
        raise ValueError(msg)
    return value


def _resolve(requested: str) -> str:
    if requested not in PRECISIONS:
        msg = f"precision must be one of {PRECISIONS}, got {requested!r}"
        raise ValueError(msg)
    if requested != "auto":
        return requested
    if tf.config.list_physical_devices("GPU"):
        return "mixed_float16"
    return "bfloat16" if cpu_has_amx() else "float32"


def configure_precision(requested: str | None = None) -> str:
    """Sets the graph rewrite for ``requested`` (default: $HYPERCOL_PRECISION; unset or empty: "auto").

    Grappler options are global and read when a graph is first optimised, so the first
    call in a process decides; later calls return what is active. A later request that names
    another precision ("float32" where bf16 is active) cannot be met: a ValueError says so,
    rather than the request being ignored. "auto" and None ask for nothing in particular.
    """
    global _active
    if requested not in (None, "") and requested not in PRECISIONS:
        _resolve(requested)  # the ValueError naming the choices
    with _lock:
        if _active is not None and requested not in (None, "", "auto", _active):
            msg = (
                f"precision {requested!r} cannot be set: this process already runs {_active!r} "
                "(the precision is process-wide and set by its first colorizer, training run or cache; "
                "start a new process, or set HYPERCOL_PRECISION before it starts)"
            )
            raise ValueError(msg)
        if _active is None:
            _active = _resolve(requested or environment_choice("HYPERCOL_PRECISION", PRECISIONS))
            if _active == "bfloat16":
                tf.config.optimizer.set_experimental_options({"auto_mixed_precision_onednn_bfloat16": True})
            elif _active == "mixed_float16":
                tf.config.optimizer.set_experimental_options({"auto_mixed_precision": True})
        return _active


def active_precision() -> str | None:
    """The precision chosen by the first ``configure_precision`` call, or None."""
    return _active


CANVASES = ("auto", "small", "full")


def wants_small_canvas(precision: str) -> bool:
    """$HYPERCOL_CANVAS ("small", "full", or "auto", the default: small where the backbone is slow)."""
    requested = environment_choice("HYPERCOL_CANVAS", CANVASES)
    return not backbone_is_fast(precision) if requested == "auto" else requested == "small"


def check_environment() -> None:
    """A ValueError naming the variable for a bad $HYPERCOL_PRECISION or $HYPERCOL_CANVAS (unset or empty: "auto"),
    before any model is loaded (a cached colorizer would not read them again)."""
    wants_small_canvas(configure_precision())
