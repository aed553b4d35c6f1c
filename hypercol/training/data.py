"""What training needs of its data, whatever the source, and the one tf.data pipeline both sources use.

Two sources implement :class:`TrainingData`: photos decoded at every step
(:class:`hypercol.training.photos.PhotoData`, the backbone runs in the step) and feature
caches (:class:`hypercol.training.cache.CachedData`, the backbone's taps are read).
Example ``i`` of either is a pure function of (seed, i), which is what lets a resumed
run see exactly the data the uninterrupted run would have seen.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np

import hypercol.core.quiet_tensorflow  # noqa: F401  # isort: skip -- first: TensorFlow's start-up lines hidden
import tensorflow as tf

from hypercol.core import color

__all__ = ["TrainingData", "TrainingDataError", "example_batches", "pipeline_error_message", "to_lightness_and_chroma"]


@runtime_checkable
class TrainingData(Protocol):
    """The interface :func:`hypercol.training.train.train` uses.

    ``tap_keys``: the backbone taps the data fixes (None: every tap of the backbone).
    ``head_output_stride``: the stride a regression head must predict at (None: the head's default).
    ``validation``: a batch of validation examples as :meth:`forward` takes them, or None.
    """

    tap_keys: list[str] | None
    head_output_stride: int | None
    validation: tuple[tf.Tensor, ...] | None
    validation_images: int

    def color_prior(self, mix: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(bin centres, probabilities, rebalancing weights) of the training chroma: see :mod:`.prior`."""

    def dataset(self, per_replica: int, first: int, stride: int) -> tf.data.Dataset:
        """Batches of examples first, first + stride, ... (stride = input pipelines)."""

    def forward(self, backbone, head, batch, training: bool) -> tuple[tf.Tensor, tf.Tensor]:
        """A batch -> (head output, target chroma)."""

    def sample_batch(self, count: int) -> tuple[tf.Tensor, tuple[tf.Tensor, ...]] | None:
        """(lightness, batch) of ``count`` validation examples to show colorized, or None when it has no lightness."""

    def card_counts(self) -> dict:
        """What the model card's ``training`` field says about the data."""

    def skipped_note(self) -> str | None:
        """A line for the user about photos left out, or None."""


class TrainingDataError(RuntimeError):
    """The input pipeline could not make a batch: its reader raised (e.g. too many unreadable photos in a row)."""


_RAISED = re.compile(r"^(\w+(?:Error|Exception)): (.+)$", re.MULTILINE)


def pipeline_error_message(error: tf.errors.OpError) -> str:
    """What the reader raised, out of the error tf.data wraps it in (its node names and traceback left out)."""
    raised = _RAISED.findall(error.message)
    if raised:
        name, message = raised[-1]
        return f"{message} ({name} in the input pipeline)"
    return error.message.split("\n", 1)[0]


def to_lightness_and_chroma(rgb: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """uint8 (..., H, W, 3) -> CIE L (..., H, W) and ab (..., H, W, 2), in the tf.data graph."""
    lab = color.rgb_to_lab(tf.cast(rgb, tf.float32) / 255.0)
    return lab[..., 0], lab[..., 1:]


def example_batches(
    read: Callable,
    specs: Sequence[tf.TensorSpec],
    convert: Callable,
    *,
    batch_size: int,
    start: int,
    stride: int = 1,
) -> tf.data.Dataset:
    """Batches of ``convert(*read(i))`` for examples i = start, start + stride, ...

    ``read`` is a Python function of the example's index (run in parallel, in order)
    returning NumPy arrays of ``specs``' shapes and dtypes (a single array for a single
    spec); ``convert`` maps those tensors to the example's tensors in the graph.
    """
    dtypes = [spec.dtype for spec in specs]

    def example(index):
        values = tf.numpy_function(read, [index], dtypes, stateful=False)
        return convert(*(tf.ensure_shape(value, spec.shape) for value, spec in zip(values, specs)))

    return (
        tf.data.Dataset.range(start, 2**62, stride)
        .map(example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .batch(batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )
