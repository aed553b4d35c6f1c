"""Keras 3 builders for peer colorization architectures used in throughput benchmarks.

Every builder takes the input size ``(H, W)`` (``None`` where the architecture is
fully convolutional) and returns an untrained ``keras.Model`` that maps a grayscale
L batch ``(N, H, W, 1)`` to the architecture's own chroma output ``(N, H, W, 2)``.
Weights are random: throughput does not depend on them. Builders honour the
global Keras dtype policy (e.g. ``mixed_bfloat16``); the final layer of every
model is float32. Input normalisation and output de-normalisation (elementwise
affine maps) are omitted throughout.
"""

from collections.abc import Callable
from dataclasses import dataclass

import keras
from keras import layers

Size = tuple[int | None, int | None]

# Iizuka et al. rescale the global branch input to this fixed size.
GLOBAL_SIZE = 224
# Zhang et al. annealed-mean temperature (T = 0.38) applied to the logits.
ZHANG_TEMPERATURE = 0.38
VGG16_TAPS = (
    "block1_conv2",
    "block2_conv2",
    "block3_conv3",
    "block4_conv3",
    "block5_conv3",
)


@dataclass(frozen=True)
class PeerSpec:
    """A peer architecture: its builder, provenance/deviations and input constraints."""

    builder: Callable[[Size], keras.Model]
    description: str
    input_note: str


def _conv(
    filters: int,
    strides: int = 1,
    kernel: int = 3,
    activation: str | None = "relu",
    dilation: int = 1,
    dtype: str | None = None,
) -> layers.Conv2D:
    """Return a 'same'-padded 2D convolution."""
    return layers.Conv2D(
        filters,
        kernel,
        strides=strides,
        padding="same",
        dilation_rate=dilation,
        activation=activation,
        dtype=dtype,
    )


def build_plain_cnn(size: Size) -> keras.Model:
    """Plain 12-conv CNN of Avery & Amin (seed 000, Sec. 4.2); 3,892,194 params."""
    inputs = keras.Input((*size, 1))
    x = inputs
    for filters, strides in ((64, 1), (64, 2), (128, 1), (128, 2), (256, 1), (256, 2)):
        x = _conv(filters, strides)(x)
    for filters in (512, 256, 128):
        x = _conv(filters)(x)
    x = layers.UpSampling2D(2)(x)
    x = _conv(64)(x)
    x = layers.UpSampling2D(2)(x)
    x = _conv(32)(x)
    x = _conv(2, activation="tanh")(x)
    outputs = layers.UpSampling2D(2, dtype="float32")(x)
    return keras.Model(inputs, outputs, name="plain_cnn")


def _low_level_features() -> keras.Sequential:
    """Shared low-level features network (seed 001, Table 1 rows 1-6)."""
    return keras.Sequential(
        [keras.Input((None, None, 1))]
        + [
            _conv(filters, strides)
            for filters, strides in (
                (64, 2),
                (128, 1),
                (128, 2),
                (256, 1),
                (256, 2),
                (512, 1),
            )
        ],
        name="low_level",
    )


def build_global_local_fusion(size: Size) -> keras.Model:
    """Global+local fusion net (seed 001 / Iizuka et al. 2016); 42,169,826 params."""
    inputs = keras.Input((*size, 1))
    low_level = _low_level_features()
    low = low_level(inputs)
    # Mid-level features (Table 1 rows 7-8): local branch at input resolution.
    local = _conv(256)(_conv(512)(low))
    # Global features (Table 2) from the low-level features of a 224x224 copy,
    # reused from the local branch when the input already is 224x224 (Sec. III-C).
    if tuple(size) == (GLOBAL_SIZE, GLOBAL_SIZE):
        glob = low
    else:
        glob = low_level(layers.Resizing(GLOBAL_SIZE, GLOBAL_SIZE)(inputs))
    for strides in (2, 1, 2, 1):
        glob = _conv(512, strides)(glob)
    glob = layers.Flatten()(glob)
    for units in (1024, 512, 256):
        glob = layers.Dense(units, activation="relu")(glob)
    # Fusion: relu(b + W [global; local]) with W 256x512, computed as
    # W_global @ global (broadcast) + 1x1 conv(W_local) on local -- identical maths.
    glob = layers.Reshape((1, 1, 256))(layers.Dense(256, use_bias=False)(glob))
    x = layers.Add()([_conv(256, kernel=1, activation=None)(local), glob])
    x = layers.ReLU()(x)
    # Colorization network (Table 3).
    x = _conv(128)(x)
    x = layers.UpSampling2D(2)(x)
    x = _conv(64)(x)
    x = _conv(64)(x)
    x = layers.UpSampling2D(2)(x)
    x = _conv(32)(x)
    x = _conv(2, activation="sigmoid")(x)
    outputs = layers.UpSampling2D(2, dtype="float32")(x)
    return keras.Model(inputs, outputs, name="global_local_fusion")


def build_zhang_eccv16(size: Size) -> keras.Model:
    """ECCV16 classification colorizer of Zhang et al. (2016); 32,241,003 params."""
    inputs = keras.Input((*size, 1))
    x = inputs
    blocks = (  # (filters, n_convs, stride of last conv, dilation) for conv1..conv7
        (64, 2, 2, 1),
        (128, 2, 2, 1),
        (256, 3, 2, 1),
        (512, 3, 1, 1),
        (512, 3, 1, 2),
        (512, 3, 1, 2),
        (512, 3, 1, 1),
    )
    for filters, n_convs, last_stride, dilation in blocks:
        for i in range(n_convs):
            strides = last_stride if i == n_convs - 1 else 1
            x = _conv(filters, strides, dilation=dilation)(x)
        x = layers.BatchNormalization()(x)
    x = layers.Conv2DTranspose(256, 4, strides=2, padding="same", activation="relu")(x)
    x = _conv(256)(x)
    x = _conv(256)(x)
    x = _conv(313, kernel=1, activation=None)(x)
    # Annealed mean: softmax(logits / T), then expectation over the 313 ab bins
    # (a bias-free 1x1 conv stands in for the fixed bin centres).
    x = layers.Rescaling(1.0 / ZHANG_TEMPERATURE)(x)
    x = layers.Softmax()(x)
    x = layers.Conv2D(2, 1, use_bias=False)(x)
    outputs = layers.UpSampling2D(4, interpolation="bilinear", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="zhang_eccv16")


def build_naive_hypercolumn(size: Size) -> keras.Model:
    """Full-resolution VGG16 hypercolumns (seed 002, design 1); 14,903,490 params."""
    inputs = keras.Input((*size, 1))
    rgb = layers.Concatenate()([inputs, inputs, inputs])
    vgg = keras.applications.VGG16(include_top=False, weights=None, input_tensor=rgb)
    taps = [vgg.get_layer(name).output for name in VGG16_TAPS]
    columns = [taps[0]] + [
        layers.UpSampling2D(2**i, interpolation="bilinear")(tap) for i, tap in enumerate(taps[1:], 1)
    ]
    x = layers.Concatenate()(columns)
    x = _conv(128, kernel=1)(x)
    outputs = _conv(2, kernel=1, activation="sigmoid", dtype="float32")(x)
    return keras.Model(inputs, outputs, name="naive_hypercolumn")


PEERS: dict[str, PeerSpec] = {
    "plain_cnn": PeerSpec(
        build_plain_cnn,
        "Avery & Amin, CS230 2018 (seed 000), Sec. 4.2: the 12 listed 3x3 convs "
        "(64,64/2,128,128/2,256,256/2,512,256,128,64,32,2-tanh), ReLU. The paper "
        "lists only the convs; the three parameter-free 2x nearest upsamplings (after "
        "conv 9, conv 10 and the output) are placed as in its reference [6] (Wallner's "
        "'beta' network), giving full-resolution output. 'same' padding replaces the "
        "listed P:2 on stride-2 convs so shapes halve exactly (same parameter count).",
        "H, W multiples of 8; None allowed. Trained at 256x256.",
    ),
    "global_local_fusion": PeerSpec(
        build_global_local_fusion,
        "Kaushik et al. (seed 001), Sec. III-B Tables 1-3, i.e. Iizuka et al. SIGGRAPH "
        "2016: Table 1 rows 1-6 = shared low-level network, rows 7-8 = mid-level "
        "(local branch, input resolution); Table 2 = global network (4 convs + FC "
        "1024/512/256) on the low-level features of an in-model bilinear 224x224 "
        "rescale (reused when the input is 224x224); fusion relu(b + W[global; local]) "
        "with W 256x512, implemented as broadcast Dense + 1x1 conv (same maths and "
        "parameters); Table 3 colorization net with nearest upsampling, sigmoid "
        "chroma at H/2, nearest-upsampled to HxW. Deviations: no batch norm (the "
        "tables list none; Iizuka's original uses it) and no classification branch "
        "(training-only). The global convs take the 512-channel low-level output, "
        "as in Iizuka; seed 001 does not say which Table 1 layer feeds them.",
        "H, W multiples of 8; None allowed. Global branch always sees 224x224.",
    ),
    "zhang_eccv16": PeerSpec(
        build_zhang_eccv16,
        "Zhang, Isola & Efros, 'Colorful Image Colorization', ECCV 2016 (layer spec "
        "as in the authors' released eccv16 model): conv1-conv7 (64,128,256,512,512,"
        "512,512; strides 2,2,2 at the end of conv1-3; conv5/conv6 dilation 2), "
        "ReLU, batch norm after each block; conv8 = 4x4/2 transposed conv to 256, "
        "two 3x3 convs, 1x1 to 313 logits at H/4. Annealed mean (T=0.38) via "
        "softmax(logits/T) and a bias-free 1x1 conv 313->2 standing in for the fixed "
        "bin centres; bilinear 4x upsampling to HxW. Input/output scaling omitted.",
        "H, W multiples of 8; None allowed. Published at 256x256.",
    ),
    "naive_hypercolumn": PeerSpec(
        build_naive_hypercolumn,
        "Dahl, 'Automatic Colorization' 2016 (seed 002), first (hypercolumn) design: "
        "gray tiled to 3 channels, Keras VGG16 conv stack (random weights), taps "
        "before each pooling stage (block1_conv2..block5_conv3, 1472 channels) "
        "bilinearly upsampled to HxW and concatenated, then 1x1 conv 1472->128 ReLU "
        "and 1x1 conv 128->2 sigmoid. Deviations: seed 002 tapped only the first 4 "
        "stages plus the input (963 channels) and used batch norm instead of biases; "
        "all 5 stages are tapped here as its conclusion suggests. The seed leaves the "
        "hidden head open (its compared variant: 3x3 convs to 128 and 64); the single "
        "1x1 128-channel hidden layer is our choice.",
        "H, W multiples of 16 and >= 32; None allowed. Published at 224x224.",
    ),
}
