"""Video colorization without flicker (issue 25): ``colorize_video(frames)`` yields colorized frames in order.

Each frame goes through the same network as :func:`hypercol.colorize`; what changes is the
chroma at the working shape before its edge-aware upsampling. The previous frame's output
chroma is carried along the motion (OpenCV's DIS optical flow between the two frames'
working-shape lightness) and blended with the new prediction where the warp is reliable
(the warped lightness matches the new frame's): an exponential average along the motion,
so a surface keeps its color while it moves and the frame-to-frame noise of the head
averages out. Where the warp fails (disocclusions, the image border) the new prediction
is taken as it is. A shot cut (the lightness histogram jumps, or little of the frame can be
followed) resets the average, so colors are never blended across a cut.

Color hints given for a key frame become a residual on the chroma (as in
:mod:`hypercol.inference.guidance`) that is carried along the motion to the following frames, until
the next cut; a reference photo steers every frame.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

import hypercol.core.quiet_tensorflow  # noqa: F401  # isort: skip -- first: TensorFlow's start-up lines hidden
import tensorflow as tf

from hypercol.core.arrays import ImageBatch, as_image_batch, lightness
from hypercol.core.checks import is_whole_number
from hypercol.inference.colorizer import Colorizer, get_colorizer
from hypercol.inference.compose import compose
from hypercol.inference.guidance import (
    CELL,
    DEFAULT_SETTINGS,
    Grid,
    check_hints,
    chroma_and_cells,
    hint_cells,
    prepare_reference,
    propagate_hints,
    transfer_reference,
    upsampled_groups,
)
from hypercol.inference.network import ChromaNetwork

__all__ = ["TemporalSettings", "DEFAULT_TEMPORAL", "TemporalChroma", "colorize_video", "colorize_frames"]

VIDEO_CHANNELS = (1, 3)


@dataclass(frozen=True)
class TemporalSettings:
    """How strongly the chroma is carried along the motion, and what counts as a cut (chosen in README, "Video")."""

    carry: float = 0.9  # weight of the warped previous chroma where the warp is fully reliable; 0 = per frame
    lightness_sigma: float = 8.0  # CIE L mismatch of the warped lightness at which the weight falls to 1/e
    histogram_cut: float = 0.3  # a cut when half the L1 distance of the lightness histograms exceeds this ...
    followed_cut: float = 0.15  # ... or when less than this share of the frame is followed ...
    followed_mismatch: float = 3.0  # ... within this CIE L mismatch of the warped lightness
    histogram_bins: int = 32  # of the lightness histograms


DEFAULT_TEMPORAL = TemporalSettings()
# OpenCV's DIS flow refuses images under 8 pixels a side and crashes the process on some under 16 rows
# (measured, OpenCV 5.1: 8-15 rows at 64-100 columns, 12-15 rows at 160-224): thinner frames are colored
# one by one, never followed.
MIN_FOLLOWED_SIDE = 16


class _Graphs:
    """The traced coefficient call of one network, apart from its chroma (ChromaNetwork.chroma): the temporal blend goes between."""

    def __init__(self, network: ChromaNetwork) -> None:
        self.network = network
        planes = tf.TensorSpec([None, None, None], tf.float32)
        self.coefficients = tf.function(
            network.coefficients, input_signature=[planes, tf.TensorSpec([None, None, None, 2], tf.float32)]
        )


def _graphs_for(network: ChromaNetwork) -> _Graphs:
    return network.added_graphs("video", _Graphs)


class TemporalChroma:
    """The chroma carried from frame to frame at the working shape; :meth:`step` once per frame, in order."""

    def __init__(self, settings: TemporalSettings = DEFAULT_TEMPORAL) -> None:
        self.settings = settings
        self.flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
        self.lightness: np.ndarray | None = None  # (h, w) uint8, 2.55 per CIE L unit
        self.histogram: np.ndarray | None = None
        self.chroma: np.ndarray | None = None  # (h, w, 2) the last output
        self.residual: np.ndarray | None = None  # (h, w, 2) the carried hint residual, or None

    def step(self, small_lightness: np.ndarray, predicted: np.ndarray, residual: np.ndarray | None = None):
        """(h, w) CIE L and (h, w, 2) predicted chroma of the next frame -> (h, w, 2) float32, its chroma.

        ``residual`` (h, w, 2): the hints of this frame, replacing the carried ones."""
        gray = np.clip(np.rint(small_lightness * 2.55), 0, 255).astype(np.uint8)
        bins = self.settings.histogram_bins
        histogram = np.bincount(gray.ravel().astype(np.int64) * bins // 256, minlength=bins) / gray.size
        cut = self.lightness is None or self.lightness.shape != gray.shape or min(gray.shape) < MIN_FOLLOWED_SIDE
        if not cut:
            cut = 0.5 * np.abs(histogram - self.histogram).sum() > self.settings.histogram_cut
        if not cut:
            maps, mismatch = self._follow(gray)
            cut = np.mean(mismatch < self.settings.followed_mismatch) < self.settings.followed_cut
        if cut:
            chroma, carried = predicted, None
        else:
            weight = np.exp(-((mismatch / self.settings.lightness_sigma) ** 2))
            warped = cv2.remap(self.chroma, *maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            blend = (self.settings.carry * weight)[..., np.newaxis]
            chroma = blend * warped + (1.0 - blend) * predicted
            carried = None
            if self.residual is not None:
                warped = cv2.remap(self.residual, *maps, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                carried = (mismatch < self.settings.lightness_sigma)[..., np.newaxis] * warped  # kept where followed
        self.lightness, self.histogram, self.chroma = gray, histogram, chroma.astype(np.float32)
        self.residual = residual if residual is not None else carried
        return self.chroma if self.residual is None else self.chroma + self.residual

    def _follow(self, gray: np.ndarray) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
        """Where each pixel of the new frame was in the last one (remap maps), and the CIE L mismatch (h, w) of the
        last frame's lightness warped from there (infinite where that is outside the last frame)."""
        flow = self.flow.calc(gray, self.lightness, None)
        height, width = gray.shape
        map_x = (np.arange(width, dtype=np.float32) + flow[..., 0]).astype(np.float32)
        map_y = (np.arange(height, dtype=np.float32)[:, np.newaxis] + flow[..., 1]).astype(np.float32)
        inside = (map_x >= 0) & (map_x <= width - 1) & (map_y >= 0) & (map_y <= height - 1)
        warped = cv2.remap(self.lightness, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        mismatch = cv2.blur(np.abs(warped.astype(np.float32) - gray.astype(np.float32)) / 2.55, (3, 3))
        return (map_x, map_y), np.where(inside, mismatch, np.inf).astype(np.float32)


def _key_hints(hints) -> dict[int, object]:
    """``hints``: None, one RGBA array (for the first frame) or a mapping {frame index: RGBA array}."""
    if hints is None:
        return {}
    if not isinstance(hints, Mapping):
        return {0: hints}
    for index in hints:
        if not is_whole_number(index) or index < 0:
            msg = f"hints must map frame indices (int >= 0) to RGBA arrays, got the key {index!r}"
            raise ValueError(msg)
    return {int(index): value for index, value in hints.items()}


def _check_frame(frame, index: int, size: tuple[int, int] | None):
    """One frame as an :class:`~hypercol.core.arrays.ImageBatch` of one image; ValueError for a wrong shape or size."""
    batch = as_image_batch(frame, name=f"frame {index}")
    if batch.batched or batch.pixels.shape[-1] not in VIDEO_CHANNELS:
        msg = f"frame {index} has shape {np.shape(frame)}; allowed: (H, W), (H, W, 1) or (H, W, 3)"
        raise ValueError(msg)
    if size is not None and batch.size != size:
        (height, width), (first_height, first_width) = batch.size, size
        msg = (
            f"frame {index} is {width}x{height}, but the first frame is {first_width}x{first_height}: "
            "all frames of a video must have the same size"
        )
        raise ValueError(msg)
    return batch


def _guided_chroma(colorizer: Colorizer, stacked: tf.Tensor, knobs, reference, hints):
    """Like :meth:`_Graphs._chroma` plus the reference's transfer; and the residual of ``hints`` (an
    ImageBatch, or None) on top of it, kept apart so that it can be carried to the next frames."""
    cells, _ = chroma_and_cells(colorizer.network, stacked, knobs)
    chroma, small_lightness, cell_lightness, cell_chroma, features = cells
    grid = Grid(cell_lightness[0].numpy(), cell_chroma[0].numpy(), features[0].numpy())
    settings = DEFAULT_SETTINGS.for_backbone(colorizer.backbone.spec)
    shape = tuple(small_lightness.shape[1:3])
    chroma = chroma[0].numpy()
    transferred = np.zeros((*grid.shape, 2), np.float32)
    if reference is not None:
        transferred = transfer_reference(grid, reference, settings)
        chroma = chroma + upsampled_groups(transferred, CELL, shape)
    hinted = None
    if hints is not None and np.any(hints.pixels[0][..., 3]):
        total, hint_chroma = hint_cells(hints.pixels[0], shape, grid.shape)
        steered = Grid(grid.lightness, grid.chroma + transferred, grid.features)
        hinted = upsampled_groups(propagate_hints(steered, total > 0, hint_chroma, settings), CELL, shape)
    return chroma, small_lightness, hinted


def _colorized(colorizer: Colorizer, frames: Iterator, knobs, key_hints: dict, reference, settings: TemporalSettings):
    graphs = _graphs_for(colorizer.network)
    temporal = TemporalChroma(settings)
    size, count = None, 0
    for index, frame in enumerate(frames):
        batch = _check_frame(frame, index, size)
        if size is None:  # every key frame's hints checked against the first frame, before any work
            key_hints = _checked_key_hints(key_hints, batch)
        size, count = batch.size, index + 1
        full_lightness = lightness(batch, 0)
        stacked = tf.constant(full_lightness[np.newaxis])
        hints = key_hints.get(index)
        if hints is None and reference is None:
            chroma, small_lightness = colorizer.network.chroma(stacked, *knobs)
            chroma, hinted = chroma[0].numpy(), None
        else:
            chroma, small_lightness, hinted = _guided_chroma(colorizer, stacked, knobs, reference, hints)
        chroma = temporal.step(small_lightness[0].numpy(), chroma, hinted)
        coefficients = graphs.coefficients(small_lightness, tf.constant(chroma[np.newaxis]))
        yield compose(full_lightness, coefficients[0], as_uint8=batch.is_integer)
    unused = sorted(index for index in key_hints if index >= count)
    if unused:
        warnings.warn(f"hints for frames {unused} not used: the video has {count} frame(s)", UserWarning, stacklevel=2)


def _checked_key_hints(key_hints: dict, first: ImageBatch) -> dict:
    """Each key frame's hints checked against the first frame (all frames share its size); ValueError naming it."""
    checked = {}
    for index, hints in key_hints.items():
        try:
            checked[index] = check_hints(hints, first)
        except (ValueError, TypeError) as error:
            raise type(error)(f"hints of frame {index}: {error}") from error
    return checked


def colorize_frames(
    colorizer: Colorizer,
    frames: Iterable,
    *,
    temperature: float | None = None,
    saturation: float | None = None,
    hints=None,
    reference=None,
    settings: TemporalSettings = DEFAULT_TEMPORAL,
) -> Iterator[np.ndarray]:
    """:func:`colorize_video` with a given :class:`~hypercol.inference.colorizer.Colorizer` and temporal ``settings``.

    The knobs and the reference are checked at the call; each frame when it is reached.
    """
    knobs = colorizer.knobs(temperature, saturation)
    key_hints = _key_hints(hints)
    prepared = None if reference is None else prepare_reference(colorizer, reference)
    return _colorized(colorizer, iter(frames), knobs, key_hints, prepared, settings)


def colorize_video(
    frames: Iterable,
    *,
    head: str | None = None,
    weights: str | Path | None = None,
    temperature: float | None = None,
    saturation: float | None = None,
    hints=None,
    reference=None,
) -> Iterator[np.ndarray]:
    """Colorizes the frames of a video one by one, in order, without flicker.

    ``frames``: an iterable of frames of one size, each (H, W), (H, W, 1) or (H, W, 3)
    (reduced to its luminance); uint8, uint16, or float in [0, 1]. Returns an iterator of
    RGB frames (H, W, 3): uint8 for integer input, float32 in [0, 1] for float input. It
    reads a frame only when the caller asks for its colorized frame, so memory does not grow
    with the video's length. Each frame's CIE lightness is kept, as :func:`hypercol.colorize`
    keeps it.

    ``head``, ``weights``, ``temperature``, ``saturation`` and ``reference`` (a color photo
    for every frame) as for :func:`hypercol.colorize`. ``hints``: an (H, W, 4) RGBA array for
    the first frame, or a mapping {frame index: RGBA array} of key frames; a key frame's hints
    are carried along the motion to the frames after it, until the next cut.
    """
    colorizer = get_colorizer(weights, head)
    return colorize_frames(
        colorizer, frames, temperature=temperature, saturation=saturation, hints=hints, reference=reference
    )
