"""Tiny backbones with the signatures of real ones, for fast tests offline.

``export_tiny_vgg`` mimics the VGG16 export (same signature, tap keys, strides) with
a few channels; ``export_tiny_resnet`` mimics the TF1 Hub ResNet-50 v2 feature-vector
module: an ``image_feature_vector`` signature taking ``images`` in [0, 1] and returning
``default`` plus ``resnet_v2_50/block1..4`` with the real channel counts and strides.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from hub_models.vgg16_hed import TAPS, ConvStack, save
from hypercol.models.backbones import get_spec

TINY_VGG_CHANNELS = (4, 6, 8, 8, 8)
TINY_VGG_TAPS = tuple((key, channels, stride) for (key, _, stride), channels in zip(TAPS, TINY_VGG_CHANNELS))
# The real module's block outputs (slim ResNet v2 strides: the last unit of blocks 1-3 is strided).
RESNET_TAPS = tuple((tap.key, tap.channels, tap.stride) for tap in get_spec("resnet50_v2").taps)


def export_tiny_vgg(target: Path, seed: int = 0) -> Path:
    """A 5-block conv stack with 1 conv per block and few channels, random weights."""
    rng = np.random.default_rng(seed)
    blocks, previous = [], 3
    for channels in TINY_VGG_CHANNELS:
        kernel = rng.normal(0, np.sqrt(2 / (9 * previous)), (3, 3, previous, channels)).astype(np.float32)
        blocks.append([(kernel, np.zeros(channels, np.float32))])
        previous = channels
    save(ConvStack(blocks, tuple(key for key, _, _ in TINY_VGG_TAPS)), target)
    return target


class _TinyResNet(tf.Module):
    def __init__(self, seed: int) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        self.projections = [
            tf.Variable(rng.normal(0, 0.5, (3, channels)).astype(np.float32), trainable=False)
            for _, channels, _ in RESNET_TAPS
        ]

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="images")])
    def image_feature_vector(self, images):
        outputs = {}
        for (key, _, stride), projection in zip(RESNET_TAPS, self.projections):
            pooled = tf.nn.avg_pool2d(images, stride, stride, "SAME")
            outputs[key] = tf.nn.relu(tf.einsum("nhwc,cd->nhwd", pooled, projection))
        outputs["default"] = tf.reduce_mean(outputs[RESNET_TAPS[-1][0]], axis=[1, 2])
        return outputs


def export_tiny_resnet(target: Path, seed: int = 0) -> Path:
    module = _TinyResNet(seed)
    tf.saved_model.save(module, str(target), signatures={"image_feature_vector": module.image_feature_vector})
    return target
