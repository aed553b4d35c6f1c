"""Several heads colorizing one photo, their chroma averaged: an opt-in slower, better mode.

Heads trained apart share most of their errors (a bias of the training photos, not a variance
between trainings), but heads on different backbones see partly different things in a gray
photo: over five folds of the ImageNet photos, the default's Lite2 head averaged with a Lite1
head colored 0.20 +- 0.05 dB closer to the truth than the Lite2 head alone, at about 1.7x its
time (docs/measurements/heads.md). :class:`EnsembleNetwork` runs each member's own network pass
(on its own card's canvas; at the ensemble card's temperature and uncertainty fallback, else its
own card's; at saturation 1), brings each chroma to the first member's working shape, averages
them and scales the mean by the ensemble's saturation; the first member's guided upsampling then
carries it to full resolution, as for one head.

It serves every path of one head: ``colorize``, the Pillow filter, the command, video. Hints and
reference photos steer the averaged chroma; the first member's backbone places them
(:func:`hypercol.inference.guidance.chroma_and_cells`).
"""

from __future__ import annotations

from dataclasses import replace

import hypercol.core.quiet_tensorflow  # noqa: F401  # isort: skip -- first: TensorFlow's start-up lines hidden
import tensorflow as tf

from hypercol.inference.network import AddedGraphs, saturated
from hypercol.models.card import card_settings, check_knobs, summary_card

__all__ = ["EnsembleNetwork", "mean_chroma"]


class EnsembleNetwork(AddedGraphs):
    """The members' :class:`~hypercol.inference.network.ChromaNetwork` passes, their chroma averaged.

    Quacks like a ChromaNetwork where the automatic chroma and video need it (:meth:`knobs`, :meth:`chroma`,
    :meth:`coefficients`, :meth:`predict_coefficients`, :attr:`batch_size`); guidance works on its first
    member (:func:`hypercol.inference.guidance.guiding_network`) and averages with :meth:`averaged_with`.
    ``card``: the first classification member's card with the ensemble's saturation
    (:func:`hypercol.models.card.summary_card`), for what checks and reports a call's settings.
    """

    def __init__(
        self,
        members: list,
        saturation: float,
        temperature: float | None = None,
        fallback: float | None = None,
        knee: float | None = None,
        hue_fade: float = 0.0,
    ) -> None:
        if len(members) < 2:
            msg = f"an ensemble needs at least two heads, got {len(members)}"
            raise ValueError(msg)
        first = members[0]
        self.members = list(members)
        for member in self.members:  # each gives its chroma unsaturated, faded by the ensemble's hue fade
            member.card = replace(member.card, saturation_knee=None, hue_fade=hue_fade)
        self.card = summary_card([member.card for member in members], saturation, temperature, knee, hue_fade)
        self.temperature, self.fallback = temperature, fallback  # the ensemble card's, for every member
        self.backbone = first.backbone
        self.working_size = first.working_size
        self.batch_size = min(member.batch_size for member in members)
        self.edge_aware = first.edge_aware
        self._added_graphs = {}
        planes = tf.TensorSpec([None, None, None], tf.float32)
        chroma = tf.TensorSpec([None, None, None, 2], tf.float32)
        self._coefficients = tf.function(first.coefficients, input_signature=[planes, chroma])
        self._one = tf.constant(1.0, tf.float32)

    def knobs(self, temperature: float | None, saturation: float | None, fallback: float | None):
        """(temperatures, saturation, fallbacks) as graph inputs: a temperature (given, else the ensemble card's)
        for every classification member and a fallback likewise for every member, else each member's card's;
        the saturation given, else the ensemble's. Checked."""
        check_knobs(temperature, saturation, fallback)
        temperature = self.temperature if temperature is None else temperature
        fallback = self.fallback if fallback is None else fallback
        classification = [member.card.is_classification for member in self.members]
        if temperature is not None and not any(classification):
            card_settings(self.card, temperature, None)  # the single head's error: no temperature to set
        temperatures = [
            card_settings(member.card, temperature if is_classification else None, None)[0]
            for member, is_classification in zip(self.members, classification)
        ]
        fallbacks = [member.card.uncertainty_fallback if fallback is None else fallback for member in self.members]
        saturation = self.card.saturation if saturation is None else saturation
        return (
            tf.constant(temperatures, tf.float32),
            tf.constant(saturation, tf.float32),
            tf.constant(fallbacks, tf.float32),
        )

    def member_knobs(self, knobs, index: int) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Member ``index``'s (temperature, saturation 1, fallback) from the ensemble's knobs."""
        temperatures, _, fallbacks = knobs
        return temperatures[index], self._one, fallbacks[index]

    def chroma(self, lightness: tf.Tensor, *knobs) -> tuple[tf.Tensor, tf.Tensor]:
        """(N, H, W) CIE L -> ((N, h, w, 2) averaged chroma, (N, h, w) CIE L) at the first member's working shape."""
        first, small_lightness = self.members[0].chroma(lightness, *self.member_knobs(knobs, 0))
        return self.averaged_with(first, lightness, knobs), small_lightness

    def averaged_with(self, first_chroma: tf.Tensor, lightness: tf.Tensor, knobs) -> tf.Tensor:
        """The first member's chroma of ``lightness`` (at saturation 1, computed by the caller) averaged with the
        other members', :func:`~hypercol.inference.network.saturated` by the ensemble's saturation and knee."""
        others = [
            member.chroma(lightness, *self.member_knobs(knobs, index))[0]
            for index, member in enumerate(self.members[1:], 1)
        ]
        return saturated(mean_chroma([first_chroma, *others]), knobs[1], self.card.saturation_knee)

    def coefficients(self, small_lightness: tf.Tensor, chroma: tf.Tensor) -> tf.Tensor:
        """As :meth:`hypercol.inference.network.ChromaNetwork.coefficients`, the first member's (traced)."""
        return self._coefficients(small_lightness, chroma)

    def predict_coefficients(self, lightness: tf.Tensor, temperatures, saturation, fallbacks) -> tf.Tensor:
        """(N, H, W) CIE L -> (N, h, w, 4) guided-upsampling coefficients of the averaged chroma."""
        chroma, small_lightness = self.chroma(lightness, temperatures, saturation, fallbacks)
        return self.coefficients(small_lightness, chroma)


def mean_chroma(chromas: list[tf.Tensor]) -> tf.Tensor:
    """The members' (N, h, w, 2) chroma, each brought to the first's working shape (bilinear), averaged."""
    first = chromas[0]
    total = first
    for chroma in chromas[1:]:
        if chroma.shape[1:3] != first.shape[1:3]:
            chroma = tf.image.resize(chroma, tf.shape(first)[1:3], method="bilinear")
        total = total + chroma
    return total / len(chromas)
