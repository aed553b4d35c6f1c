"""examples/classifier_guidance.py: the turned chroma, its differentiable colors and the guide, on made-up photos."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from classifier_guidance import differentiable_rgb, guided_chroma, turned

from hypercol.core import color


def test_turning_keeps_the_chroma_length_and_a_quarter_turn_maps_a_to_b() -> None:
    ab = tf.constant(np.random.default_rng(0).normal(0, 30, (5, 7, 2)), tf.float32)
    assert np.allclose(turned(ab, tf.zeros([1, 2, 2, 1])), ab)
    quarter = turned(ab, tf.fill([1, 1, 1, 1], np.pi / 2)).numpy()
    assert np.allclose(quarter[..., 0], -ab.numpy()[..., 1], atol=1e-4)
    assert np.allclose(quarter[..., 1], ab.numpy()[..., 0], atol=1e-4)
    field = turned(ab, tf.constant([[[[0.3], [-1.0]], [[2.0], [0.7]]]], tf.float32))
    assert np.allclose(np.linalg.norm(field, axis=-1), np.linalg.norm(ab, axis=-1), rtol=1e-5)


def test_differentiable_colors_agree_with_the_library_in_gamut_and_have_a_gradient_at_gray() -> None:
    lightness = tf.constant([[30.0, 50.0, 70.0, 50.0]])
    ab = tf.constant([[[10.0, -20.0], [0.0, 0.0], [-15.0, 25.0], [5.0, 5.0]]])
    library = color.lab_to_rgb(tf.concat([lightness[..., tf.newaxis], ab], axis=-1))
    assert np.allclose(differentiable_rgb(lightness, ab), library, atol=1e-4)
    chroma = tf.Variable(tf.zeros([1, 1, 2]))
    with tf.GradientTape() as tape:
        total = tf.reduce_sum(differentiable_rgb(tf.constant([[50.0]]), chroma))
    assert np.all(np.isfinite(tape.gradient(total, chroma)))


class RedOrBlue:
    """Two classes: red pixels say class 0, blue ones class 1."""

    def logits(self, rgb: tf.Tensor) -> tf.Tensor:
        redness = tf.reduce_mean(rgb[..., 0] - rgb[..., 2])
        return tf.stack([10.0 * redness, -10.0 * redness])


def test_the_guide_turns_the_hue_towards_the_class_it_is_asked_for() -> None:
    lightness = tf.fill([8, 8], 60.0)
    yellow = tf.concat([tf.zeros([8, 8, 1]), tf.fill([8, 8, 1], 40.0)], axis=-1)  # +b: between red and green
    towards_red, turn = guided_chroma(RedOrBlue(), lightness, yellow, target=0, grid=2, steps=30, rate=0.1)
    towards_blue, _ = guided_chroma(RedOrBlue(), lightness, yellow, target=1, grid=2, steps=30, rate=0.1)
    redness = lambda ab: float(RedOrBlue().logits(differentiable_rgb(lightness, ab))[0])
    assert redness(towards_red) > redness(yellow) > redness(towards_blue)
    assert turn > 10.0
    assert np.allclose(np.linalg.norm(towards_red, axis=-1), 40.0, rtol=1e-4)
