"""Tests for hypercol.core.metrics against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hypercol.core.metrics import auc, auc_rgb, colorfulness, evaluate_pair, psnr, ssim

RED = (255, 0, 0)
BLUE = (0, 0, 255)


def _solid(color: tuple[int, int, int], h: int = 8, w: int = 8) -> np.ndarray:
    return np.broadcast_to(np.array(color, dtype=np.uint8), (h, w, 3)).copy()


def _random_rgb(high: int = 256, h: int = 16, w: int = 16) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, high, size=(h, w, 3), dtype=np.uint8)


# --- PSNR ---------------------------------------------------------------


def test_psnr_identical_is_inf() -> None:
    img = _random_rgb()
    assert psnr(img, img.copy()) == float("inf")


def test_psnr_constant_offset_of_five() -> None:
    truth = _random_rgb(high=251)  # no overflow when adding 5
    pred = truth + np.uint8(5)
    # MSE = 25 -> 10*log10(255^2 / 25) = 20*log10(51) ~= 34.1514 dB
    assert psnr(truth, pred) == pytest.approx(20 * math.log10(255 / 5))
    assert psnr(truth, pred) == pytest.approx(34.1514, abs=1e-4)


def test_psnr_single_changed_value() -> None:
    truth = np.zeros((4, 4, 3), dtype=np.uint8)
    pred = truth.copy()
    pred[0, 0, 0] = 48
    # MSE = 48^2 / 48 values = 48
    assert psnr(truth, pred) == pytest.approx(10 * math.log10(255**2 / 48))


# --- SSIM ---------------------------------------------------------------


def test_ssim_identical_is_one() -> None:
    img = _random_rgb()
    assert ssim(img, img.copy()) == pytest.approx(1.0)


def test_ssim_different_is_below_one() -> None:
    img = _random_rgb()
    assert ssim(img, 255 - img) < 0.5


def test_ssim_rejects_images_smaller_than_window() -> None:
    img = _random_rgb(h=6, w=16)
    with pytest.raises(ValueError, match="H and W >= 7"):
        ssim(img, img)


# --- AuC ----------------------------------------------------------------


def _ab(h: int = 10, w: int = 10) -> np.ndarray:
    rng = np.random.default_rng(1)
    # integer-valued floats so that offsets are exact
    return rng.integers(-100, 100, size=(h, w, 2)).astype(np.float64)


def test_auc_identical_is_100() -> None:
    ab = _ab()
    assert auc(ab, ab.copy()) == pytest.approx(100.0)


def test_auc_every_pixel_off_by_30() -> None:
    truth = _ab()
    pred = truth + np.array([18.0, 24.0])  # 3-4-5 triangle: distance 30
    # thresholds 30..150 count: 121 of the 151 thresholds 0..150
    assert auc(truth, pred) == pytest.approx(100 * 121 / 151)
    assert auc(truth, pred) == pytest.approx(80.1325, abs=1e-4)


def test_auc_half_exact_half_far() -> None:
    truth = _ab()
    pred = truth.copy()
    pred[:5, :, 0] += 200.0  # beyond every threshold
    assert auc(truth, pred) == pytest.approx(50.0)


def test_auc_custom_max_threshold_and_float32() -> None:
    truth = np.zeros((3, 3, 2), dtype=np.float32)
    pred = truth + np.float32(1.0)  # distance sqrt(2) ~ 1.414
    # thresholds 0, 1, 2: only t = 2 counts -> 1/3
    assert auc(truth, pred, max_threshold=2) == pytest.approx(100 / 3)


def test_auc_rgb_identical_and_gray_vs_red() -> None:
    gray = _solid((128, 128, 128))
    red = _solid(RED)
    assert auc_rgb(red, red.copy()) == pytest.approx(100.0)
    # Lab(red) ab ~ (80.09, 67.20), gray ab ~ (0, 0): distance ~104.55,
    # so thresholds 105..150 count: 46 of 151
    assert auc_rgb(gray, red) == pytest.approx(100 * 46 / 151)


# --- Colorfulness -------------------------------------------------------


def test_colorfulness_gray_is_zero() -> None:
    gray = np.repeat(_random_rgb()[..., :1], 3, axis=-1)
    assert colorfulness(gray) == pytest.approx(0.0)


def test_colorfulness_solid_red() -> None:
    # rg = 255, yb = 127.5 everywhere: std terms 0
    expected = 0.3 * math.sqrt(255**2 + 127.5**2)
    assert colorfulness(_solid(RED)) == pytest.approx(expected)
    assert colorfulness(_solid(RED)) == pytest.approx(85.5296, abs=1e-4)


def test_colorfulness_half_red_half_blue() -> None:
    img = _solid(RED)
    img[4:] = BLUE
    # red: rg = 255, yb = 127.5; blue: rg = 0, yb = |0 - 255| = 255
    # rg: mean 127.5, std 127.5; yb: mean 191.25, std 63.75
    expected = math.sqrt(127.5**2 + 63.75**2) + 0.3 * math.sqrt(127.5**2 + 191.25**2)
    assert colorfulness(img) == pytest.approx(expected)
    assert colorfulness(img) == pytest.approx(211.5055, abs=1e-4)


# --- evaluate_pair ------------------------------------------------------


def test_evaluate_pair_gray_truth_red_pred() -> None:
    gray = _solid((128, 128, 128))
    red = _solid(RED)
    result = evaluate_pair(gray, red)
    assert set(result) == {"psnr", "ssim", "auc", "colorfulness"}
    assert all(isinstance(v, float) for v in result.values())
    assert result["psnr"] == pytest.approx(psnr(gray, red))
    assert result["ssim"] == pytest.approx(ssim(gray, red))
    assert result["auc"] == pytest.approx(100 * 46 / 151)
    assert result["colorfulness"] == pytest.approx(0.3 * math.sqrt(255**2 + 127.5**2))


def test_evaluate_pair_identical() -> None:
    img = _random_rgb()
    result = evaluate_pair(img, img.copy())
    assert result["psnr"] == float("inf")
    assert result["ssim"] == pytest.approx(1.0)
    assert result["auc"] == pytest.approx(100.0)
    assert result["colorfulness"] == pytest.approx(colorfulness(img))


# --- Validation ---------------------------------------------------------

RGB_PAIR_FUNCS = [psnr, ssim, auc_rgb, evaluate_pair]
OK_RGB = _random_rgb()
OK_AB = _ab()


@pytest.mark.parametrize("func", RGB_PAIR_FUNCS)
@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (OK_RGB[..., 0], r"shape \(H, W, 3\)"),
        (OK_RGB[..., :2], r"shape \(H, W, 3\)"),
        (OK_RGB.astype(np.float64), "dtype uint8"),
        (np.zeros((0, 16, 3), dtype=np.uint8), "must not be empty"),
    ],
)
def test_rgb_pair_funcs_reject_bad_pred(func, bad, match) -> None:
    with pytest.raises(ValueError, match=f"^pred .*{match}"):
        func(OK_RGB, bad)


@pytest.mark.parametrize("func", RGB_PAIR_FUNCS)
def test_rgb_pair_funcs_reject_shape_mismatch(func) -> None:
    with pytest.raises(ValueError, match="same shape"):
        func(OK_RGB, OK_RGB[:8])


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (OK_RGB[0], r"shape \(H, W, 3\)"),
        (OK_RGB.astype(np.int64), "dtype uint8"),
        (np.zeros((4, 0, 3), dtype=np.uint8), "must not be empty"),
    ],
)
def test_colorfulness_rejects_bad_input(bad, match) -> None:
    with pytest.raises(ValueError, match=f"^rgb .*{match}"):
        colorfulness(bad)


def _with(value: float) -> np.ndarray:
    arr = OK_AB.copy()
    arr[2, 3, 1] = value
    return arr


@pytest.mark.parametrize(
    ("bad", "match"),
    [
        (OK_AB[..., 0], r"shape \(H, W, 2\)"),
        (np.zeros((10, 10, 3)), r"shape \(H, W, 2\)"),
        (OK_AB.astype(np.int64), "float dtype"),
        (np.zeros((0, 0, 2)), "must not be empty"),
        (_with(np.nan), "NaN or inf"),
        (_with(np.inf), "NaN or inf"),
        (_with(-np.inf), "NaN or inf"),
    ],
)
def test_auc_rejects_bad_ab(bad, match) -> None:
    with pytest.raises(ValueError, match=f"^truth .*{match}"):
        auc(bad, OK_AB)


def test_auc_rejects_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="same shape"):
        auc(OK_AB, OK_AB[:, :5])


@pytest.mark.parametrize("threshold", [-1, 1.5, True, "150"])
def test_auc_rejects_bad_max_threshold(threshold) -> None:
    with pytest.raises(ValueError, match="max_threshold must be a non-negative int"):
        auc(OK_AB, OK_AB, max_threshold=threshold)


def test_hue_error_of_known_colors() -> None:
    from hypercol.core.metrics import hue_error

    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 200
    gray = np.full((4, 4, 3), 90, np.uint8)
    orange = red.copy()
    orange[..., 1] = 100
    same = hue_error(red, red)
    assert same["hue_degrees"] == pytest.approx(0.0, abs=1e-6) and same["gray_fraction"] == 0.0
    assert same["ab_error"] == pytest.approx(0.0, abs=1e-6)
    shifted = hue_error(red, orange)
    assert 10.0 < shifted["hue_degrees"] < 60.0 and shifted["gray_fraction"] == 0.0
    undefined = hue_error(red, gray)
    assert np.isnan(undefined["hue_degrees"]) and undefined["gray_fraction"] == 1.0
    assert undefined["chroma_error"] > 50.0  # sRGB (200, 0, 0) has Lab chroma about 80
