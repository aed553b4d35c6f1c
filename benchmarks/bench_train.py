"""One training step (issues 3 and 4): the step hypercol.train runs, without the data pipeline.

Frozen backbone forward + head forward/backward with Dahl's loss + Adam, batch 16 at
224 x 224, in a tf.function (so the bf16 rewrite applies, as in ``hypercol.train``).
"""

import keras
import numpy as np
import tensorflow as tf
from cases import TRAIN_BATCH, TRAIN_ROUNDS, TRAIN_SIZE
from harness import PRECISION

from hypercol import color
from hypercol.backbones import load_backbone
from hypercol.colorizer import chroma_from_gray
from hypercol.head import build_head
from hypercol.train import dahl_loss


def test_train_step(measure):
    backbone = load_backbone("vgg16")
    head = build_head(backbone.spec.taps)
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(head.trainable_variables)

    @tf.function
    def step(lightness, chroma):
        # As hypercol.train's replica_step under the default strategy.
        with tf.GradientTape() as tape:
            gray = color.linear_to_srgb(color.luminance_from_lightness(lightness))[..., tf.newaxis]
            predicted = chroma_from_gray(backbone, head, gray, training=True)
            loss = tf.reduce_mean(dahl_loss(chroma, predicted))
        gradients = tape.gradient(loss, head.trainable_variables)
        optimizer.apply_gradients(zip(gradients, head.trainable_variables))
        return loss

    rng = np.random.default_rng(0)
    lightness = tf.constant(rng.uniform(0, 100, (TRAIN_BATCH, TRAIN_SIZE, TRAIN_SIZE)), tf.float32)
    chroma = tf.constant(rng.normal(0, 20, (TRAIN_BATCH, TRAIN_SIZE, TRAIN_SIZE, 2)), tf.float32)
    measure(
        lambda: float(step(lightness, chroma)),
        images=TRAIN_BATCH,
        rounds=TRAIN_ROUNDS,
        group="training step",
        kind="train_step",
        name="training step (vgg16 forward + head forward/backward + Adam, Dahl loss)",
        size=TRAIN_SIZE,
        batch=TRAIN_BATCH,
        precision={"bfloat16": "bf16 (oneDNN rewrite)"}.get(PRECISION, PRECISION),
    )
