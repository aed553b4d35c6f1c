"""The classification loss (sparse target, its own gradient) against its dense definition."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from hypercol.core import bins
from hypercol.training.losses import rebalanced_cross_entropy


def dense_rebalanced_cross_entropy(centres, weights):
    """The definition: soft-encoded target over every bin, weighted by its argmax bin's weight."""

    def loss(true_ab, logits):
        target_ab = tf.image.resize(true_ab, tf.shape(logits)[1:3], method="area")
        target = bins.soft_encode(target_ab, centres)
        pixel_weights = tf.gather(weights, tf.argmax(target, axis=-1))
        return tf.reduce_mean(pixel_weights * tf.nn.softmax_cross_entropy_with_logits(target, logits), axis=[1, 2])

    return loss


def value_and_gradient(loss, true_ab, logits, per_example):
    with tf.GradientTape() as tape:
        tape.watch(logits)
        value = tf.reduce_sum(loss(true_ab, logits) * per_example)
    return value.numpy(), tape.gradient(value, logits).numpy()


@pytest.mark.parametrize("count", [224, 3])
def test_loss_and_gradient_match_the_dense_definition(count) -> None:
    rng = np.random.default_rng(3)
    centres = bins.grid_centres()
    centres = centres[rng.choice(len(centres), count, replace=False)]
    weights = rng.uniform(0.2, 5.0, count).astype(np.float32)
    true_ab = tf.constant(rng.uniform(-100, 100, (3, 24, 20, 2)), tf.float32)
    logits = tf.constant(rng.normal(0, 3, (3, 6, 5, count)), tf.float32)
    per_example = tf.constant([1.0, -2.0, 0.5])  # any upstream gradient, not only a mean
    expected = value_and_gradient(dense_rebalanced_cross_entropy(centres, weights), true_ab, logits, per_example)
    value, gradient = value_and_gradient(rebalanced_cross_entropy(centres, weights), true_ab, logits, per_example)
    assert value == pytest.approx(expected[0], rel=1e-5)
    np.testing.assert_allclose(gradient, expected[1], atol=1e-6 * np.abs(expected[1]).max())
    assert np.abs(gradient).max() > 0


def test_loss_traces_in_a_function_and_gives_per_example_values() -> None:
    centres = bins.grid_centres()
    loss = tf.function(rebalanced_cross_entropy(centres, np.ones(len(centres), np.float32)))
    logits = tf.zeros((2, 4, 4, len(centres)))
    true_ab = tf.constant(np.stack([np.zeros((16, 16, 2)), np.full((16, 16, 2), 40.0)]), tf.float32)
    values = loss(true_ab, logits).numpy()
    # Uniform logits: the cross-entropy is log Q for any target.
    np.testing.assert_allclose(values, np.log(len(centres)), rtol=1e-5)
