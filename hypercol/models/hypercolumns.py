"""Hypercolumns: every tapped activation, upsampled to the image and stacked per pixel."""

from __future__ import annotations

import numbers
from collections.abc import Sequence

import numpy as np

import hypercol.core.quiet_tensorflow  # noqa: F401  # isort: skip -- first: TensorFlow's start-up lines hidden
import tensorflow as tf

from hypercol.core.arrays import as_image_batch
from hypercol.models.backbones import DEFAULT_BACKBONE, BackboneSpec, load_backbone

__all__ = ["hypercolumns", "stack_taps", "backbone_bytes_per_pixel", "MAX_HYPERCOLUMN_BYTES", "MAX_BACKBONE_BYTES"]

MAX_HYPERCOLUMN_BYTES = 4 * 2**30
# The backbone runs at the input's own resolution (whatever size= is): its activations are bounded too.
MAX_BACKBONE_BYTES = 4 * 2**30


def stack_taps(features: dict[str, tf.Tensor], keys: Sequence[str], size) -> tf.Tensor:
    """Bilinear upsampling of each (N, h, w, C_i) tap to ``size`` and concatenation: (N, H, W, sum C_i)."""
    return tf.concat([tf.image.resize(features[key], size, method="bilinear") for key in keys], axis=-1)


def backbone_bytes_per_pixel(spec: BackboneSpec) -> float:
    """Estimated peak memory of one forward pass, per input pixel: every tap is kept as an output, and
    each stage holds about as much again while it computes (float32; VGG16: about 1 kB)."""
    return 2 * 4 * sum(tap.channels / tap.stride**2 for tap in spec.taps)


def _check_backbone_memory(spec: BackboneSpec, height: int, width: int) -> None:
    needed = backbone_bytes_per_pixel(spec) * height * width
    if needed > MAX_BACKBONE_BYTES:
        msg = (
            f"the backbone {spec.name!r} runs at the input's own {width}x{height} pixels whatever size= is, "
            f"and would need about {needed / 2**30:.1f} GiB (limit {MAX_BACKBONE_BYTES / 2**30:.0f} GiB); "
            "downscale the image first"
        )
        raise ValueError(msg)


def _checked_size(size, default: tuple[int, int]) -> tuple[int, int]:
    """``size`` as (height, width) of positive ints: TypeError unless integers, ValueError unless two and >= 1."""
    if size is None:
        return default
    try:
        height, width = size
    except TypeError:
        msg = f"size must be a (height, width) pair of integers, got {size!r}"
        raise TypeError(msg) from None
    except ValueError:
        msg = f"size must be a (height, width) pair, got {size!r}"
        raise ValueError(msg) from None
    if any(isinstance(side, bool | np.bool_) or not isinstance(side, numbers.Integral) for side in (height, width)):
        msg = f"size must be a (height, width) pair of integers, got {size!r}"
        raise TypeError(msg)
    if min(height, width) < 1:
        msg = f"size must be (height, width) with both at least 1, got {size!r}"
        raise ValueError(msg)
    return int(height), int(width)


def hypercolumns(
    image: np.ndarray,
    backbone: str | BackboneSpec = DEFAULT_BACKBONE,
    taps: Sequence[str] | None = None,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """(H, W[, C]) image -> (H, W, C_total) float32 hypercolumns (or (h, w, ...) for ``size=(h, w)``).

    The backbone sees the image at its own resolution (gray is repeated to RGB; RGB
    is passed as is). ``C_total`` is the sum of the taps' registered channels. Inputs
    whose backbone pass or hypercolumns would take more than 4 GiB are refused
    (ValueError) before anything is allocated.
    """
    batch = as_image_batch(image)
    if batch.batched:
        msg = f"hypercolumns takes one image, got a batch of shape {batch.pixels.shape}"
        raise ValueError(msg)
    size = _checked_size(size, batch.size)
    loaded = load_backbone(backbone, taps=taps)
    volume = size[0] * size[1] * loaded.spec.channels * 4
    if volume > MAX_HYPERCOLUMN_BYTES:
        msg = (
            f"hypercolumns of {size[1]}x{size[0]} with {loaded.spec.channels} channels need "
            f"{volume / 2**30:.1f} GiB (limit {MAX_HYPERCOLUMN_BYTES / 2**30:.0f}); pass a smaller size="
        )
        raise ValueError(msg)
    _check_backbone_memory(loaded.spec, *batch.size)
    pixels = batch.unit_float(0)[np.newaxis, ..., :3]
    features = loaded(tf.convert_to_tensor(pixels))
    return stack_taps(features, [tap.key for tap in loaded.spec.taps], size)[0].numpy()
