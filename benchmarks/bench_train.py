"""Training steps: the step hypercol.training.train runs (``hypercol.training.step``), without the data pipeline.

Batch 16 at 224 x 224, Adam, in the project's tf.function step (so the bf16 rewrite
applies, as in training), each with the head of a shipped model card (its backbone, taps and
head options) and the classification loss (rebalanced cross-entropy over its bins):

- from photos: frozen backbone forward + the head's forward/backward. The default head
  (EfficientNet-Lite2) is timed alternating with the earlier default on VGG16, so their
  ratio (target: at least 3x the examples per second) is measured under the same load;
- from the feature cache: the default head's forward/backward from cached taps, timed
  alternating with the default head's step from photos.
"""

import keras
import numpy as np
import tensorflow as tf
from cases import TRAIN_BATCH, TRAIN_ROUNDS, TRAIN_SIZE
from harness import PRECISION

from hypercol.models.backbones import load_backbone
from hypercol.models.card import ModelCard, card_path
from hypercol.models.head import build_head
from hypercol.models.shipped import DEFAULT_WEIGHTS, SHIPPED_HEADS
from hypercol.training.cache import forward_from_cache
from hypercol.training.losses import CLASSIFICATION_OUTPUT_STRIDE, rebalanced_cross_entropy
from hypercol.training.photos import forward_from_photos
from hypercol.training.step import train_step_function

_PRECISION = {"bfloat16": "bf16 (oneDNN rewrite)"}.get(PRECISION, PRECISION)
EARLIER_DEFAULT = SHIPPED_HEADS["vgg16_classification"]


def _step(forward, backbone, head, loss):
    """The project's training step (under the default strategy) with Adam at a fixed rate."""
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(head.trainable_variables)
    return train_step_function(forward, backbone, head, loss, optimizer, global_batch_size=TRAIN_BATCH)


def _card_head(weights, head_changes: dict | None = None):
    """(backbone, head, loss, the head's output stride) of a shipped card, the card's head options changed
    by ``head_changes``: the head is freshly built (training starts from it)."""
    card = ModelCard.load(card_path(weights))
    backbone = load_backbone(card.backbone, taps=card.taps)
    centres = np.asarray(card.bins, np.float32).reshape(-1, 2)
    loss = rebalanced_cross_entropy(centres, np.ones(len(centres), np.float32))
    config = {**card.head_config, **(head_changes or {})}
    stride = config.get("output_stride", CLASSIFICATION_OUTPUT_STRIDE)
    return backbone, build_head(backbone.spec.taps, **config), loss, stride


def _target_chroma(rng, stride: int) -> tf.Tensor:
    """Random target chroma at the resolution of a head's output of ``stride`` on a training crop."""
    cells = TRAIN_SIZE // stride
    return tf.constant(rng.normal(0, 20, (TRAIN_BATCH, cells, cells, 2)), tf.float32)


def head_photo_step(rng, weights=DEFAULT_WEIGHTS, head_changes: dict | None = None):
    """(one training step from photos, its head) with the head of ``weights``' card, its options changed by
    ``head_changes``: backbone forward included."""
    backbone, head, cross_entropy, stride = _card_head(weights, head_changes)
    lightness = tf.constant(rng.uniform(0, 100, (TRAIN_BATCH, TRAIN_SIZE, TRAIN_SIZE)), tf.float32)
    step = _step(forward_from_photos, backbone, head, cross_entropy)
    batch = (lightness, _target_chroma(rng, stride))
    return (lambda: float(step(batch))), head


def photo_step(rng, weights=DEFAULT_WEIGHTS):
    """One training step from photos with the head of ``weights``' card: backbone forward included."""
    return head_photo_step(rng, weights)[0]


def cached_step(rng, weights=DEFAULT_WEIGHTS):
    """One training step from cached taps with the head of ``weights``' card: no backbone."""
    backbone, head, cross_entropy, stride = _card_head(weights)
    taps = backbone.spec.taps
    shapes = [(TRAIN_BATCH, TRAIN_SIZE // t.stride, TRAIN_SIZE // t.stride, t.channels) for t in taps]
    features = [tf.constant(rng.uniform(0, 6, shape), tf.float32) for shape in shapes]
    step = _step(forward_from_cache, backbone, head, cross_entropy)
    batch = (*features, _target_chroma(rng, stride))
    return lambda: float(step(batch))


def test_train_step_from_photos(measure):
    rng = np.random.default_rng(0)
    earlier = photo_step(rng, EARLIER_DEFAULT)
    earlier()  # traced outside the timing
    measure(
        photo_step(rng),
        images=TRAIN_BATCH,
        rounds=TRAIN_ROUNDS,
        group="training step",
        reference=earlier,
        kind="train_step_photos",
        name="training step from photos: default head (backbone forward + head forward/backward + Adam) "
        "against the earlier VGG16 default",
        size=TRAIN_SIZE,
        batch=TRAIN_BATCH,
        precision=_PRECISION,
    )


def test_cached_train_step(measure):
    rng = np.random.default_rng(0)
    online = photo_step(rng)
    online()  # traced outside the timing
    measure(
        cached_step(rng),
        images=TRAIN_BATCH,
        rounds=TRAIN_ROUNDS + 2,
        group="training step",
        reference=online,
        kind="train_step",
        name="training step from the feature cache (default head forward/backward + Adam) against from photos",
        size=TRAIN_SIZE,
        batch=TRAIN_BATCH,
        precision=_PRECISION,
    )
