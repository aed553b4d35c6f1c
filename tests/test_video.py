"""colorize_video and ``hypercol colorize-video`` on the tiny backbone + random head, with tiny clips."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest
from skimage import color as skcolor

from hypercol import colorize_video
from hypercol.video import TemporalSettings, colorize_frames

PER_FRAME = TemporalSettings(carry=0.0)
HEIGHT, WIDTH = 48, 64


def texture(seed: int, shape=(120, 200)) -> np.ndarray:
    """A smooth uint8 gray texture: blurred noise at three scales."""
    rng = np.random.default_rng(seed)
    total = np.zeros(shape, np.float32)
    for sigma in (2.0, 6.0, 16.0):
        total += cv2.GaussianBlur(rng.normal(0, 1, shape).astype(np.float32), (0, 0), sigma) * sigma
    total = (total - total.min()) / np.ptp(total)
    return np.rint(30 + 200 * total).astype(np.uint8)


def pan(image: np.ndarray, frames: int, step: int = 3, top: int = 20) -> list[np.ndarray]:
    """A camera moving right by ``step`` pixels a frame over ``image``: (HEIGHT, WIDTH) windows."""
    return [np.ascontiguousarray(image[top : top + HEIGHT, k * step : k * step + WIDTH]) for k in range(frames)]


def chroma(rgb: np.ndarray) -> np.ndarray:
    return skcolor.rgb2lab(rgb)[..., 1:]


def flicker(frames: list[np.ndarray], step: int = 3, margin: int = 8) -> float:
    """Mean |ab change| between consecutive frames of a pan, along the true motion, ``margin`` pixels from the
    frame's border (where the tiny random head's chroma swings as the content moves)."""
    inner = slice(margin, -margin)
    changes = [
        np.hypot(
            *(chroma(now)[inner, inner] - chroma(before)[inner, margin + step : -margin + step]).transpose(2, 0, 1)
        )
        for before, now in itertools.pairwise(frames)
    ]
    return float(np.mean(changes))


# --- the API ------------------------------------------------------------------------------------


def test_per_frame_settings_give_colorize_of_each_frame_in_order(tiny_colorizer) -> None:
    frames = pan(texture(0), 6) + pan(texture(1), 3)
    outputs = list(colorize_frames(tiny_colorizer, iter(frames), settings=PER_FRAME))
    assert len(outputs) == len(frames)
    for frame, output in zip(frames, outputs):
        np.testing.assert_array_equal(output, tiny_colorizer.colorize(frame))


@pytest.mark.parametrize(
    ("convert", "dtype"),
    [
        (lambda gray: gray, np.uint8),
        (lambda gray: gray[..., np.newaxis], np.uint8),
        (lambda gray: np.dstack([gray] * 3), np.uint8),
        (lambda gray: gray.astype(np.uint16) * 257, np.uint8),
        (lambda gray: gray.astype(np.float32) / 255, np.float32),
    ],
)
def test_frame_forms_keep_size_and_lightness(tiny_weights, convert, dtype) -> None:
    frames = [convert(frame) for frame in pan(texture(2), 4)]
    outputs = list(colorize_video(frames, weights=tiny_weights))
    assert len(outputs) == 4
    for frame, output in zip(frames, outputs):
        assert output.shape == (HEIGHT, WIDTH, 3) and output.dtype == dtype
        gray = frame.reshape(HEIGHT, WIDTH, -1)[..., 0]
        gray = gray / 65535.0 if gray.dtype == np.uint16 else gray
        truth = skcolor.rgb2lab(np.dstack([gray] * 3))[..., 0]
        assert np.abs(skcolor.rgb2lab(output)[..., 0] - truth).max() <= 1.0


def test_first_frame_is_colorize_and_later_frames_flicker_less(tiny_colorizer) -> None:
    frames = pan(texture(3), 12)
    video = list(colorize_frames(tiny_colorizer, frames))
    per_frame = list(colorize_frames(tiny_colorizer, frames, settings=PER_FRAME))
    np.testing.assert_array_equal(video[0], per_frame[0])
    assert not any(np.array_equal(a, b) for a, b in zip(video[1:], per_frame[1:]))  # blended, never reset
    assert flicker(video) < 0.5 * flicker(per_frame)


def test_a_cut_resets_the_colors(tiny_colorizer) -> None:
    first, second = pan(texture(4), 6), pan(texture(5), 6)
    video = list(colorize_frames(tiny_colorizer, first + second))
    per_frame = list(colorize_frames(tiny_colorizer, first + second, settings=PER_FRAME))
    cut = len(first)
    np.testing.assert_array_equal(video[cut], per_frame[cut])  # nothing of the first shot in it
    assert not any(np.array_equal(video[k], per_frame[k]) for k in (*range(1, cut), *range(cut + 1, len(video))))


def test_frames_are_read_only_as_they_are_asked_for(tiny_colorizer) -> None:
    read = []

    def frames():
        for index, frame in enumerate(pan(texture(6), 30, step=1)):
            read.append(index)
            yield frame

    outputs = colorize_frames(tiny_colorizer, frames())
    assert read == []  # nothing read before the first frame is asked for
    for index, _ in enumerate(outputs):
        assert len(read) == index + 1  # one frame in, one frame out: no look-ahead, nothing held
    assert len(read) == 30


def test_hints_of_a_key_frame_follow_the_motion_until_the_cut(tiny_colorizer) -> None:
    frames = pan(texture(7), 8) + pan(texture(8), 2)
    hints = np.zeros((HEIGHT, WIDTH, 4), np.uint8)
    hints[20:28, 40:48] = (255, 0, 0, 255)  # red on the first frame
    hinted = list(colorize_frames(tiny_colorizer, frames, hints=hints))
    plain = list(colorize_frames(tiny_colorizer, frames))
    np.testing.assert_allclose(hinted[0], tiny_colorizer.colorize(frames[0], hints=hints), atol=1)
    for index in (3, 7):  # the hinted place moved left by 3 pixels a frame
        left = 40 - 3 * index
        redness = lambda rgb, left=left: chroma(rgb[20:28, left : left + 8])[..., 0].mean()
        assert redness(hinted[index]) > redness(plain[index]) + 10
    np.testing.assert_array_equal(hinted[8], plain[8])  # after the cut: no hint left


def test_reference_steers_every_frame(tiny_colorizer) -> None:
    frames = pan(texture(9), 3)
    reference = np.zeros((40, 40, 3), np.uint8)
    reference[...] = (40, 160, 60)
    outputs = list(colorize_frames(tiny_colorizer, frames, reference=reference, settings=PER_FRAME))
    for frame, output in zip(frames, outputs):
        np.testing.assert_allclose(output, tiny_colorizer.colorize(frame, reference=reference), atol=1)


def test_frames_of_another_size_are_refused_when_reached(tiny_colorizer) -> None:
    frames = [*pan(texture(10), 3), np.zeros((HEIGHT, WIDTH + 2), np.uint8)]
    outputs = colorize_frames(tiny_colorizer, frames)
    assert len([next(outputs) for _ in range(3)]) == 3
    with pytest.raises(ValueError, match=r"frame 3 is 66x48, but the first frame is 64x48"):
        next(outputs)


@pytest.mark.parametrize(
    ("frame", "error", "match"),
    [
        (np.zeros((HEIGHT, WIDTH, 4), np.uint8), ValueError, r"frame 0 has shape .*allowed: \(H, W\)"),
        (np.zeros((2, HEIGHT, WIDTH, 1), np.uint8), ValueError, r"frame 0 has shape"),
        (np.zeros((HEIGHT, WIDTH), np.int32), TypeError, r"frame 0 has dtype int32"),
    ],
)
def test_bad_frames(tiny_colorizer, frame, error, match) -> None:
    with pytest.raises(error, match=match):
        next(colorize_frames(tiny_colorizer, [frame]))


def test_knobs_and_hints_are_checked_at_the_call(tiny_weights) -> None:
    with pytest.raises(ValueError, match="saturation"):
        colorize_video([], weights=tiny_weights, saturation=-1.0)
    with pytest.raises(ValueError, match="frame indices"):
        colorize_video([], weights=tiny_weights, hints={-1: np.zeros((HEIGHT, WIDTH, 4), np.uint8)})
    with pytest.raises(TypeError):
        colorize_video(3, weights=tiny_weights)
    assert list(colorize_video([], weights=tiny_weights)) == []
