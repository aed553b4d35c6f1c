"""Clips with known truth for the video benchmarks (bench_video.py): camera moves (pans, zooms) over held-out color photos, with cuts.

Each shot is one photo seen through a moving camera: frame pixel x shows photo point
``A_t x`` for an affine ``A_t`` (scale and translation), so the true motion between two
frames of a shot is known exactly. The gray frames are the truth's luminance plus a little
film grain. Photos come from the validation split (:func:`hypercol.training.photos.split_validation`)
of the shared photo sets; nothing is written to disk.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from hypercol.training.photos import split_validation

PHOTOS = Path(os.environ.get("HYPERCOL_PHOTOS", Path(__file__).resolve().parents[2] / "shared" / "photos"))
VALIDATION_FRACTION = 0.1
MOVES = ("pan", "zoom in", "zoom out", "diagonal")


def validation_photos(sets: tuple[str, ...], count: int, seed: int = 0) -> list[Path]:
    """``count`` landscape photos (width >= 1.3 x height) drawn from the validation splits of ``sets``."""
    found = []
    for name in sets:
        files = sorted(str(path) for path in (PHOTOS / name).iterdir() if path.suffix.lower() in (".jpg", ".png"))
        found.extend(Path(path) for path in split_validation(files, VALIDATION_FRACTION)[1])
    landscape = []
    for path in found:
        with Image.open(path) as image:
            if image.mode == "RGB" and image.width >= 1.3 * image.height:
                landscape.append(path)
    rng = np.random.default_rng(seed)
    return [landscape[index] for index in rng.permutation(len(landscape))[:count]]


@dataclass
class Clip:
    """True RGB frames (uint8), their gray versions (uint8), each frame's affine (2, 3) frame -> photo, its shot."""

    truth: list[np.ndarray]
    gray: list[np.ndarray]
    affines: list[np.ndarray]
    shots: list[int]

    @property
    def cuts(self) -> list[int]:
        """Indices of the frames that start a new shot (the first frame excluded)."""
        return [index for index in range(1, len(self.shots)) if self.shots[index] != self.shots[index - 1]]


def _path(move: str, photo_size: tuple[int, int], frame_size: tuple[int, int], frames: int) -> list[np.ndarray]:
    """The affines of one shot: a window of the frame's aspect moving over the photo."""
    (photo_h, photo_w), (frame_h, frame_w) = photo_size, frame_size
    widest = min(photo_w, photo_h * frame_w / frame_h)  # the largest window of the frame's aspect
    times = np.linspace(0.0, 1.0, frames)
    if move == "pan":
        widths, x0, y0 = np.full(frames, 0.75 * widest), times, np.full(frames, 0.5)
    elif move == "diagonal":
        widths, x0, y0 = np.full(frames, 0.7 * widest), 1.0 - times, times
    else:
        grow = np.linspace(0.95, 0.6, frames) if move == "zoom in" else np.linspace(0.6, 0.95, frames)
        widths, x0, y0 = grow * widest, np.full(frames, 0.4), np.full(frames, 0.6)
    affines = []
    for width, fx, fy in zip(widths, x0, y0):
        scale = width / frame_w
        left = fx * (photo_w - width)
        top = fy * (photo_h - scale * frame_h)
        affines.append(np.array([[scale, 0.0, left], [0.0, scale, top]]))
    return affines


def _render(photo: np.ndarray, affine: np.ndarray, frame_size: tuple[int, int]) -> np.ndarray:
    """The frame that ``affine`` (frame -> photo) shows of ``photo``."""
    flags = cv2.INTER_AREA if affine[0, 0] > 1 else cv2.INTER_LINEAR
    return cv2.warpAffine(
        photo, affine, frame_size[::-1], flags=flags | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_REFLECT
    )


def gray_of(rgb: np.ndarray) -> np.ndarray:
    """uint8 sRGB -> uint8 gray of the same CIE lightness (its luminance, sRGB-encoded)."""
    lightness = cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)[..., 0]
    luminance = np.where(lightness > 8.0, ((lightness + 16.0) / 116.0) ** 3, lightness / 903.3)
    srgb = np.where(luminance <= 0.0031308, 12.92 * luminance, 1.055 * luminance ** (1 / 2.4) - 0.055)
    return np.clip(np.rint(255.0 * srgb), 0, 255).astype(np.uint8)


def make_clip(
    photos: list[Path], frame_size: tuple[int, int], frames_per_shot: int, grain: float = 2.0, seed: int = 0
) -> Clip:
    """One shot per photo, the moves taken in turn, cut to the next photo after ``frames_per_shot`` frames."""
    rng = np.random.default_rng(seed)
    clip = Clip([], [], [], [])
    for shot, path in enumerate(photos):
        with Image.open(path) as image:
            photo = np.asarray(image.convert("RGB"))
        for affine in _path(MOVES[(shot + seed) % len(MOVES)], photo.shape[:2], frame_size, frames_per_shot):
            truth = _render(photo, affine, frame_size)
            noisy = gray_of(truth).astype(np.float32) + rng.normal(0.0, grain, frame_size)
            clip.truth.append(truth)
            clip.gray.append(np.clip(np.rint(noisy), 0, 255).astype(np.uint8))
            clip.affines.append(affine)
            clip.shots.append(shot)
    return clip


def _chroma(rgb: np.ndarray) -> np.ndarray:
    """uint8 sRGB -> (H, W, 2) float32 CIE a*b* (OpenCV's conversion of float input is exact CIE Lab)."""
    return cv2.cvtColor(rgb.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)[..., 1:]


def changes(frames: list[np.ndarray], clip: Clip, margin: int = 2) -> list[np.ndarray | None]:
    """Per frame: |a*b* change| (Euclidean, CIE units; (H, W) float32) since the previous frame, along the true
    motion; NaN where the point was outside the previous frame (within ``margin``). None for a shot's first frame.

    Each frame is compared with the previous one warped by the true motion onto it.
    """
    height, width = frames[0].shape[:2]
    rows, cols = np.mgrid[0:height, 0:width]
    found: list[np.ndarray | None] = [None]
    previous_chroma = _chroma(frames[0])
    for index in range(1, len(frames)):
        chroma = _chroma(frames[index])
        if clip.shots[index] != clip.shots[index - 1]:
            found.append(None)
        else:
            # frame index -> photo -> frame index - 1
            now, before = np.vstack([clip.affines[index], [0, 0, 1]]), np.vstack([clip.affines[index - 1], [0, 0, 1]])
            onto = (np.linalg.inv(before) @ now)[:2]
            warped = cv2.warpAffine(
                previous_chroma, onto, (width, height), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
            )
            source_x = onto[0, 0] * cols + onto[0, 1] * rows + onto[0, 2]
            source_y = onto[1, 0] * cols + onto[1, 1] * rows + onto[1, 2]
            valid = (source_x >= margin) & (source_x <= width - 1 - margin)
            valid &= (source_y >= margin) & (source_y <= height - 1 - margin)
            found.append(np.where(valid, np.hypot(*(chroma - warped).transpose(2, 0, 1)), np.nan))
        previous_chroma = chroma
    return found


def flicker(frames: list[np.ndarray], clip: Clip) -> float:
    """Mean |a*b* change| between consecutive frames of a shot along the true motion (:func:`changes`)."""
    values = np.concatenate([change[~np.isnan(change)] for change in changes(frames, clip) if change is not None])
    return float(values.mean())
