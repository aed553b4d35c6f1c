"""colorize / Colorizer on the tiny backbone + random head: forms, dtypes, sizes, lightness, errors."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image
from skimage import color as skcolor
from skimage import data

from hypercol import Colorizer, colorize

RNG = np.random.default_rng(0)
CAMERA = data.camera()[::4, ::4]  # 128 x 128 uint8, a real photograph
ASTRONAUT = data.astronaut()[::4, ::4]  # 128 x 128 x 3


def lightness(rgb: np.ndarray) -> np.ndarray:
    """skimage's CIE L of uint8 / float RGB (gray repeated)."""
    if rgb.ndim == 2 or rgb.shape[-1] == 1:
        rgb = np.dstack([rgb.reshape(rgb.shape[:2])] * 3)
    if rgb.dtype == np.uint16:
        rgb = rgb / 65535.0
    return skcolor.rgb2lab(rgb[..., :3])[..., 0]


def chroma(rgb: np.ndarray) -> np.ndarray:
    lab = skcolor.rgb2lab(rgb[..., :3])
    return np.hypot(lab[..., 1], lab[..., 2])


# --- forms and dtypes ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "shape"),
    [
        (CAMERA, (128, 128, 3)),
        (CAMERA[..., None], (128, 128, 3)),
        (ASTRONAUT, (128, 128, 3)),
        (np.dstack([ASTRONAUT, RNG.integers(0, 256, (128, 128), dtype=np.uint8)]), (128, 128, 4)),
    ],
    ids=["HW", "HW1", "HW3", "HW4"],
)
def test_input_forms(tiny_weights, image, shape) -> None:
    out = colorize(image, weights=tiny_weights)
    assert out.shape == shape and out.dtype == np.uint8
    if shape[-1] == 4:
        np.testing.assert_array_equal(out[..., 3], image[..., 3])
    assert np.abs(lightness(out) - lightness(image)).max() <= 1.0
    assert chroma(out).mean() > 5  # the random head really colors


@pytest.mark.parametrize(
    ("dtype", "scale", "out_dtype"),
    [
        (np.uint8, 255, np.uint8),
        (np.uint16, 65535, np.uint8),
        (np.float32, 1, np.float32),
        (np.float64, 1, np.float32),
        (np.float16, 1, np.float32),
    ],
)
def test_dtypes(tiny_colorizer, dtype, scale, out_dtype) -> None:
    unit = CAMERA / 255.0
    image = (np.rint(unit * scale) if scale > 1 else unit).astype(dtype)
    out = tiny_colorizer.colorize(image)
    assert out.dtype == out_dtype and out.shape == (128, 128, 3)
    if out_dtype == np.float32:
        assert 0.0 <= out.min() and out.max() <= 1.0
        tolerance = 0.1 if dtype == np.float16 else 0.02
        assert np.abs(lightness(out.astype(np.float64)) - lightness(image.astype(np.float64))).max() <= tolerance
    else:
        assert np.abs(lightness(out) - lightness(image)).max() <= 1.0


def test_float_alpha_kept(tiny_colorizer) -> None:
    image = RNG.uniform(0, 1, (20, 30, 4)).astype(np.float32)
    out = tiny_colorizer.colorize(image)
    assert out.dtype == np.float32 and out.shape == (20, 30, 4)
    np.testing.assert_array_equal(out[..., 3], image[..., 3])


def test_uint16_alpha_becomes_8_bit(tiny_colorizer) -> None:
    image = RNG.integers(0, 65536, (9, 11, 4), dtype=np.uint16)
    out = tiny_colorizer.colorize(image)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 3], np.rint(image[..., 3] / 257.0).astype(np.uint8))


def test_gray_and_alpha_as_from_a_pillow_la_image_comes_out_rgba(tiny_colorizer) -> None:
    gray_alpha = np.stack([CAMERA[:40, :50], RNG.integers(0, 256, (40, 50), dtype=np.uint8)], axis=-1)
    la = Image.fromarray(gray_alpha)
    assert la.mode == "LA"
    out = tiny_colorizer.colorize(np.asarray(la))  # (40, 50, 2): one image, not 40 images 50 x 2
    assert out.shape == (40, 50, 4) and out.dtype == np.uint8
    np.testing.assert_array_equal(out[..., 3], gray_alpha[..., 1])
    assert np.abs(lightness(out[..., :3]) - lightness(gray_alpha[..., 0])).max() <= 1.0
    as_rgba = np.concatenate([np.repeat(gray_alpha[..., :1], 3, axis=-1), gray_alpha[..., 1:]], axis=-1)
    np.testing.assert_array_equal(out, tiny_colorizer.colorize(as_rgba))
    batch = tiny_colorizer.colorize(np.stack([gray_alpha, gray_alpha]))
    assert batch.shape == (2, 40, 50, 4)
    np.testing.assert_array_equal(batch[1], out)


def test_a_huge_gray_and_alpha_image_is_refused_before_its_rgba_is_made(tiny_colorizer) -> None:
    import tracemalloc

    huge = np.broadcast_to(np.float32(0), (20_000, 20_000, 2))  # 3.2 GB as RGBA float32
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="more than 100,000,000 pixels"):
            tiny_colorizer.colorize(huge)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000


SIZES = [(1, 1), (1, 300), (300, 1), (7, 5), (513, 257), (257, 513), (2000, 3000)]


@pytest.mark.parametrize("size", SIZES, ids=["x".join(map(str, size)) for size in SIZES])
def test_sizes(tiny_colorizer, size) -> None:
    image = RNG.integers(0, 256, size, dtype=np.uint8)
    out = tiny_colorizer.colorize(image)
    assert out.shape == (*size, 3) and out.dtype == np.uint8
    step = max(1, int(np.sqrt(image.size / 250_000)))  # skimage is slow on millions of pixels: sample
    assert np.abs(lightness(out[::step, ::step]) - lightness(image[::step, ::step])).max() <= 1.0


def test_8000_square(tiny_colorizer) -> None:
    image = np.add.outer(np.arange(8000) // 40, np.arange(8000) // 50).astype(np.uint8)
    out = tiny_colorizer.colorize(image)
    assert out.shape == (8000, 8000, 3) and out.dtype == np.uint8
    assert np.abs(lightness(out[::97, ::89]) - lightness(image[::97, ::89])).max() <= 1.0


# --- batches, tracing, threads ----------------------------------------------------------------


def _crops(count: int) -> np.ndarray:
    return np.stack([data.camera()[i * 37 : i * 37 + 90, i * 41 : i * 41 + 70] for i in range(count)])


def test_batch_equals_single_images(tiny_weights) -> None:
    colorizer = Colorizer(tiny_weights, batch_size=4)  # 11 images: batches of 4, 4, 3
    crops = _crops(11)
    batched = colorizer.colorize(crops)
    assert batched.shape == (11, 90, 70, 3)
    for crop, out in zip(crops, batched):
        np.testing.assert_array_equal(out, colorizer.colorize(crop))
    rgba = np.concatenate([np.repeat(crops[..., None], 3, -1), crops[..., None]], axis=-1)
    batched_rgba = colorizer.colorize(rgba)
    assert batched_rgba.shape == (11, 90, 70, 4)
    np.testing.assert_array_equal(batched_rgba[..., 3], crops)
    np.testing.assert_array_equal(batched_rgba[..., :3], batched)
    assert not np.array_equal(batched[0], batched[1])


def test_one_trace_for_every_size(tiny_weights) -> None:
    colorizer = Colorizer(tiny_weights)
    for shape in [(7, 5), (64, 64), (1, 300), (513, 257), (3, 40, 30), (9, 17, 23, 3)]:
        colorizer.colorize(RNG.integers(0, 256, shape, dtype=np.uint8))
    _assert_traced_once(colorizer.network)


def _assert_traced_once(network) -> None:
    """The automatic path's two graphs (backbone, then head and decoding) were each traced once."""
    assert network.canvas_and_features.experimental_get_tracing_count() == 1
    assert network.head_coefficients.experimental_get_tracing_count() == 1


def test_thread_safety(tiny_weights) -> None:
    colorizer = Colorizer(tiny_weights)  # fresh: the threads race for the first trace too
    crops = [crop[: 60 + 3 * i] for i, crop in enumerate(_crops(8))]  # different sizes
    barrier = threading.Barrier(8)

    def run(crop):
        barrier.wait()
        return colorizer.colorize(crop)

    with ThreadPoolExecutor(8) as pool:
        parallel = list(pool.map(run, crops))
    sequential = [colorizer.colorize(crop) for crop in crops]
    for expected, got in zip(sequential, parallel):
        np.testing.assert_array_equal(got, expected)
    _assert_traced_once(colorizer.network)


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "error", "match"),
    [
        (np.zeros((0, 4), np.uint8), ValueError, r"image is empty: shape \(0, 4\)$"),  # the shape given
        (np.zeros((3, 0, 4, 3), np.uint8), ValueError, "empty"),
        (np.full((4, 4), np.nan, np.float32), ValueError, "NaN or infinite"),
        (np.full((4, 4), np.inf), ValueError, "NaN or infinite"),
        (np.full((4, 4), 1.5, np.float32), ValueError, r"must lie in \[0, 1\]"),
        (np.full((4, 4), -0.1), ValueError, r"must lie in \[0, 1\]"),
        (np.zeros(4, np.uint8), ValueError, "shape"),
        (np.zeros((1, 2, 3, 4, 1), np.uint8), ValueError, "shape"),
        (np.zeros((4, 4), bool), TypeError, "bool"),
        (np.zeros((4, 4), np.complex64), TypeError, "complex64"),
        (np.zeros((4, 4), object), TypeError, "object"),
        (np.zeros((4, 4), np.int32), TypeError, "int32"),
        (np.zeros((1, 4, 4, 5), np.uint8), ValueError, "5 channels"),
        (np.broadcast_to(np.uint8(0), (10001, 10001)), ValueError, "more than 100,000,000 pixels"),
        (np.broadcast_to(np.float32(0), (2, 10001, 10001, 3)), ValueError, "more than 100,000,000 pixels"),
        ("gray.png", TypeError, "dtype"),
        ([[0, 64], [128, 255]], TypeError, r"from a list of Python ints: use np.array\(\.\.\., np.uint8\)"),
        (np.full((4, 4), 1 + 1e-12), ValueError, r"got values in \[1.000000000001, 1.000000000001\]"),  # not [1, 1]
    ],
)
def test_bad_inputs(tiny_colorizer, image, error, match) -> None:
    with pytest.raises(error, match=match):
        tiny_colorizer.colorize(image)


def test_pil_image_is_pointed_to_the_filter(tiny_weights) -> None:
    from PIL import Image

    with pytest.raises(TypeError, match="ColorizeFilter"):
        colorize(Image.new("L", (4, 4)), weights=tiny_weights)


def test_bad_weights(tiny_weights, tmp_path) -> None:
    with pytest.raises(ValueError, match="weights.h5"):
        Colorizer(tmp_path / "head.h5")
    with pytest.raises(ValueError, match="model card .* not found"):
        Colorizer(tmp_path / "head.weights.h5")
    (tmp_path / "head.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        Colorizer(tmp_path / "head.weights.h5")
    (tmp_path / "head.json").write_text(tiny_weights.with_name("tiny.json").read_text())
    with pytest.raises(ValueError, match="head weights .* not found"):
        Colorizer(tmp_path / "head.weights.h5")
    for bad in (0, 2.5, "4", True):
        with pytest.raises(ValueError, match="batch_size must be a whole number >= 1"):
            Colorizer(tiny_weights, batch_size=bad)
    with pytest.raises(TypeError, match="guidance must be a GuidanceSettings, got dict"):
        Colorizer(tiny_weights, guidance={"top_k": 4})
    card = json.loads(tiny_weights.with_name("tiny.json").read_text())
    (tmp_path / "odd.json").write_text(json.dumps({**card, "working_size": 72}))
    (tmp_path / "odd.weights.h5").write_bytes(tiny_weights.read_bytes())
    with pytest.raises(ValueError, match="multiple of the backbone's stride 16"):
        Colorizer(tmp_path / "odd.weights.h5")


def test_head_selection_is_validated(tiny_weights) -> None:
    from hypercol.models.card import resolve_weights
    from hypercol.models.shipped import DEFAULT_WEIGHTS, SHIPPED_HEADS

    assert (
        resolve_weights() == DEFAULT_WEIGHTS
        and resolve_weights(head="classification") == SHIPPED_HEADS["classification"]
    )
    assert resolve_weights(tiny_weights) == tiny_weights
    with pytest.raises(ValueError, match="head must be one of"):
        colorize(np.zeros((4, 4), np.uint8), head="rainbow")
    with pytest.raises(ValueError, match="either weights= .* or head="):
        colorize(np.zeros((4, 4), np.uint8), head="regression", weights=tiny_weights)


# --- robustness (issue 10) ---------------------------------------------------------------------


def test_masked_arrays_with_masked_values_are_refused(tiny_colorizer) -> None:
    hidden_nan = np.ma.masked_invalid(np.where(np.eye(6, dtype=bool), np.nan, 0.5))
    hidden_out_of_range = np.ma.masked_greater(np.where(np.eye(6, dtype=bool), 7.0, 0.25), 1.0)
    for image in (hidden_nan, hidden_out_of_range, np.ma.masked_all((6, 6), np.uint8)):
        with pytest.raises(ValueError, match=r"masked array with \d+ masked values.*filled\("):
            tiny_colorizer.colorize(image)
    nothing_masked = np.ma.masked_invalid(CAMERA[:20, :30])
    np.testing.assert_array_equal(tiny_colorizer.colorize(nothing_masked), tiny_colorizer.colorize(CAMERA[:20, :30]))


@pytest.mark.parametrize("dtype", [">u2", ">f4", ">f8", ">u1"])
def test_big_endian_inputs_equal_native_ones(tiny_colorizer, dtype) -> None:
    native = np.dtype(dtype).newbyteorder("=")
    image = CAMERA[:20, :30].astype(native) if native.kind == "u" else (CAMERA[:20, :30] / 255.0).astype(native)
    if native == np.uint16:
        image = image * np.uint16(257)
    np.testing.assert_array_equal(tiny_colorizer.colorize(image.astype(dtype)), tiny_colorizer.colorize(image))


def test_numpy_numbers_are_knobs(tiny_colorizer) -> None:
    image = CAMERA[:20, :30]
    expected = tiny_colorizer.colorize(image, saturation=0.5)
    for value in (np.float32(0.5), np.float64(0.5), np.float16(0.5)):
        np.testing.assert_array_equal(tiny_colorizer.colorize(image, saturation=value), expected)
    np.testing.assert_array_equal(
        tiny_colorizer.colorize(image, saturation=np.int64(1)), tiny_colorizer.colorize(image, saturation=1.0)
    )
    for value in (True, np.bool_(True), "0.5", [0.5], 0.5j):
        with pytest.raises(TypeError, match="saturation must be a real number"):
            tiny_colorizer.colorize(image, saturation=value)
    for value in (True, "1"):  # the fallback knob as the others ("1" gave numpy's isfinite error, True passed)
        with pytest.raises(TypeError, match="uncertainty fallback must be a real number"):
            tiny_colorizer.colorize(image, fallback=value)
    with pytest.raises(ValueError, match="uncertainty fallback must be a finite number >= 0"):
        tiny_colorizer.colorize(image, fallback=-1.0)


@pytest.mark.parametrize("saturation", [1e15, 1e300, 101.0])
def test_saturation_beyond_its_bound_is_refused(tiny_colorizer, saturation) -> None:
    with pytest.raises(ValueError, match=r"saturation must be a finite number in \[0, 100\]"):
        tiny_colorizer.colorize(CAMERA[:8, :8], saturation=saturation)


def test_strongest_saturation_is_finite_in_gamut_and_keeps_lightness(tiny_colorizer) -> None:
    image = CAMERA[:40, :50]
    floats = tiny_colorizer.colorize(image / 255.0, saturation=100.0)
    assert np.isfinite(floats).all() and floats.min() >= 0.0 and floats.max() <= 1.0
    eight_bit = tiny_colorizer.colorize(image, saturation=100.0)
    assert np.abs(lightness(eight_bit) - lightness(image)).max() <= 1.0  # not black
    assert chroma(eight_bit).mean() > chroma(tiny_colorizer.colorize(image, saturation=0.25)).mean()


def test_color_math_bounds_any_chroma() -> None:
    from hypercol.core.color import rgb8_from_lightness_and_chroma, rgb_from_lightness_and_chroma

    lightness_values = np.array([0.0, 0.5, 50.0, 99.0, 100.0] * 4, np.float32)
    ab = np.array([[1e17, 1e17], [-1e30, 3e38], [np.inf, 0.0], [np.nan, 5.0], [-3e38, -3e38]] * 4, np.float32)
    rgb = rgb_from_lightness_and_chroma(lightness_values, ab).numpy()
    assert np.isfinite(rgb).all() and rgb.min() >= 0.0 and rgb.max() <= 1.0
    np.testing.assert_allclose(lightness(rgb[np.newaxis].astype(np.float64))[0], lightness_values, atol=0.05)
    rgb8 = rgb8_from_lightness_and_chroma(lightness_values, ab).numpy()
    assert np.abs(lightness(rgb8[np.newaxis])[0] - lightness_values).max() <= 1.0


def test_batch_of_too_many_pixels_is_refused_before_allocating(tiny_colorizer) -> None:
    many = np.broadcast_to(np.uint8(0), (101, 1000, 1000))  # each image fits, the whole call does not
    with pytest.raises(ValueError, match="101,000,000 pixels in 101 images.*fewer images per call"):
        tiny_colorizer.colorize(many)


def test_unreadable_weights_and_malformed_cards(tiny_weights, tmp_path) -> None:
    card = tiny_weights.with_name("tiny.json").read_text()
    (tmp_path / "garbage.weights.h5").write_bytes(b"not hdf5" * 64)
    (tmp_path / "garbage.json").write_text(card)
    with pytest.raises(ValueError, match="head weights .*garbage.weights.h5.* could not be read"):
        Colorizer(tmp_path / "garbage.weights.h5")
    (tmp_path / "listed.weights.h5").write_bytes(tiny_weights.read_bytes())
    for text, match in [
        ("[1, 2]", "must be a JSON object, got a list"),
        ('"tiny"', "must be a JSON object, got a str"),
        (json.dumps({"taps": ["a"]}), "lacks 'backbone'"),
    ]:
        (tmp_path / "listed.json").write_text(text)
        with pytest.raises(ValueError, match=match):
            Colorizer(tmp_path / "listed.weights.h5")
