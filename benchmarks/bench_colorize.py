"""hypercol end to end: colorize at the seed-001 sizes, single and batched (the rows the peers
are compared with), against a plain float32 Keras VGG16 forward and 2048x2048 against 256x256;
the ensemble against the default head; hypercolumn extraction."""

import pytest
import tensorflow as tf
from cases import (
    COLORIZE_2048_VS_256_ROUNDS,
    ENSEMBLE_ROUNDS,
    HYPERCOL_BATCHED,
    HYPERCOL_SINGLE,
    HYPERCOLUMN_SIZES,
    VGG16_BATCH,
    VGG16_ROUNDS,
)
from harness import PRECISION, graph_gflop, gray_images

HYPERCOL_PRECISION = {"bfloat16": "bf16 (oneDNN rewrite)", "mixed_float16": "fp16 (AMP rewrite)"}.get(
    PRECISION, "float32"
)


def _measure_colorize(measure, colorizer, hypercol_gflop, images, rounds: int, group: str, size: int, batch: int):
    """Times ``colorize`` of ``images`` as one row of the end-to-end table (kind "hypercol")."""
    measure(
        lambda: colorizer.colorize(images),
        images=batch,
        rounds=rounds,
        group=group,
        kind="hypercol",
        name="hypercol colorize",
        size=size,
        batch=batch,
        precision=HYPERCOL_PRECISION,
        network_input=colorizer.working_size,
        network_gflop=hypercol_gflop,
    )


@pytest.mark.parametrize("size", list(HYPERCOL_SINGLE))
def test_colorize_single(measure, colorizer, hypercol_gflop, size):
    image = gray_images(None, size)
    _measure_colorize(
        measure, colorizer, hypercol_gflop, image, HYPERCOL_SINGLE[size], f"colorize {size}x{size}", size, 1
    )


@pytest.mark.parametrize(("size", "batch"), list(HYPERCOL_BATCHED))
def test_colorize_batched(measure, colorizer, hypercol_gflop, size, batch):
    images = gray_images(batch, size)
    group = f"colorize {size}x{size} batch {batch}"
    _measure_colorize(measure, colorizer, hypercol_gflop, images, HYPERCOL_BATCHED[size, batch], group, size, batch)


def test_colorize_batch_vs_keras_vgg16(measure, colorizer, keras_vgg16):
    """colorize 16 x 256 x 256 uint8 against the plain float32 Keras VGG16 conv stack
    (random weights, eager) on the same 16 x 256 x 256 x 3 batch, the two alternating round by round."""
    batch, size = VGG16_BATCH
    images = gray_images(batch, size)
    pixels = tf.constant(images[..., None].repeat(3, axis=-1), tf.float32)
    measure(
        lambda: colorizer.colorize(images),
        images=batch,
        rounds=VGG16_ROUNDS,
        group="colorize vs yardstick",
        reference=lambda: keras_vgg16(pixels, training=False).numpy(),
        kind="colorize_batch_vs_vgg16",
        name="colorize vs Keras VGG16 forward (float32, eager)",
        size=size,
        batch=batch,
        precision=HYPERCOL_PRECISION,
        reference_precision="float32 (eager)",
        path=colorizer.description,
        reference_gflop=graph_gflop(lambda x: keras_vgg16(x, training=False), [1, size, size, 3]),
    )


def test_colorize_2048_vs_256(measure, colorizer):
    """colorize of one 2048 x 2048 image against one 256 x 256 image, alternating round by round."""
    big, small = gray_images(None, 2048), gray_images(None, 256)
    measure(
        lambda: colorizer.colorize(big),
        images=1,
        rounds=COLORIZE_2048_VS_256_ROUNDS,
        group="colorize vs yardstick",
        reference=lambda: colorizer.colorize(small),
        kind="colorize_2048_vs_256",
        name="colorize 2048x2048 vs 256x256",
        size=2048,
        batch=1,
        reference_size=256,
        precision=HYPERCOL_PRECISION,
    )


def test_ensemble_vs_default(measure, colorizer):
    """colorize 16 x 256 x 256 with the shipped ensemble against the default head, alternating round by round."""
    import numpy as np

    from hypercol.inference.colorizer import Colorizer
    from hypercol.models.shipped import SHIPPED_HEADS

    ensemble = Colorizer(SHIPPED_HEADS["ensemble"])
    ensemble.colorize(np.zeros((256, 256), np.uint8))  # traced and compiled outside the timing
    batch, size = VGG16_BATCH
    images = gray_images(batch, size)
    measure(
        lambda: ensemble.colorize(images),
        images=batch,
        rounds=ENSEMBLE_ROUNDS,
        group="colorize vs yardstick",
        reference=lambda: colorizer.colorize(images),
        kind="ensemble_vs_default",
        name="colorize with head='ensemble' vs the default head",
        size=size,
        batch=batch,
        precision=HYPERCOL_PRECISION,
        path=ensemble.description,
    )


@pytest.mark.parametrize("size", list(HYPERCOLUMN_SIZES))
def test_hypercolumns(measure, colorizer, size):
    from hypercol.models.hypercolumns import hypercolumns

    image = gray_images(None, size)
    measure(
        lambda: hypercolumns(image, "vgg16", size=(size, size)),
        images=1,
        rounds=HYPERCOLUMN_SIZES[size],
        group=f"hypercolumns {size}x{size}",
        kind="hypercolumns",
        name="hypercolumns(image, size=(H, W)), 1472 channels",
        size=size,
        batch=1,
        precision=HYPERCOL_PRECISION + " (backbone SavedModel call)",
    )
