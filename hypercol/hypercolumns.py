"""Hypercolumns: every tapped activation, upsampled to the image and stacked per pixel."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from hypercol._arrays import as_image_batch
from hypercol.backbones import BackboneSpec, load_backbone

__all__ = ["hypercolumns", "stack_taps", "MAX_HYPERCOLUMN_BYTES"]

MAX_HYPERCOLUMN_BYTES = 4 * 2**30


def stack_taps(features: dict[str, tf.Tensor], keys: Sequence[str], size) -> tf.Tensor:
    """Bilinear upsampling of each (N, h, w, C_i) tap to ``size`` and concatenation: (N, H, W, sum C_i)."""
    return tf.concat([tf.image.resize(features[key], size, method="bilinear") for key in keys], axis=-1)


def hypercolumns(
    image: np.ndarray,
    backbone: str | BackboneSpec = "vgg16",
    taps: Sequence[str] | None = None,
    size: tuple[int, int] | None = None,
) -> np.ndarray:
    """(H, W[, C]) image -> (H, W, C_total) float32 hypercolumns (or (h, w, ...) for ``size=(h, w)``).

    The backbone sees the image at its own resolution (gray is repeated to RGB; RGB
    is passed as is). ``C_total`` is the sum of the taps' registered channels.
    """
    batch = as_image_batch(image)
    if batch.batched:
        msg = f"hypercolumns takes one image, got a batch of shape {batch.pixels.shape}"
        raise ValueError(msg)
    loaded = load_backbone(backbone, taps=taps)
    if size is None:
        size = batch.size
    if len(size) != 2 or min(size) < 1:
        msg = f"size must be (height, width) with both at least 1, got {size!r}"
        raise ValueError(msg)
    size = (int(size[0]), int(size[1]))
    volume = size[0] * size[1] * loaded.spec.channels * 4
    if volume > MAX_HYPERCOLUMN_BYTES:
        msg = (
            f"hypercolumns of {size[1]}x{size[0]} with {loaded.spec.channels} channels need "
            f"{volume / 2**30:.1f} GiB (limit {MAX_HYPERCOLUMN_BYTES / 2**30:.0f}); pass a smaller size="
        )
        raise ValueError(msg)
    pixels = batch.unit_float(0)[np.newaxis, ..., :3]
    features = loaded(tf.convert_to_tensor(pixels))
    return stack_taps(features, [tap.key for tap in loaded.spec.taps], size)[0].numpy()
