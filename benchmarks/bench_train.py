"""Training steps (issues 3, 4 and 8): the steps hypercol.train runs, without the data pipeline.

Batch 16 at 224 x 224, Adam, in a tf.function (so the bf16 rewrite applies, as in
``hypercol.train``):

- online: frozen backbone forward + the full-resolution regression head's
  forward/backward with Dahl's loss (what training from photos costs);
- cached: the stride-4 classification head (with global context) from cached taps,
  rebalanced cross-entropy: what training from a feature cache costs. It is timed
  alternating with the online step, so their ratio is measured under the same load.
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
from hypercol.train import CLASSIFICATION_OUTPUT_STRIDE, dahl_loss, rebalanced_cross_entropy

_PRECISION = {"bfloat16": "bf16 (oneDNN rewrite)"}.get(PRECISION, PRECISION)
_BINS = 200  # about what the shipped classification head has


def _step(head, loss_of):
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(head.trainable_variables)

    @tf.function
    def step(*batch):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(loss_of(*batch))
        gradients = tape.gradient(loss, head.trainable_variables)
        optimizer.apply_gradients(zip(gradients, head.trainable_variables))
        return loss

    return step


def _online_step(rng):
    backbone = load_backbone("vgg16")
    head = build_head(backbone.spec.taps)

    def loss_of(lightness, chroma):
        # As hypercol.train's PhotoData.forward under the default strategy.
        gray = color.linear_to_srgb(color.luminance_from_lightness(lightness))[..., tf.newaxis]
        return dahl_loss(chroma, chroma_from_gray(backbone, head, gray, training=True))

    lightness = tf.constant(rng.uniform(0, 100, (TRAIN_BATCH, TRAIN_SIZE, TRAIN_SIZE)), tf.float32)
    chroma = tf.constant(rng.normal(0, 20, (TRAIN_BATCH, TRAIN_SIZE, TRAIN_SIZE, 2)), tf.float32)
    step = _step(head, loss_of)
    return lambda: float(step(lightness, chroma))


def _cached_step(rng):
    taps = [tap for tap in load_backbone("vgg16").spec.taps if tap.stride >= CLASSIFICATION_OUTPUT_STRIDE]
    head = build_head(taps, outputs=_BINS, output_stride=CLASSIFICATION_OUTPUT_STRIDE, global_context=True)
    centres = rng.uniform(-100, 100, (_BINS, 2)).astype(np.float32)
    cross_entropy = rebalanced_cross_entropy(centres, np.ones(_BINS, np.float32))

    def loss_of(*batch):
        # As hypercol.train's CachedData.forward: the taps are read, not computed.
        *features, chroma = batch
        gray = tf.zeros([TRAIN_BATCH, 1, 1, 1])
        return cross_entropy(chroma, head([gray, *features], training=True))

    cells = TRAIN_SIZE // CLASSIFICATION_OUTPUT_STRIDE
    batch = [
        tf.constant(
            rng.uniform(0, 50, (TRAIN_BATCH, TRAIN_SIZE // t.stride, TRAIN_SIZE // t.stride, t.channels)), tf.float32
        )
        for t in taps
    ]
    batch.append(tf.constant(rng.normal(0, 20, (TRAIN_BATCH, cells, cells, 2)), tf.float32))
    step = _step(head, loss_of)
    return lambda: float(step(*batch))


def test_train_step(measure):
    measure(
        _online_step(np.random.default_rng(0)),
        images=TRAIN_BATCH,
        rounds=TRAIN_ROUNDS,
        group="training step",
        kind="train_step",
        name="training step from photos (vgg16 forward + head forward/backward + Adam, Dahl loss)",
        size=TRAIN_SIZE,
        batch=TRAIN_BATCH,
        precision=_PRECISION,
    )


def test_cached_train_step(measure):
    rng = np.random.default_rng(0)
    online = _online_step(rng)
    online()  # traced outside the timing
    measure(
        _cached_step(rng),
        images=TRAIN_BATCH,
        rounds=TRAIN_ROUNDS + 2,
        group="training step",
        reference=online,
        kind="train_step",
        name="training step from the feature cache (stride-4 classification head forward/backward + Adam)",
        size=TRAIN_SIZE,
        batch=TRAIN_BATCH,
        precision=_PRECISION,
    )
