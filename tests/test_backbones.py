"""The backbone registry, TF Hub loading (local folders, URL handles via the cache, local export)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
import tiny_backbones as tiny

from hub_models import vgg16_hed
from hypercol.models import backbones
from hypercol.models.backbones import BackboneSpec, Tap, get_spec, list_backbones, load_backbone, register_backbone
from hypercol.models.head import build_head

RESNET_HANDLE = "https://tfhub.dev/google/imagenet/resnet_v2_50/feature_vector/3"
RESNET_KEYS = [key for key, _, _ in tiny.RESNET_TAPS]


# --- registry -------------------------------------------------------------------


def test_builtin_backbones_are_registered() -> None:
    names = list_backbones()
    assert {"vgg16", "resnet50_v2"} <= set(names)
    assert names == sorted(names)
    assert get_spec("vgg16").channels == 64 + 128 + 256 + 512 + 512 == 1472
    assert get_spec("vgg16").handle is None and get_spec("vgg16").export is not None
    assert get_spec("resnet50_v2").handle == RESNET_HANDLE
    assert get_spec("resnet50_v2").channels == 3840


def test_unknown_name_lists_registered_backbones() -> None:
    with pytest.raises(ValueError, match="unknown backbone 'vgg19'") as error:
        load_backbone("vgg19")
    assert "vgg16" in str(error.value) and "resnet50_v2" in str(error.value)
    with pytest.raises(ValueError, match="vgg16"):
        get_spec("nope")


def test_missing_local_handle(tmp_path) -> None:
    missing = str(tmp_path / "no_such_model")
    with pytest.raises(ValueError, match="neither a URL nor an existing SavedModel folder"):
        load_backbone(missing, taps=["x"])
    spec = BackboneSpec("ghost", (Tap("x", 1, 1),), "unit_rgb", handle=missing)
    with pytest.raises(ValueError, match="no_such_model"):
        load_backbone(spec)


def test_unregistered_handle_needs_taps(tmp_path) -> None:
    with pytest.raises(ValueError, match="taps= must name"):
        load_backbone(str(tmp_path))


def test_unknown_taps_list_available_keys() -> None:
    with pytest.raises(ValueError, match=r"unknown taps \['block9'\]") as error:
        load_backbone("vgg16", taps=["block1_conv2", "block9"])
    assert "block5_conv3" in str(error.value)
    with pytest.raises(ValueError, match="unknown taps"):
        get_spec("vgg16").select([])


def test_select_keeps_given_order() -> None:
    spec = get_spec("vgg16").select(["block3_conv3", "block1_conv2"])
    assert [tap.key for tap in spec.taps] == ["block3_conv3", "block1_conv2"]
    assert spec.channels == 256 + 64 and spec.max_stride == 4


def test_spec_validation() -> None:
    taps = (Tap("x", 3, 1),)
    with pytest.raises(ValueError, match="input_convention"):
        BackboneSpec("a", taps, "bgr", handle="h")
    with pytest.raises(ValueError, match="exactly one of handle= or export="):
        BackboneSpec("a", taps, "unit_rgb")
    with pytest.raises(ValueError, match="exactly one of handle= or export="):
        BackboneSpec("a", taps, "unit_rgb", handle="h", export=lambda path: None)
    with pytest.raises(ValueError, match="no taps"):
        BackboneSpec("a", (), "unit_rgb", handle="h")
    with pytest.raises(ValueError, match="input_convention"):
        load_backbone("vgg16", input_convention="rgb")
    with pytest.raises(TypeError):
        load_backbone(42)


def test_register_refuses_a_different_spec_under_a_taken_name() -> None:
    spec = BackboneSpec("test_register_twice", (Tap("x", 3, 1),), "unit_rgb", handle="h1")
    assert register_backbone(spec) is spec
    register_backbone(spec)  # the same spec again is fine
    with pytest.raises(ValueError, match="already registered"):
        register_backbone(replace(spec, handle="h2"))
    assert register_backbone(replace(spec, handle="h2"), overwrite=True).handle == "h2"
    backbones._REGISTRY.pop("test_register_twice")


# --- TF Hub loading ----------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_resnet(tmp_path_factory) -> Path:
    return tiny.export_tiny_resnet(tmp_path_factory.mktemp("tiny_resnet") / "module")


def _check_resnet_outputs(backbone) -> None:
    outputs = backbone(tf.random.uniform([2, 64, 96, 3]))
    for tap in get_spec("resnet50_v2").taps:
        assert outputs[tap.key].shape == (2, -(-64 // tap.stride), -(-96 // tap.stride), tap.channels)
        assert outputs[tap.key].dtype == tf.float32


def test_local_folder_with_explicit_taps_probes_channels_and_strides(tiny_resnet) -> None:
    backbone = load_backbone(str(tiny_resnet), taps=RESNET_KEYS, signature="image_feature_vector")
    assert backbone.spec.taps == get_spec("resnet50_v2").taps
    assert backbone.spec.input_convention == "unit_rgb"
    _check_resnet_outputs(backbone)
    assert load_backbone(str(tiny_resnet), taps=RESNET_KEYS, signature="image_feature_vector") is backbone
    with pytest.raises(ValueError, match="no signature 'serving_default'"):
        load_backbone(str(tiny_resnet), taps=RESNET_KEYS)
    with pytest.raises(ValueError, match=r"taps \['block1'\] are not outputs") as error:
        load_backbone(str(tiny_resnet), taps=["block1"], signature="image_feature_vector")
    assert "resnet_v2_50/block4" in str(error.value)


def test_registered_url_handle_loads_from_the_hub_cache_offline(tiny_resnet, tmp_path, monkeypatch) -> None:
    """tensorflow_hub caches a URL handle in $TFHUB_CACHE_DIR/<sha1(handle)>: found there, no download."""
    monkeypatch.setenv("TFHUB_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(backbones, "_LOADED", {})
    with pytest.raises(ValueError, match="could not load TF Hub handle"):  # nothing cached: the download fails
        load_backbone("resnet50_v2")
    tiny.export_tiny_resnet(tmp_path / hashlib.sha1(RESNET_HANDLE.encode()).hexdigest())
    backbone = load_backbone("resnet50_v2")
    assert backbone.spec.name == "resnet50_v2"
    _check_resnet_outputs(backbone)
    assert load_backbone("resnet50_v2", taps=["resnet_v2_50/block2"]).spec.channels == 512


class _Frozen(keras.layers.Layer):
    """A Keras layer that calls a backbone, as a training model might."""

    def __init__(self, backbone, **kwargs) -> None:
        super().__init__(**kwargs)
        self.backbone = backbone

    def call(self, images):
        features = self.backbone(images)
        return [features[tap.key] for tap in self.backbone.spec.taps]


class _TrainableModule(tf.Module):
    """A SavedModel whose variables are marked trainable: Keras still must not see them."""

    def __init__(self) -> None:
        super().__init__()
        self.kernel = tf.Variable(np.ones((1, 1, 3, 4), np.float32), trainable=True)

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    def serve(self, images):
        return {"features": tf.nn.conv2d(images, self.kernel, 2, "SAME")}


def test_backbone_has_no_trainable_variables_reachable_from_keras(tmp_path) -> None:
    module = _TrainableModule()
    tf.saved_model.save(module, str(tmp_path / "m"), signatures={"serving_default": module.serve})
    backbone = load_backbone(str(tmp_path / "m"), taps=["features"])
    assert backbone._module.kernel.trainable  # so the test would catch a leak

    images = keras.Input((None, None, 3))
    head = build_head(backbone.spec.taps, base_width=8, min_width=8)
    gray = keras.layers.Lambda(lambda x: x[..., :1])(images)
    model = keras.Model(images, head([gray, *_Frozen(backbone)(images)]))
    assert model.trainable_weights
    assert {id(w) for w in model.trainable_weights} == {id(w) for w in head.trainable_weights}

    before = backbone._module.kernel.numpy().copy()
    optimizer = keras.optimizers.SGD(1.0)
    batch = tf.random.uniform([1, 8, 8, 3])
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(tf.square(model(batch)))
    optimizer.apply_gradients(zip(tape.gradient(loss, model.trainable_variables), model.trainable_variables))
    np.testing.assert_array_equal(backbone._module.kernel.numpy(), before)


# --- the locally exported VGG16 --------------------------------------------------------


def test_vgg16_is_exported_into_the_hub_cache_once(hub_cache, monkeypatch) -> None:
    assert backbones.hub_cache_dir() == hub_cache
    backbone = load_backbone("vgg16")
    exported = hub_cache / "hypercol" / "vgg16"
    assert (exported / "saved_model.pb").is_file()
    assert any((exported / "variables").iterdir())
    stamp = os.stat(exported / "saved_model.pb").st_mtime_ns
    assert not [p for p in exported.parent.iterdir() if p.name.endswith(".tmp")]  # no staging left behind

    def must_not_export(target):
        raise AssertionError("exported again")

    monkeypatch.setattr(backbones, "_LOADED", {})
    monkeypatch.setitem(backbones._REGISTRY, "vgg16", replace(get_spec("vgg16"), export=must_not_export))
    again = load_backbone("vgg16")
    assert again is not backbone
    assert os.stat(exported / "saved_model.pb").st_mtime_ns == stamp


def _conv_relu(x, kernel, bias):
    return tf.nn.relu(tf.nn.conv2d(x, kernel, 1, "SAME") + bias).numpy()


def test_vgg16_export_computes_the_h5_convolutions() -> None:
    (k1, b1), (k2, b2) = vgg16_hed.read_weights()[0]
    assert k1.shape == (3, 3, 3, 64) and k2.shape == (3, 3, 64, 64)
    rgb = np.random.default_rng(1).uniform(0, 1, (1, 12, 10, 3)).astype(np.float32)
    caffe = rgb[..., ::-1] * 255.0 - np.array([104.00699, 116.66877, 122.67892], np.float32)
    expected = _conv_relu(_conv_relu(caffe, k1, b1), k2, b2)
    backbone = load_backbone("vgg16", taps=["block1_conv2"])
    got = backbone(tf.constant(rgb))["block1_conv2"].numpy()
    assert got.shape == expected.shape == (1, 12, 10, 64)
    # Loose enough for the bf16 graph rewrite, far tighter than any wrong weight, order or convention.
    assert np.abs(got - expected).max() <= 0.02 * np.abs(expected).max()
    rgb_order = rgb * 255.0 - np.array([104.00699, 116.66877, 122.67892], np.float32)
    wrong_order = _conv_relu(_conv_relu(rgb_order, k1, b1), k2, b2)
    assert np.abs(wrong_order - expected).max() > 0.1 * np.abs(expected).max()
