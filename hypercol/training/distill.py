"""Distillation: a classification head trained towards the averaged distribution of trained heads.

An ensemble of heads colorizes better than one of its members, and costs a backbone and a
head per member at every call. A student head learns what the ensemble would say: its
target at each pixel is ``teacher_weight`` x the teachers' mean bin distribution plus the
rest x the soft-encoded truth (Hinton et al. 2015). Each :class:`Teacher` is a trained
classification head with the feature cache of its own backbone; that cache must hold the
student cache's crops in the same order (built from the same manifest with the same seed,
crop size and pasting), which is checked on the cache's settings and, row by row, on the
target chroma both caches hold. The teachers run frozen, in inference mode, in the training
step; all of them and the student share one set of bins.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import hypercol.core.quiet_tensorflow  # noqa: F401  # isort: skip -- first: TensorFlow's start-up lines hidden
import tensorflow as tf

from hypercol.models.backbones import get_spec
from hypercol.models.card import ModelCard, card_path
from hypercol.models.head import load_trained_head
from hypercol.training.cache import CachedData, FeatureCache, as_float32, forward_from_cache
from hypercol.training.data import example_batches
from hypercol.training.losses import Objective

__all__ = ["DistilledData", "Teacher", "distilled_objective"]

# Cache settings that decide which crops a cache holds, in which order.
_SAME_CROPS = ("sets_manifest_sha256", "seed", "crop_size", "output_stride", "paste_probability", "crop_scale_of")


@dataclass(frozen=True)
class Teacher:
    """A trained classification head (``.weights.h5`` with its card) and the feature cache of its backbone."""

    weights: Path
    cache: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "weights", Path(self.weights))
        object.__setattr__(self, "cache", Path(self.cache))


def _check_same_crops(student: FeatureCache, other: FeatureCache) -> None:
    differing = [key for key in _SAME_CROPS if student.meta.get(key) != other.meta.get(key)]
    done = lambda cache: {name: part["done"] for name, part in cache.meta["parts"].items()}
    if not differing and done(student) != done(other):
        differing = ["examples per part"]
    if differing:
        msg = (
            f"the teacher's cache {str(other.folder)!r} does not hold the crops of {str(student.folder)!r} "
            f"(they differ in {differing}): build it from the same manifest with the same --seed"
        )
        raise ValueError(msg)


def _load_teacher(teacher: Teacher, cache: FeatureCache, output_stride: int):
    """(card, frozen head) of ``teacher``, refused unless its cache holds its backbone's taps at the student's stride."""
    card = ModelCard.load(card_path(teacher.weights))
    if card.head_type != "classification":
        msg = f"a teacher must be a classification head; {str(teacher.weights)!r} is a {card.head_type} head"
        raise ValueError(msg)
    if card.head_config.get("output_stride") != output_stride:
        msg = f"the teacher {str(teacher.weights)!r} predicts at stride {card.head_config.get('output_stride')}, the student at {output_stride}"
        raise ValueError(msg)
    if cache.meta["backbone"] != card.backbone or cache.tap_keys != list(card.taps):
        msg = (
            f"the teacher {str(teacher.weights)!r} reads {card.backbone} taps {list(card.taps)}; "
            f"its cache {str(cache.folder)!r} holds {cache.meta['backbone']} taps {cache.tap_keys}"
        )
        raise ValueError(msg)
    taps = get_spec(card.backbone).select(card.taps).taps
    head = load_trained_head(teacher.weights, taps, card.head_config)
    head.trainable = False
    return card, head


class DistilledData:
    """Feature-cache data (:class:`CachedData` of one cache) whose batches also carry each teacher's taps.

    A batch is ``(*student taps, chroma, *taps of each other cache)``; :meth:`forward` gives
    (student logits, (chroma, the teachers' mean bin probabilities)). A teacher whose cache is
    the student's reads the student's taps.
    """

    head_output_stride = CachedData.head_output_stride

    def __init__(self, student: CachedData, teachers: Sequence[Teacher], *, output_stride: int) -> None:
        if len(student.caches) != 1:
            msg = "distillation trains from one feature cache (its teachers' caches hold the same crops)"
            raise ValueError(msg)
        if not teachers:
            msg = "distillation needs at least one teacher"
            raise ValueError(msg)
        self.student = student
        self.teachers = list(teachers)
        self.tap_keys = student.tap_keys
        own = student.caches[0]
        self.readers: list[CachedData] = []  # one per teacher cache other than the student's
        self.heads = []  # (frozen head, index of its taps' first position in a batch, tap count)
        self.cards = []
        folders = {own.folder.resolve(): 0}
        for teacher in self.teachers:
            cache = FeatureCache.open(teacher.cache)
            card, head = _load_teacher(teacher, cache, output_stride)
            if cache.folder.resolve() not in folders:
                _check_same_crops(own, cache)
                folders[cache.folder.resolve()] = len(self.tap_keys) + 1 + sum(len(r.tap_keys) for r in self.readers)
                self.readers.append(student.paired_with(cache.folder))
            self.heads.append((head, folders[cache.folder.resolve()], len(cache.tap_keys)))
            self.cards.append(card)
        self.validation = self._validation()
        self.validation_images = student.validation_images
        self.example(0)  # a cache of other crops is refused now, not in the input pipeline

    def _validation(self):
        if self.student.validation is None:
            return None
        chroma = self.student.validation[-1]
        other_taps = []
        for reader in self.readers:
            *taps, their_chroma = reader.validation
            if not np.array_equal(chroma.numpy(), their_chroma.numpy()):
                msg = f"the validation crops of {str(reader.caches[0].folder)!r} are not the student cache's"
                raise ValueError(msg)
            other_taps.extend(taps)
        return (*self.student.validation, *other_taps)

    def example(self, index) -> list[np.ndarray]:
        values = self.student.example(index)
        for reader in self.readers:
            *taps, chroma = reader.example(index)
            if not np.array_equal(chroma, values[len(self.tap_keys)]):
                msg = (
                    f"example {int(index)} of {str(reader.caches[0].folder)!r} is another crop than the student cache's"
                )
                raise ValueError(msg)
            values.extend(taps)
        return values

    def color_prior(self, mix: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The student cache's prior, refused unless its bins are every teacher's."""
        centres, probabilities, weights = self.student.color_prior(mix)
        for teacher, card in zip(self.teachers, self.cards):
            if not np.array_equal(np.asarray(card.bins, np.float64), np.asarray(centres, np.float64)):
                msg = f"the teacher {str(teacher.weights)!r} predicts other bins than the student cache's color prior"
                raise ValueError(msg)
        return centres, probabilities, weights

    def dataset(self, per_replica: int, first: int, stride: int) -> tf.data.Dataset:
        specs = [tf.TensorSpec(value.shape, tf.float16) for value in self.example(0)]
        return example_batches(self.example, specs, as_float32, batch_size=per_replica, start=first, stride=stride)

    def forward(self, backbone, head, batch, training: bool) -> tuple[tf.Tensor, tuple[tf.Tensor, tf.Tensor]]:
        logits, chroma = forward_from_cache(backbone, head, batch[: len(self.tap_keys) + 1], training)
        return logits, (chroma, self.teacher_probabilities(batch))

    def teacher_probabilities(self, batch) -> tf.Tensor:
        """The teachers' mean softmax over the bins, (N, h, w, Q) float32, out of the gradient."""
        gray = tf.zeros([tf.shape(batch[0])[0], 1, 1, 1])
        distributions = [
            tf.nn.softmax(tf.cast(teacher([gray, *batch[start : start + count]], training=False), tf.float32))
            for teacher, start, count in self.heads
        ]
        return tf.stop_gradient(tf.add_n(distributions) / len(distributions))

    def sample_batch(self, count: int) -> None:
        return None

    def skipped_note(self) -> None:
        return None

    def card_counts(self) -> dict:
        teachers = [{"weights": str(t.weights), "cache": str(t.cache)} for t in self.teachers]
        return {**self.student.card_counts(), "teachers": teachers}


def _soft_cross_entropy(probabilities: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Per example: the mean over pixels of the cross-entropy of softmax(logits) against ``probabilities``: (N,)."""
    pixel = tf.reduce_logsumexp(logits, axis=-1) - tf.reduce_sum(probabilities * logits, axis=-1)
    return tf.reduce_mean(pixel, axis=[1, 2])


def distilled_objective(goal: Objective, teacher_weight: float) -> Objective:
    """``goal`` (the classification objective) with its loss mixed: ``teacher_weight`` x the cross-entropy against
    the teachers' distribution + (1 - ``teacher_weight``) x ``goal``'s loss against the truth."""
    truth_loss: Callable = goal.loss

    def loss(target: tuple[tf.Tensor, tf.Tensor], logits: tf.Tensor) -> tf.Tensor:
        chroma, probabilities = target
        logits = tf.cast(logits, tf.float32)
        taught = _soft_cross_entropy(probabilities, logits)
        if teacher_weight == 1:
            return taught
        return teacher_weight * taught + (1 - teacher_weight) * truth_loss(chroma, logits)

    name = f"{goal.name}, distilled (teacher weight {teacher_weight:g})"
    return Objective(name, loss, goal.head_config, goal.prior)
