"""The residual-encoder head (Dahl 2016), built from a backbone's tap metadata.

Top-down: the deepest tap is projected (1x1 conv + batch norm) to ``base_width``
channels; at each shallower tap the running estimate is upsampled to that tap's
resolution, the tap's own projection is added, and a 3x3 conv + batch norm + ReLU
halves the width. At full resolution the gray input joins the same way, and a last
3x3 conv gives two Lab chroma channels in float32, bounded by ``chroma_scale``.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np

import hypercol.core.quiet_tensorflow  # noqa: F401  # isort: skip -- first: TensorFlow's start-up lines hidden
import tensorflow as tf

from hypercol.models.backbones import Tap

__all__ = [
    "build_head",
    "fold_batch_norms",
    "load_trained_head",
    "BatchNormalization",
    "ResizeLike",
    "SoftBound",
    "head_input_names",
]


@keras.saving.register_keras_serializable(package="hypercol")
class ResizeLike(keras.layers.Layer):
    """Bilinear resize of ``x`` to the spatial size of ``reference`` (any sizes, no retrace)."""

    def call(self, x, reference):
        size = tf.shape(reference)[1:3]
        return tf.cast(tf.image.resize(x, size, method="bilinear"), x.dtype)


@keras.saving.register_keras_serializable(package="hypercol")
class SoftBound(keras.layers.Layer):
    """``scale * tanh(x / scale)``: identity near 0, never beyond ±scale; float32."""

    def __init__(self, scale: float, **kwargs) -> None:
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.scale = float(scale)

    def call(self, x):
        return self.scale * tf.tanh(tf.cast(x, tf.float32) / self.scale)

    def get_config(self) -> dict:
        return {**super().get_config(), "scale": self.scale}


@keras.saving.register_keras_serializable(package="hypercol")
class BatchNormalization(keras.layers.BatchNormalization):
    """Keras's batch norm, computed in training by TensorFlow's fused kernel: one op forward and one backward.

    Named like Keras's own on purpose: a ``.weights.h5`` file keys each layer by its class
    name, so heads saved with Keras's batch norm load into this one and back.

    Keras 3 normalises with separate ops (moments, casts, subtract, multiply), each a pass
    over the activation, forward and backward; in the Lite2 head's training step they took
    about a fifth of the time. Same variables, same moving statistics (Keras keeps the
    biased batch variance; the fused kernel returns the unbiased one, converted back);
    under the bf16 rewrite its statistics stay exact where Keras's drift by a little. In
    inference the batch norms are folded into the convolutions anyway.
    """

    def call(self, inputs, training=None, mask=None):
        fused = training and self.trainable and mask is None and not self.renorm and self.center and self.scale
        if not fused or len(inputs.shape) != 4 or self.axis not in (-1, 3):
            return super().call(inputs, training=training, mask=mask)
        x = tf.cast(inputs, tf.float32)
        y, mean, unbiased = tf.compat.v1.nn.fused_batch_norm(
            x, tf.cast(self.gamma, tf.float32), tf.cast(self.beta, tf.float32), epsilon=self.epsilon, is_training=True
        )
        count = tf.cast(tf.reduce_prod(tf.shape(x)[:3]), tf.float32)
        variance = unbiased * (count - 1.0) / count
        momentum = self.momentum
        self.moving_mean.assign(self.moving_mean * momentum + mean * (1.0 - momentum))
        self.moving_variance.assign(self.moving_variance * momentum + variance * (1.0 - momentum))
        return tf.cast(y, inputs.dtype)


def _safe_name(key: str) -> str:
    return "tap_" + "".join(ch if ch.isalnum() else "_" for ch in key)


def head_input_names(taps: Sequence[Tap]) -> list[str]:
    """Model input order: gray first, then taps in spec order."""
    return ["gray"] + [_safe_name(tap.key) for tap in taps]


_BN_SUFFIX = "_bn"


def _conv_bn(x, width: int, kernel: int, name: str, batch_norm: bool):
    """Conv + batch norm (Dahl: batch norm instead of biases), or one biased conv when folded."""
    x = keras.layers.Conv2D(width, kernel, padding="same", use_bias=not batch_norm, name=name)(x)
    return BatchNormalization(name=name + _BN_SUFFIX)(x) if batch_norm else x


def _refine(x, width: int, name: str, batch_norm: bool):
    x = _conv_bn(x, width, 3, f"{name}_conv", batch_norm)
    return keras.layers.ReLU(name=f"{name}_relu")(x)


def _context_block(x, width: int, name: str, batch_norm: bool):
    """A residual pair of 3x3 convs on the deepest tap: the head's own look at a cell's neighbours."""
    y = keras.layers.ReLU(name=f"{name}_relu_in")(x)
    y = _refine(y, width, f"{name}_a", batch_norm)
    y = _conv_bn(y, width, 3, f"{name}_b_conv", batch_norm)
    return keras.layers.Add(name=f"{name}_join")([x, y])


def fold_batch_norms(head: keras.Model, taps: Sequence[Tap], **config) -> keras.Model:
    """The same function as ``head`` in inference mode, with each batch norm folded into its conv.

    Keras does not fold them by itself; at inference a batch norm is a per-channel
    affine map, and applying it separately costs a full pass over each activation.
    """
    folded = build_head(taps, batch_norm=False, **config)
    for layer in folded.layers:
        if not isinstance(layer, keras.layers.Conv2D):
            continue
        source = head.get_layer(layer.name)
        kernel = source.kernel.numpy()
        if source.use_bias:
            layer.set_weights([kernel, source.bias.numpy()])
            continue
        norm = head.get_layer(layer.name + _BN_SUFFIX)
        scale = norm.gamma.numpy() / np.sqrt(norm.moving_variance.numpy() + norm.epsilon)
        layer.set_weights([kernel * scale, norm.beta.numpy() - norm.moving_mean.numpy() * scale])
    return folded


def _check_head_options(
    taps: Sequence[Tap], context_blocks: int, output_kernel: int, deep_dropout: float, deep_dropout_taps: int
) -> None:
    """Raises ValueError for options :func:`build_head` cannot build."""
    if not taps:
        msg = "the head needs at least one tap"
        raise ValueError(msg)
    if context_blocks < 0:
        msg = f"context_blocks must be >= 0, got {context_blocks}"
        raise ValueError(msg)
    if output_kernel not in (1, 3):
        msg = f"output_kernel must be 1 or 3, got {output_kernel}"
        raise ValueError(msg)
    if not 0.0 <= deep_dropout < 1.0:
        msg = f"deep_dropout must be in [0, 1), got {deep_dropout}"
        raise ValueError(msg)
    if not 1 <= deep_dropout_taps <= len(taps):
        msg = f"deep_dropout_taps must be between 1 and the {len(taps)} taps, got {deep_dropout_taps}"
        raise ValueError(msg)


def build_head(
    taps: Sequence[Tap],
    *,
    base_width: int = 256,
    min_width: int = 32,
    chroma_scale: float = 110.0,
    outputs: int = 2,
    output_stride: int = 1,
    batch_norm: bool = True,
    global_context: bool = False,
    context_blocks: int = 0,
    output_kernel: int = 3,
    deep_dropout: float = 0.0,
    deep_dropout_taps: int = 1,
) -> keras.Model:
    """Inputs ``[gray (N, H, W, 1), tap_1, ..., tap_k]`` -> (N, H/s, W/s, outputs) float32.

    ``outputs=2`` gives Lab ab in ±``chroma_scale`` (the regression head); other counts
    give raw logits (the classification head). With ``output_stride`` s > 1 the top-down
    path stops at the shallowest tap of stride >= s: logits over hundreds of bins at
    full resolution would cost more than the rest of the network.
    ``batch_norm=False`` builds the inference twin used by :func:`fold_batch_norms`.
    ``global_context`` adds the image-wide mean of the deepest projection, through a
    1x1 conv + ReLU, to every position (Iizuka et al.'s global features): what the
    whole scene is steers the colors of each part of it.
    ``context_blocks`` residual pairs of 3x3 convs then work on the deepest level (stride
    16 for VGG16: cheap), so the chroma of a place can depend on its neighbourhood and
    not only on a linear map of the features there.
    ``output_kernel`` is the size of the last convolution: 3 (Dahl's), or 1, which for a
    classification head over hundreds of bins is 9x cheaper (at stride 4 the 3x3 one is a
    third of the head's multiply-adds) and leaves the neighbourhood to the levels above.
    ``deep_dropout`` drops that fraction of the deepest tap's channels, whole maps at a time,
    in training (a regulariser: the deepest tap names the object; inert at inference);
    ``deep_dropout_taps`` > 1 drops as much of that many of the deepest taps.
    """
    _check_head_options(taps, context_blocks, output_kernel, deep_dropout, deep_dropout_taps)
    names = head_input_names(taps)
    gray = keras.Input((None, None, 1), name=names[0])
    tap_inputs = {tap.key: keras.Input((None, None, tap.channels), name=name) for tap, name in zip(taps, names[1:])}
    # Deepest first; a stable sort keeps the spec order among taps of equal stride.
    order = sorted(range(len(taps)), key=lambda i: -taps[i].stride)
    if output_stride > 1:
        order = [i for i in order if taps[i].stride >= output_stride] or order[:1]
    width = base_width
    deepest = taps[order[0]]
    x = tap_inputs[deepest.key]
    if deep_dropout:
        x = keras.layers.SpatialDropout2D(deep_dropout, name="deep_dropout")(x)
    x = _conv_bn(x, width, 1, f"level0_{_safe_name(deepest.key)}_project", batch_norm)
    if global_context:
        scene = keras.layers.GlobalAveragePooling2D(keepdims=True, name="global_pool")(x)
        scene = keras.layers.Conv2D(width, 1, activation="relu", name="global_context")(scene)
        x = keras.layers.Add(name="global_join")([x, scene])
    for block in range(context_blocks):
        x = _context_block(x, width, f"context{block}", batch_norm)
    for level, index in enumerate(order[1:], start=1):
        tap = taps[index]
        name = f"level{level}_{_safe_name(tap.key)}"
        x = ResizeLike(name=f"{name}_upsample")(x, tap_inputs[tap.key])
        features = tap_inputs[tap.key]
        if deep_dropout and level < deep_dropout_taps:
            features = keras.layers.SpatialDropout2D(deep_dropout, name=f"deep_dropout{level}")(features)
        projected = _conv_bn(features, width, 1, f"{name}_project", batch_norm)
        x = keras.layers.Add(name=f"{name}_join")([x, projected])
        width = max(min_width, width // 2)
        x = _refine(x, width, name, batch_norm)
    if output_stride == 1:
        x = ResizeLike(name="full_upsample")(x, gray)
        x = keras.layers.Add(name="gray_join")([x, _conv_bn(gray, width, 1, "gray_project", batch_norm)])
        x = _refine(x, width, "full", batch_norm)
    x = keras.layers.Conv2D(outputs, output_kernel, padding="same", dtype="float32", name="chroma")(x)
    if outputs == 2:
        x = SoftBound(chroma_scale, name="bound")(x)
    inputs = [gray] + [tap_inputs[tap.key] for tap in taps]
    return keras.Model(inputs, x, name="residual_encoder_head")


def load_trained_head(weights, taps: Sequence[Tap], head_config: dict) -> keras.Model:
    """The trained head in ``weights`` (a ``.weights.h5`` of a head built with ``head_config`` on ``taps``),
    batch norms folded for inference; ValueError when the file is not such a head."""
    trained = build_head(taps, **head_config)
    try:
        trained.load_weights(str(weights))
    except (OSError, ValueError, KeyError) as error:  # h5py: OSError for a file that is not HDF5
        msg = f"head weights {str(weights)!r} could not be read as this card's head: {error}"
        raise ValueError(msg) from error
    return fold_batch_norms(trained, taps, **head_config)
