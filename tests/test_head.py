"""The residual-encoder head: built from tap metadata, bounded chroma, batch-norm folding."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from hypercol.models.backbones import Tap, get_spec
from hypercol.models.head import build_head, fold_batch_norms

RNG = np.random.default_rng(0)


def _inputs(taps, size: int = 64) -> list[np.ndarray]:
    gray = RNG.random((2, size, size, 1)).astype(np.float32)
    return [gray] + [
        RNG.random((2, -(-size // t.stride), -(-size // t.stride), t.channels)).astype(np.float32) for t in taps
    ]


@pytest.mark.parametrize("name", ["vgg16", "resnet50_v2"])
def test_head_fits_every_registered_backbone(name) -> None:
    taps = get_spec(name).taps
    head = build_head(taps, base_width=32, min_width=8)
    out = head(_inputs(taps), training=False).numpy()
    assert out.shape == (2, 64, 64, 2) and out.dtype == np.float32
    assert np.abs(out).max() < 110.0  # soft bound
    # Every tap feeds the head: 1x1 projections read each tap's channel count.
    projections = [layer for layer in head.layers if layer.name.endswith("_project") and layer.name != "gray_project"]
    assert sorted(layer.kernel.shape[2] for layer in projections) == sorted(t.channels for t in taps)


def test_classification_head_stops_at_the_output_stride() -> None:
    taps = get_spec("vgg16").taps
    logits = build_head(taps, base_width=32, outputs=40, output_stride=4)(_inputs(taps), training=False)
    assert logits.shape == (2, 16, 16, 40)


@pytest.mark.parametrize(
    "config",
    [
        {},
        {"global_context": True, "context_blocks": 2},
        {"outputs": 7, "output_stride": 2, "output_kernel": 1},
        {"deep_dropout": 0.5},
    ],
)
def test_folded_batch_norms_give_the_same_function(config) -> None:
    taps = (Tap("deep", 8, 4), Tap("mid", 6, 2), Tap("shallow", 4, 1))
    head = build_head(taps, base_width=16, min_width=8, **config)
    for layer in head.layers:
        if layer.__class__.__name__ == "BatchNormalization":
            shape = layer.gamma.shape
            layer.set_weights(
                [
                    RNG.uniform(0.5, 1.5, shape),
                    RNG.normal(0, 0.3, shape),
                    RNG.normal(0, 0.3, shape),
                    RNG.uniform(0.5, 2, shape),
                ]
            )
    folded = fold_batch_norms(head, taps, base_width=16, min_width=8, **config)
    assert not any(layer.__class__.__name__ == "BatchNormalization" for layer in folded.layers)
    inputs = _inputs(taps, 32)
    np.testing.assert_allclose(folded(inputs).numpy(), head(inputs, training=False).numpy(), atol=1e-4)


def test_deep_dropout_drops_whole_maps_of_the_deepest_tap_in_training_only() -> None:
    taps = (Tap("deep", 8, 4), Tap("shallow", 4, 1))
    plain = build_head(taps, base_width=16, min_width=8)
    dropping = build_head(taps, base_width=16, min_width=8, deep_dropout=0.5)
    dropping.set_weights(plain.get_weights())
    inputs = _inputs(taps, 32)
    np.testing.assert_allclose(dropping(inputs, training=False), plain(inputs, training=False), atol=1e-6)
    assert not np.allclose(dropping(inputs, training=True), plain(inputs, training=True), atol=1e-3)
    deep = inputs[1]
    kept = dropping.get_layer("deep_dropout")(deep, training=True).numpy()
    dropped = np.all(kept == 0, axis=(1, 2))  # (photos, channels): a map is dropped whole, or kept whole, scaled
    assert 0 < dropped.mean() < 1
    np.testing.assert_allclose(np.where(dropped[:, None, None, :], 0, 2 * deep), kept, rtol=1e-6)
    for rate in (-0.1, 1.0):
        with pytest.raises(ValueError, match="deep_dropout"):
            build_head(taps, deep_dropout=rate)


def test_deep_dropout_on_the_two_deepest_taps_drops_the_next_tap_too_and_spares_the_shallowest() -> None:
    taps = (Tap("shallow", 4, 1), Tap("deepest", 8, 4), Tap("middle", 6, 2))  # any spec order: by stride
    plain = build_head(taps, base_width=16, min_width=8)
    dropping = build_head(taps, base_width=16, min_width=8, deep_dropout=0.5, deep_dropout_taps=2)
    dropping.set_weights(plain.get_weights())
    inputs = _inputs(taps, 32)
    np.testing.assert_allclose(dropping(inputs, training=False), plain(inputs, training=False), atol=1e-6)
    dropouts = [layer for layer in dropping.layers if isinstance(layer, keras.layers.SpatialDropout2D)]
    assert [layer.name for layer in dropouts] == ["deep_dropout", "deep_dropout1"]
    middle = inputs[3]
    assert dropping.get_layer("deep_dropout1").input.shape[-1] == middle.shape[-1]
    kept = dropping.get_layer("deep_dropout1")(middle, training=True).numpy()
    dropped = np.all(kept == 0, axis=(1, 2))
    assert 0 < dropped.mean() < 1
    np.testing.assert_allclose(np.where(dropped[:, None, None, :], 0, 2 * middle), kept, rtol=1e-6)
    assert len([layer for layer in build_head(taps, deep_dropout=0.5).layers if "dropout" in layer.name]) == 1
    assert not any("dropout" in layer.name for layer in build_head(taps, deep_dropout_taps=3).layers)
    for count in (0, 4):
        with pytest.raises(ValueError, match="deep_dropout_taps must be between 1 and the 3 taps"):
            build_head(taps, deep_dropout=0.5, deep_dropout_taps=count)


def test_head_needs_taps() -> None:
    with pytest.raises(ValueError, match="at least one tap"):
        build_head(())


def test_context_blocks_look_at_the_neighbours_of_the_deepest_cells() -> None:
    taps = (Tap("deep", 8, 8), Tap("shallow", 4, 4))
    plain = build_head(taps, base_width=16, min_width=8, outputs=5, output_stride=4)
    deeper = build_head(taps, base_width=16, min_width=8, outputs=5, output_stride=4, context_blocks=2)
    added = {layer.name for layer in deeper.layers} - {layer.name for layer in plain.layers}
    assert {"context0_a_conv", "context0_b_conv", "context1_a_conv", "context1_b_conv"} <= added
    # A change in one deep cell reaches outputs farther away than without the blocks.
    inputs = [np.zeros((1, 64, 64, 1), np.float32), RNG.random((1, 8, 8, 8)), RNG.random((1, 16, 16, 4))]
    changed = [inputs[0], inputs[1].copy(), inputs[2]]
    changed[1][0, 0, 0] += 5.0

    def reach(head) -> int:
        difference = np.abs(head(changed, training=False).numpy() - head(inputs, training=False).numpy()).max(-1)
        return int(np.argwhere(difference[0] > 1e-6).max())  # farthest output row or column touched

    assert reach(deeper) > reach(plain)
    with pytest.raises(ValueError, match="context_blocks"):
        build_head(taps, context_blocks=-1)


def test_a_1x1_output_kernel_keeps_each_output_to_its_own_cell() -> None:
    taps = (Tap("deep", 8, 8), Tap("shallow", 4, 4))
    wide, narrow = (
        build_head(taps, base_width=16, min_width=8, outputs=5, output_stride=4, output_kernel=kernel)
        for kernel in (3, 1)
    )
    assert wide.get_layer("chroma").kernel.shape == (3, 3, 8, 5)
    assert narrow.get_layer("chroma").kernel.shape == (1, 1, 8, 5)
    # One cell of the shallow tap changes; its level's 3x3 refinement spreads that to a 3x3
    # neighbourhood, which a 1x1 output keeps and a 3x3 output widens to 5x5.
    inputs = [np.zeros((1, 64, 64, 1), np.float32), RNG.random((1, 8, 8, 8)), RNG.random((1, 16, 16, 4))]
    changed = [inputs[0], inputs[1], inputs[2].copy()]
    changed[2][0, 5, 5] += 5.0

    def touched(head) -> int:
        difference = np.abs(head(changed, training=False).numpy() - head(inputs, training=False).numpy()).max(-1)
        return int((difference[0] > 1e-6).sum())

    assert touched(narrow) == 9 and touched(wide) == 25
    with pytest.raises(ValueError, match="output_kernel"):
        build_head(taps, output_kernel=5)


def test_fused_batch_norm_trains_like_keras_batch_norm() -> None:
    import keras
    import tensorflow as tf

    from hypercol.models.head import BatchNormalization

    x = tf.constant(RNG.normal(3.0, 2.0, (4, 5, 6, 8)), tf.float32)
    upstream = tf.constant(RNG.normal(0, 1, (4, 5, 6, 8)), tf.float32)
    results = []
    for layer in (keras.layers.BatchNormalization(), BatchNormalization()):
        layer.build(x.shape)
        layer.gamma.assign(np.linspace(0.5, 2.0, 8))
        layer.beta.assign(np.linspace(-1.0, 1.0, 8))
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            value = tf.reduce_sum(y * upstream)
        gradients = tape.gradient(value, [x, layer.gamma, layer.beta])
        stats = [layer.moving_mean.numpy(), layer.moving_variance.numpy()]
        results.append([y.numpy(), *(g.numpy() for g in gradients), *stats, layer(x, training=False).numpy()])
    keras_results, fused_results = results
    for expected, got in zip(keras_results, fused_results):
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    assert not np.allclose(keras_results[4], 0.0)  # the moving mean (initially 0) moved: a real training step


def test_heads_saved_with_keras_batch_norms_load_into_fused_ones(tmp_path) -> None:
    import keras

    import hypercol.models.head as head_module

    taps = get_spec("vgg16").taps
    original = head_module.BatchNormalization
    head_module.BatchNormalization = keras.layers.BatchNormalization  # as heads were built before
    try:
        before = build_head(taps, base_width=16, min_width=8)
    finally:
        head_module.BatchNormalization = original
    assert not any(isinstance(layer, original) for layer in before.layers)
    inputs = _inputs(taps, 32)
    before(inputs, training=True)  # moving statistics away from their start
    before.save_weights(tmp_path / "head.weights.h5")
    after = build_head(taps, base_width=16, min_width=8)
    after.load_weights(tmp_path / "head.weights.h5")
    assert any(isinstance(layer, original) for layer in after.layers)
    np.testing.assert_allclose(after(inputs, training=False), before(inputs, training=False), atol=1e-5)
