"""Colorization quality metrics: PSNR, SSIM, AuC and colorfulness.

RGB inputs are 8-bit images: ``uint8`` arrays of shape (H, W, 3) with values
in 0..255. Lab chroma inputs are float arrays of shape (H, W, 2) holding the
a and b channels (roughly -128..127).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from skimage.color import rgb2lab
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from hypercol.core.checks import is_whole_number

__all__ = ["NEAR_GRAY_COLORFULNESS", "auc", "auc_rgb", "colorfulness", "evaluate_pair", "hue_error", "psnr", "ssim"]

# A photo less colorful than this (:func:`colorfulness`) is black-and-white or nearly so (ImageNet's samples
# have a few): it has no color to learn or to recover. Training leaves such photos out, and so does evaluation.
NEAR_GRAY_COLORFULNESS = 8.0

_SSIM_WIN = 7  # skimage's default SSIM window size


def _check_array(name: str, arr: NDArray, channels: int, kind: str) -> NDArray:
    """Validate an (H, W, channels) non-empty array; ``kind`` is "rgb" or "ab"."""
    arr = np.asarray(arr)
    if arr.ndim != 3 or arr.shape[-1] != channels:
        msg = f"{name} must have shape (H, W, {channels}), got shape {arr.shape}"
        raise ValueError(msg)
    if kind == "rgb" and arr.dtype != np.uint8:
        msg = f"{name} must have dtype uint8 (8-bit RGB, 0..255), got {arr.dtype}"
        raise ValueError(msg)
    if kind == "ab" and not np.issubdtype(arr.dtype, np.floating):
        msg = f"{name} must have a float dtype (Lab a/b values), got {arr.dtype}"
        raise ValueError(msg)
    if arr.size == 0:
        msg = f"{name} must not be empty, got shape {arr.shape}"
        raise ValueError(msg)
    if kind == "ab" and not np.all(np.isfinite(arr)):
        msg = f"{name} contains NaN or inf; only finite values are allowed"
        raise ValueError(msg)
    return arr


def _check_pair(truth: NDArray, pred: NDArray, channels: int, kind: str) -> tuple[NDArray, NDArray]:
    """Validate both arrays and require identical shapes."""
    truth = _check_array("truth", truth, channels, kind)
    pred = _check_array("pred", pred, channels, kind)
    if truth.shape != pred.shape:
        msg = f"truth and pred must have the same shape, got {truth.shape} and {pred.shape}"
        raise ValueError(msg)
    return truth, pred


def psnr(truth: NDArray[np.uint8], pred: NDArray[np.uint8]) -> float:
    """PSNR in dB between two uint8 (H, W, 3) RGB images; inf if identical."""
    truth, pred = _check_pair(truth, pred, 3, "rgb")
    if np.array_equal(truth, pred):
        return float("inf")
    return float(peak_signal_noise_ratio(truth, pred, data_range=255))


def ssim(truth: NDArray[np.uint8], pred: NDArray[np.uint8]) -> float:
    """Mean SSIM (at most 1) between two uint8 (H, W, 3) RGB images, H, W >= 7."""
    truth, pred = _check_pair(truth, pred, 3, "rgb")
    if min(truth.shape[:2]) < _SSIM_WIN:
        msg = f"ssim needs H and W >= {_SSIM_WIN}, got shape {truth.shape}"
        raise ValueError(msg)
    return float(structural_similarity(truth, pred, channel_axis=-1, data_range=255))


def auc(
    truth_ab: NDArray[np.floating],
    pred_ab: NDArray[np.floating],
    max_threshold: int = 150,
) -> float:
    """AuC (Zhang et al. 2016) in percent, 0..100, of float (H, W, 2) Lab ab arrays.

    The fraction of pixels whose ab L2 error is <= t, averaged over the
    integer thresholds t = 0..max_threshold inclusive.
    """
    truth_ab, pred_ab = _check_pair(truth_ab, pred_ab, 2, "ab")
    if not is_whole_number(max_threshold) or max_threshold < 0:
        msg = f"max_threshold must be a non-negative int, got {max_threshold!r}"
        raise ValueError(msg)
    diff = pred_ab.astype(np.float64) - truth_ab.astype(np.float64)
    dist = np.sort(np.hypot(diff[..., 0], diff[..., 1]), axis=None)
    thresholds = np.arange(max_threshold + 1)
    within = np.searchsorted(dist, thresholds, side="right") / dist.size
    return float(100.0 * within.mean())


def auc_rgb(truth_rgb: NDArray[np.uint8], pred_rgb: NDArray[np.uint8]) -> float:
    """AuC in percent of two uint8 (H, W, 3) RGB images, compared in Lab ab."""
    truth_rgb, pred_rgb = _check_pair(truth_rgb, pred_rgb, 3, "rgb")
    return auc(rgb2lab(truth_rgb)[..., 1:], rgb2lab(pred_rgb)[..., 1:])


def colorfulness(rgb: NDArray[np.uint8]) -> float:
    """Hasler & Süsstrunk colorfulness (papers' |.| variant), uint8 (H, W, 3) RGB.

    With rg = |R - G| and yb = |(R + G) / 2 - B|:
    sqrt(std(rg)^2 + std(yb)^2) + 0.3 * sqrt(mean(rg)^2 + mean(yb)^2); >= 0.
    """
    rgb = _check_array("rgb", rgb, 3, "rgb").astype(np.float64)
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    rg = np.abs(r - g)
    yb = np.abs(0.5 * (r + g) - b)
    std = np.hypot(rg.std(), yb.std())
    mean = np.hypot(rg.mean(), yb.mean())
    return float(std + 0.3 * mean)


HUE_MIN_CHROMA = 5.0  # below this Lab chroma a pixel's hue is undefined (near gray)


def hue_error(truth_rgb: NDArray[np.uint8], pred_rgb: NDArray[np.uint8]) -> dict[str, float]:
    """How far the colors of uint8 (H, W, 3) ``pred_rgb`` are from the truth's, in Lab.

    - ``hue_degrees``: mean absolute hue-angle difference (0..180) over the pixels where
      both truth and prediction have chroma >= :data:`HUE_MIN_CHROMA`; NaN if none do
      (a gray prediction has no hue).
    - ``gray_fraction``: share of the truth's chromatic pixels predicted near gray.
    - ``chroma_error``: mean |C_truth - C_pred| over the truth's chromatic pixels.
    - ``ab_error``: mean Euclidean ab distance over all pixels.
    """
    truth_rgb, pred_rgb = _check_pair(truth_rgb, pred_rgb, 3, "rgb")
    truth_ab, pred_ab = rgb2lab(truth_rgb)[..., 1:], rgb2lab(pred_rgb)[..., 1:]
    truth_chroma, pred_chroma = np.hypot(*np.moveaxis(truth_ab, -1, 0)), np.hypot(*np.moveaxis(pred_ab, -1, 0))
    chromatic = truth_chroma >= HUE_MIN_CHROMA
    both = chromatic & (pred_chroma >= HUE_MIN_CHROMA)
    difference = np.abs(np.arctan2(truth_ab[..., 1], truth_ab[..., 0]) - np.arctan2(pred_ab[..., 1], pred_ab[..., 0]))
    difference = np.degrees(np.minimum(difference, 2 * np.pi - difference))
    return {
        "hue_degrees": float(difference[both].mean()) if both.any() else float("nan"),
        "gray_fraction": float(1.0 - both.sum() / chromatic.sum()) if chromatic.any() else 0.0,
        "chroma_error": float(np.abs(truth_chroma - pred_chroma)[chromatic].mean()) if chromatic.any() else 0.0,
        "ab_error": float(np.hypot(*np.moveaxis(truth_ab - pred_ab, -1, 0)).mean()),
    }


def evaluate_pair(truth_rgb: NDArray[np.uint8], pred_rgb: NDArray[np.uint8]) -> dict[str, float]:
    """psnr, ssim, auc and colorfulness (of pred) for uint8 (H, W, 3) RGB images."""
    return {
        "psnr": psnr(truth_rgb, pred_rgb),
        "ssim": ssim(truth_rgb, pred_rgb),
        "auc": auc_rgb(truth_rgb, pred_rgb),
        "colorfulness": colorfulness(pred_rgb),
    }
