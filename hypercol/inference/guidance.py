"""User guidance without training: color hints and reference photos (issue 9).

Both steer the automatic result through a **residual** on a coarse grid over the
colorizer's working canvas (one cell = :data:`CELL` x :data:`CELL` working pixels, the
classification head's output stride): the chroma becomes the automatic chroma plus the
residual, and the residual goes through the same edge-aware upsampling as the automatic
chroma (a guided filter against the lightness); far from any guidance the residual is
zero and the result is the automatic one.

Every cell carries a descriptor of the frozen backbone's hypercolumn there: each tap is
L2-normalised, projected to :data:`FEATURE_DIMS` dimensions by a fixed random matrix
(Johnson-Lindenstrauss) and pooled or upsampled to the grid, and the taps are summed
(weighted by :func:`tap_weights`, in the graph); descriptors are centred on their mean and
L2-normalised before use, so the cosine of two cells says how alike the two places look
to the backbone.

**Hints** (Levin, Lischinski & Weiss 2004, with hypercolumn affinities): with ``a`` the
automatic chroma and ``h_i`` the chroma of the hint in cell ``i``, the residual ``r``
minimises, over the cells,

    sum over neighbouring cells p, q   w_pq |r_p - r_q|^2            (edge-aware smoothness)
  + sum over hinted cells i            hint |a_i + r_i - h_i|^2      (the hint wins where it is)
  + sum over cells p                   K_p |a_p + r_p - h(p)|^2      (same-looking places take its color)
  + prior * sum over cells p           |r_p|^2                       (elsewhere: the automatic chroma)

where ``w_pq`` falls with the lightness step and the descriptor distance between
neighbours (color stops at edges), ``h(p)`` is the color of the hints most like cell
``p`` and ``K_p`` a kernel of how alike its best match is (descriptor cosine, lightness,
distance): it carries a hint to far parts of the same object. The system (a grid
Laplacian plus a positive diagonal) is banded and is solved directly by Cholesky.

**Reference photo**: the backbone runs on the reference's own lightness (gray against
gray); each group of input cells takes the chroma of its most similar reference cells
(top-k, softmax of the cosines), with their similarity as a confidence; the residual is
``confidence * (transferred - automatic)``, so places that match nothing well keep the
automatic chroma. It is not smoothed over the grid by default: the groups' colors,
upsampled bilinearly, are smooth already and the guided upsampling makes them follow the
photo's edges (``reference_smoothness`` > 0 solves for it with the hints' smoothness term).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

import hypercol.core.quiet_tensorflow  # noqa: F401  # isort: skip -- first: TensorFlow's start-up lines hidden
import tensorflow as tf
from scipy.linalg import solveh_banded

from hypercol.core import color
from hypercol.core.arrays import ImageBatch, as_image_batch
from hypercol.core.checks import check_number, is_whole_number
from hypercol.inference.ensemble import EnsembleNetwork
from hypercol.inference.network import ChromaNetwork, fitted_shape, lightness_batches

__all__ = [
    "CELL",
    "FEATURE_DIMS",
    "GuidanceSettings",
    "DEFAULT_SETTINGS",
    "Reference",
    "ReferencePhoto",
    "prepare_reference",
    "guiding_network",
    "chroma_and_cells",
    "prepare_guide",
    "Guide",
]

CELL = 4  # working pixels per grid cell
FEATURE_DIMS = 64  # descriptor dimensions after the fixed random projection
PROJECTION_SEED = 9
GRAY_REFERENCE_CHROMA = 2.0  # a reference whose cells all have less chroma than this is gray


@dataclass(frozen=True)
class GuidanceSettings:
    """Bandwidths and weights of hints and reference transfer (tuned on validation photos: docs/measurements/guidance.md)."""

    # Edge-aware smoothness between neighbouring cells (both hints and reference).
    smoothness: float = 3.0  # scale of the neighbour weights w_pq
    lightness_sigma: float = 4.0  # CIE L step at which w_pq falls to exp(-1/2)
    feature_scale: float = 0.3  # descriptor distance (1 - cosine) at which w_pq falls to exp(-1)
    # Hints.
    hint: float = 100.0  # weight that keeps a hinted cell at the hint's chroma
    prior: float = 0.002  # pull of every cell towards the automatic chroma
    attraction: float = 1.0  # pull of a cell towards the hints that look like it
    attraction_scale: float = 0.15  # 1 - cosine at which that pull falls to exp(-1)
    selectivity: float = 1.0  # how much the best-matching hints outweigh the others
    attraction_lightness_sigma: float = 10.0  # CIE L difference at which the pull falls to exp(-1/2)
    attraction_distance: float = 0.5  # distance (share of the grid's long side) at which it falls to exp(-1/2)
    # Reference photos.
    # The reference's canvas (long side, pixels; rounded to the backbone's stride, at most the working
    # size): a fixed size, not a share of the working size, as backbone features change with scale. 192
    # and cells matched in groups of 4 x 4 keep a new reference each call within 1.5x an automatic call
    # on float32 CPUs (1.38-1.44x at 512 x 512 on a 2-core AMD EPYC, against 1.51-1.67x at 224 and 2 x 2)
    # for 0.5-0.7 dB of the same-photo gain (+3.28 / +3.18 against +3.99 / +3.65; the bar is +2):
    # GuidanceSettings(reference_size=224, match_stride=2) for those (docs/measurements/guidance.md).
    reference_size: int = 192
    reference_stride: int = 2  # the reference's cells pooled in groups of this many on a side (4x fewer to match)
    top_k: int = 8
    match_stride: int = 4  # cells matched in groups of this many on a side (16x fewer matches at 4)
    match_temperature: float = 0.05  # softmax temperature over the top-k cosines
    # Top-k mean cosine with confidence 0 (automatic) and 1 (transferred); None: the backbone's own
    # (BackboneSpec.reference_confidence), as cosines spread differently from backbone to backbone.
    confidence_low: float | None = None
    confidence_high: float | None = None
    # Edge-aware smoothing of the transferred chroma, as ``smoothness`` for hints (with ``transfer`` its data
    # weight); 0: none. Measured on validation photos, smoothing gains nothing (README, "Color hints") and its
    # grid solve cost about 5 ms of a 512 x 512 call.
    reference_smoothness: float = 0.0
    transfer: float = 1.0  # weight of the blended chroma against ``reference_smoothness``

    def __post_init__(self) -> None:
        # Every cell's data term is at least ``prior`` (hints) or ``transfer`` (reference): the grid
        # system stays positive definite, so its Cholesky solve never fails. Scales and temperatures
        # divide: 0 or infinity would turn a call's colors into NaN, so every number is checked here.
        for name in _POSITIVE:
            check_number(
                getattr(self, name), f"GuidanceSettings.{name}", "a finite number > 0", lambda v: 0 < v < np.inf
            )
        for name in _NON_NEGATIVE:
            check_number(
                getattr(self, name), f"GuidanceSettings.{name}", "a finite number >= 0", lambda v: 0 <= v < np.inf
            )
        for name in _COUNTS:
            value = getattr(self, name)
            if not is_whole_number(value) or value < 1:
                msg = f"GuidanceSettings.{name} must be a whole number >= 1, got {value!r}"
                raise ValueError(msg)
        for name in ("confidence_low", "confidence_high"):
            if getattr(self, name) is not None:
                check_number(getattr(self, name), f"GuidanceSettings.{name}", "None or a finite number", np.isfinite)
        low, high = self.confidence_low, self.confidence_high
        if low is not None and high is not None and not high > low:
            msg = f"GuidanceSettings.confidence_high must be above confidence_low, got {high!r} and {low!r}"
            raise ValueError(msg)

    def for_backbone(self, spec) -> GuidanceSettings:
        """These settings with the confidence bounds of the backbone ``spec`` where none are set."""
        low, high = spec.reference_confidence
        return replace(
            self,
            confidence_low=low if self.confidence_low is None else self.confidence_low,
            confidence_high=high if self.confidence_high is None else self.confidence_high,
        )


_POSITIVE = (
    "prior",
    "transfer",
    "lightness_sigma",
    "feature_scale",
    "attraction_scale",
    "attraction_lightness_sigma",
    "attraction_distance",
    "match_temperature",
)
_NON_NEGATIVE = ("smoothness", "reference_smoothness", "hint", "attraction", "selectivity")
_COUNTS = ("reference_size", "reference_stride", "top_k", "match_stride")


DEFAULT_SETTINGS = GuidanceSettings()


# --- the network pass: automatic coefficients plus the grid ---------------------------


def cell_count(small_lightness: tf.Tensor) -> tf.Tensor:
    """(N, h, w) at the working shape -> [rows, cols] of its grid of cells."""
    return (tf.shape(small_lightness)[1:3] + CELL - 1) // CELL


def pool_cells(values: tf.Tensor) -> tf.Tensor:
    """(N, h, w, C) at the working shape -> (N, ceil(h / CELL), ceil(w / CELL), C) cell means.

    A cell at the bottom or right edge that the shape cuts is the mean of its pixels inside
    (zero padding, divided by the share inside): any shape, a working shape one pixel thin
    (a 2 x 1000 photo) included, where mirrored padding cannot reach a whole cell.
    """
    shape = tf.shape(values)
    padding = [[0, 0], [0, -shape[1] % CELL], [0, -shape[2] % CELL], [0, 0]]
    sums = tf.nn.avg_pool2d(tf.pad(values, padding), CELL, CELL, "VALID")
    inside = tf.nn.avg_pool2d(tf.pad(tf.ones_like(values[:1, ..., :1]), padding), CELL, CELL, "VALID")
    return sums / inside


class _Graphs:
    """The traced functions guidance adds to one :class:`~hypercol.inference.network.ChromaNetwork`."""

    def __init__(self, network: ChromaNetwork) -> None:
        self.network = network
        self.taps = network.backbone.spec.taps
        rng = np.random.default_rng(PROJECTION_SEED)
        scale = 1.0 / np.sqrt(FEATURE_DIMS)
        self.projections = [
            tf.constant((rng.standard_normal((tap.channels, FEATURE_DIMS)) * scale).astype(np.float32))
            for tap in self.taps
        ]
        self.tap_weights = tap_weights(self.taps)
        # The backbone and the descriptors in one graph, the head in another (see ChromaNetwork). The
        # input's descriptors are computed beside the backbone, as they are in a new reference's graph
        # (chroma_cells_and_reference): the bf16 rewrite rounds them differently from graph to graph, and a
        # prepared reference must steer a call exactly as the same photo given new.
        planes = tf.TensorSpec([None, None, None], tf.float32)
        self._described_features = tf.function(self._features_and_descriptors, input_signature=[planes])
        descriptors = tf.TensorSpec([None, None, None, FEATURE_DIMS], tf.float32)
        self._cells = tf.function(self._head_cells, input_signature=[*network.head_signature, descriptors])
        chroma = tf.TensorSpec([None, None, None, 2], tf.float32)
        self.steered_coefficients = tf.function(
            self._steered_coefficients, input_signature=[tf.TensorSpec([None, None, None], tf.float32), chroma, chroma]
        )
        self._reference = {}
        self._with_reference = {}

    def descriptors(self, features: dict, size: int, cells: tf.Tensor) -> tf.Tensor:
        """Backbone taps on a ``size`` canvas -> (N, rows, cols, FEATURE_DIMS) descriptors: weighted sums of projected taps.

        A fine tap is pooled to the grid, then normalised and projected; a deep one is
        normalised and projected where it is, then upsampled: with FEATURE_DIMS channels
        instead of its hundreds. Taps of weight 0 are not computed.
        """
        grid = size // CELL
        descriptors = 0.0
        for tap, projection, weight in zip(self.taps, self.projections, self.tap_weights):
            if weight == 0:
                continue
            values = tf.cast(features[tap.key], tf.float32)
            if tap.stride < CELL:
                values = tf.nn.avg_pool2d(values, CELL // tap.stride, CELL // tap.stride, "VALID")
            values = tf.einsum("nhwc,cd->nhwd", tf.math.l2_normalize(values, axis=-1), projection)
            if tap.stride > CELL:
                values = tf.image.resize(values, [grid, grid], method="bilinear")
            descriptors += float(weight) * values[:, : cells[0], : cells[1]]
        return descriptors

    def chroma_and_cells(self, full_lightness, temperature, saturation, fallback):
        """(N, H, W) CIE L -> automatic chroma and lightness at the working shape, and per cell: lightness, chroma, descriptors."""
        canvas, small_lightness, features, descriptors = self._described_features(full_lightness)
        return self._cells(canvas, small_lightness, features, temperature, saturation, fallback, descriptors)

    def _features_and_descriptors(self, full_lightness):
        canvas, small_lightness, features = self.network.working_features(full_lightness)
        cells = cell_count(small_lightness)
        return canvas, small_lightness, features, self.descriptors(features, self.network.working_size, cells)

    def _head_cells(self, canvas, small_lightness, features, temperature, saturation, fallback, descriptors):
        """The head's chroma, and per cell: lightness, chroma and the given ``descriptors``."""
        chroma = self.network.chroma_of_features(canvas, small_lightness, features, temperature, saturation, fallback)
        cell_lightness = pool_cells(small_lightness[..., tf.newaxis])[..., 0]
        return chroma, small_lightness, cell_lightness, pool_cells(chroma), descriptors

    def _steered_coefficients(self, small_lightness, chroma, residual):
        """(N, h, w) CIE L, (N, h, w, 2) automatic chroma and (N, rows, cols, 2) residual per cell -> (N, h, w, 4)."""
        shape = tf.shape(small_lightness)
        cells = tf.shape(residual)[1:3]
        upsampled = tf.image.resize(residual, cells * CELL, method="bilinear")[:, : shape[1], : shape[2]]
        return self.network.coefficients(small_lightness, chroma + upsampled)

    def reference(self, size: int, stride: int, dtype: tf.DType):
        """The traced reference pass for a ``size`` canvas, cells pooled by ``stride``:
        (1, H, W, 3) sRGB (``dtype``: uint8, or float32 in [0, 1]) -> cell lightness, chroma, descriptors."""
        if (size, stride, dtype) not in self._reference:
            spec = tf.TensorSpec([1, None, None, 3], dtype)
            self._reference[size, stride, dtype] = tf.function(
                functools.partial(self._reference_pass, size=size, stride=stride), input_signature=[spec]
            )
        return self._reference[size, stride, dtype]

    def chroma_cells_and_reference(self, size: int, stride: int, dtype: tf.DType):
        """:meth:`chroma_and_cells` and a new reference's pass (:meth:`reference`):
        ``(lightness, *knobs, rgb) -> (cells, reference)``.

        The two backbone passes run in one graph. On a canvas of the working size the reference
        joins the input's batch: 2 x 224 in one batch cost 23.6 ms at batch 1 on a 2-core Xeon
        with AMX (bf16), about what 224 and 160 side by side cost (24.1). On another canvas the
        two run side by side (they do not depend on each other). The head follows in its own graph.
        """
        if (size, stride, dtype) not in self._with_reference:
            spec = [tf.TensorSpec([None, None, None], tf.float32), tf.TensorSpec([1, None, None, 3], dtype)]
            self._with_reference[size, stride, dtype] = tf.function(
                functools.partial(self._features_and_reference, size=size, stride=stride), input_signature=spec
            )
        both = self._with_reference[size, stride, dtype]

        def cells_and_reference(full_lightness, temperature, saturation, fallback, rgb):
            canvas, small_lightness, features, descriptors, reference = both(full_lightness, rgb)
            knobs = (temperature, saturation, fallback)
            return self._cells(canvas, small_lightness, features, *knobs, descriptors), reference

        return cells_and_reference

    def _features_and_reference(self, full_lightness, rgb, size: int, stride: int):
        canvas, small_lightness = self.network.working_canvas(full_lightness)
        reference_canvas, reference_cells = self._reference_canvas(rgb, size)
        working_size = self.network.working_size
        cells, reference_grid = cell_count(small_lightness), tf.shape(reference_cells[0])[1:3]
        if size == working_size:  # one batch through the backbone
            count = tf.shape(canvas)[0]
            both = self.network.backbone(tf.concat([canvas, reference_canvas], axis=0))
            features = {key: value[:count] for key, value in both.items()}
            reference_features = {key: value[count:] for key, value in both.items()}
        else:
            features, reference_features = self.network.backbone(canvas), self.network.backbone(reference_canvas)
        descriptors = self.descriptors(features, working_size, cells)
        reference_descriptors = self.descriptors(reference_features, size, reference_grid)
        reference = self._reference_cells(reference_descriptors, stride, *reference_cells)
        return canvas, small_lightness, features, descriptors, reference

    def _reference_pass(self, rgb, size: int, stride: int):
        canvas, cells = self._reference_canvas(rgb, size)
        descriptors = self.descriptors(self.network.backbone(canvas), size, tf.shape(cells[0])[1:3])
        return self._reference_cells(descriptors, stride, *cells)

    def _reference_canvas(self, rgb, size: int):
        """(1, H, W, 3) sRGB (uint8, or float32 in [0, 1]) -> its gray canvas of ``size``, and its cells' lightness
        and chroma."""
        # Color and lightness are pooled to the canvas anyway: the photo is first brought to the canvas's
        # fitted shape (here, beside the input's backbone pass, rather than before it). 8-bit levels are
        # resized as they are (the area mean is linear) and scaled to [0, 1] after.
        shape = tf.shape(rgb)[1:3]
        small = fitted_shape(shape, size)
        scale = 1.0 / 255.0 if rgb.dtype == tf.uint8 else 1.0
        rgb = scale * tf.cond(
            tf.reduce_all(shape == small),
            lambda: tf.cast(rgb, tf.float32),
            lambda: tf.image.resize(rgb, small, method="area"),
        )
        # Edge padding to the square canvas (as the input's), then one kernel of fixed shape for the color math.
        rows, cols = tf.minimum(tf.range(size), small[0] - 1), tf.minimum(tf.range(size), small[1] - 1)
        square = tf.ensure_shape(tf.gather(tf.gather(rgb, rows, axis=1), cols, axis=2), [1, size, size, 3])
        canvas, lab = _gray_and_lab(square)
        cells = pool_cells(lab[:, : small[0], : small[1]])
        return canvas, (cells[..., 0], cells[..., 1:])

    @staticmethod
    def _reference_cells(descriptors, stride: int, cell_lightness, cell_chroma):
        """The reference's cells (descriptors, lightness, chroma) pooled in groups of ``stride`` x ``stride``
        cells (the mean of the cells inside the photo)."""
        pooled = lambda values: tf.nn.avg_pool2d(values, stride, stride, "SAME")
        return pooled(cell_lightness[..., tf.newaxis])[..., 0], pooled(cell_chroma), pooled(descriptors)


@tf.function(jit_compile=True)
def _gray_and_lab(rgb: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """(1, size, size, 3) sRGB in [0, 1] -> its (1, size, size, 1) sRGB gray of the same lightness and its Lab.

    One XLA kernel, compiled once per canvas size: as separate graph ops the conversion of a 224 x 224
    reference took 2.7 ms more of a call (2-core Xeon with AMX).
    """
    lab = color.rgb_to_lab(rgb)
    return color.gray_from_lightness(lab[..., :1]), lab


def guiding_network(network) -> ChromaNetwork:
    """The network whose backbone places hints and matches references: ``network``, or an ensemble's first member."""
    return network.members[0] if isinstance(network, EnsembleNetwork) else network


def graphs_for(network) -> _Graphs:
    """The guidance graphs of ``network`` (of an ensemble: its first member's), built once."""
    return guiding_network(network).added_graphs("guidance", _Graphs)


def chroma_and_cells(network, stacked: tf.Tensor, knobs: Sequence[tf.Tensor], waiting: ReferencePhoto | None = None):
    """(automatic chroma, lightness at the working shape, cell lightness, cell chroma, descriptors) of ``stacked``
    (N, H, W) CIE L, and the outputs of ``waiting``'s reference pass beside it (None without one).

    For an ensemble the guiding network is its first member: its pass gives the cells and descriptors (and the
    reference's pass), and its chroma is averaged with the other members' as :class:`EnsembleNetwork` does.
    """
    graphs = graphs_for(network)
    ensemble = isinstance(network, EnsembleNetwork)
    own_knobs = network.member_knobs(knobs, 0) if ensemble else knobs
    if waiting is None:
        cells, reference = graphs.chroma_and_cells(stacked, *own_knobs), None
    else:
        pass_with_reference = graphs.chroma_cells_and_reference(waiting.size, waiting.stride, waiting.rgb.dtype)
        cells, reference = pass_with_reference(stacked, *own_knobs, waiting.rgb)
    if ensemble:
        first_chroma, small_lightness, cell_lightness, _, descriptors = cells
        chroma = network.averaged_with(first_chroma, stacked, knobs)
        cells = chroma, small_lightness, cell_lightness, pool_cells(chroma), descriptors
    return cells, reference


# --- the grid and the residual solve ---------------------------------------------------


@dataclass
class Grid:
    """One image's cells: CIE L (rows, cols), automatic chroma (rows, cols, 2), descriptors (rows, cols, D)."""

    lightness: np.ndarray
    chroma: np.ndarray
    features: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        return self.lightness.shape


def tap_weights(taps) -> np.ndarray:
    """Weight of each backbone tap in the descriptors: none below the cell's stride, half at it, full above."""
    return np.array([0.0 if tap.stride < CELL else 0.5 if tap.stride == CELL else 1.0 for tap in taps], np.float32)


def normalised(vectors: np.ndarray) -> np.ndarray:
    """Each (..., D) vector scaled to unit length (zero stays zero)."""
    return vectors / np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-6)


def unit_descriptors(features: np.ndarray) -> np.ndarray:
    """(..., D) descriptors -> (..., D) unit descriptors, centred on their own mean."""
    return normalised(features - features.reshape(-1, features.shape[-1]).mean(axis=0))


@functools.lru_cache(maxsize=32)
def neighbour_pairs(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices (first, second) of the horizontally and vertically neighbouring cells."""
    index = np.arange(rows * cols).reshape(rows, cols)
    first = np.concatenate([index[:, :-1].ravel(), index[:-1, :].ravel()])
    second = np.concatenate([index[:, 1:].ravel(), index[1:, :].ravel()])
    return first, second


def neighbour_weights(grid: Grid, descriptors: np.ndarray, settings: GuidanceSettings) -> np.ndarray:
    """w_pq of every neighbour pair: small across a lightness step or a change of what the backbone sees."""
    first, second = neighbour_pairs(*grid.shape)
    light = grid.lightness.ravel()
    flat = descriptors.reshape(-1, descriptors.shape[-1])
    step = (light[first] - light[second]) ** 2 / (2 * settings.lightness_sigma**2)
    distance = 1.0 - np.einsum("pd,pd->p", flat[first], flat[second])
    return settings.smoothness * np.exp(-step - distance / settings.feature_scale)


def solve_residual(shape: tuple[int, int], weights: np.ndarray, data: np.ndarray, pull: np.ndarray) -> np.ndarray:
    """argmin_r sum w_pq |r_p - r_q|^2 + sum data_p |r_p|^2 - 2 pull_p . r_p over the grid: (rows, cols, 2).

    ``weights`` per neighbour pair, ``data`` (cells,) > 0, ``pull`` (cells, 2); a data term
    ``c |r_p - t|^2`` adds ``c`` to ``data_p`` and ``c t`` to ``pull_p``.

    The system (a grid Laplacian plus a positive diagonal) is symmetric positive definite
    and banded: numbered along the grid's longer side, a cell's neighbours are at most the
    shorter side away, so a banded Cholesky solve costs cells x shorter side^2.
    """
    rows, cols = shape
    first, second = neighbour_pairs(rows, cols)
    cells = rows * cols
    order = np.arange(cells)
    if cols > rows:  # number the cells column by column: the band is then ``rows`` wide
        order = order.reshape(rows, cols).T.ravel()
    position = np.empty(cells, np.int64)
    position[order] = np.arange(cells)
    first, second = np.minimum(position[first], position[second]), np.maximum(position[first], position[second])
    band = min(rows, cols, cells - 1)  # a single cell has no neighbours
    lower = np.zeros((band + 1, cells))
    lower[0] = np.bincount(first, weights, cells) + np.bincount(second, weights, cells) + data[order]
    lower[second - first, first] = -weights
    solution = np.empty((cells, 2))
    solution[order] = solveh_banded(lower, pull[order], lower=True, check_finite=False)
    return solution.astype(np.float32).reshape(rows, cols, 2)


# --- hints -------------------------------------------------------------------------------


# Traced once: a few hundred hint pixels cost ~30 eager ops' dispatch (3 ms), ~0.2 ms as one graph.
_hint_lab = tf.function(color.rgb_to_lab, input_signature=[tf.TensorSpec([None, 3], tf.float32)])


def hint_cells(
    pixels: np.ndarray, working_shape: tuple[int, int], cells: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """(H, W, 4) RGBA hints (uint8, uint16 or float in [0, 1]) -> per cell: alpha sum (cells,), chroma (cells, 2).

    Only pixels with alpha > 0 are read; a cell's chroma is the alpha-weighted mean of
    its hints' Lab chroma (their lightness is ignored).
    """
    # The alpha plane compared first, then its nonzero places found in the contiguous mask: a fifth of
    # the time of np.nonzero on the strided plane (0.17 against 0.81 ms for 512 x 512 on a 2-core EPYC).
    rows, cols = np.divmod(np.flatnonzero(pixels[..., 3] != 0), pixels.shape[1])
    count = cells[0] * cells[1]
    if rows.size == 0:
        return np.zeros(count, np.float32), np.zeros((count, 2), np.float32)
    values = pixels[rows, cols].astype(np.float32)
    if pixels.dtype.kind == "u":
        values /= np.iinfo(pixels.dtype).max
    alpha = values[:, 3]
    chroma = _hint_lab(values[:, :3]).numpy()[:, 1:]
    scale_rows = working_shape[0] / (pixels.shape[0] * CELL)
    scale_cols = working_shape[1] / (pixels.shape[1] * CELL)
    cell_rows = np.minimum(((rows + 0.5) * scale_rows).astype(np.int64), cells[0] - 1)
    cell_cols = np.minimum(((cols + 0.5) * scale_cols).astype(np.int64), cells[1] - 1)
    index = cell_rows * cells[1] + cell_cols
    total = np.bincount(index, alpha, count)
    sums = np.stack([np.bincount(index, alpha * chroma[:, channel], count) for channel in (0, 1)], axis=-1)
    return total.astype(np.float32), (sums / np.maximum(total, 1e-12)[:, np.newaxis]).astype(np.float32)


def attraction_exponents(
    grid: Grid, descriptors: np.ndarray, hints: np.ndarray, settings: GuidanceSettings
) -> tf.Tensor:
    """(cells, hinted cells) float32 kernel exponents: how unlike each cell is to each hinted one.

    ``(1 - cosine) / attraction_scale + dL^2 / (2 sigma_L^2) + distance^2 / (2 reach^2)``, each a
    quadratic form of the cell and the hint, so the matrix is one matrix product of vectors
    augmented with lightness and grid position, plus a term per cell and one per hint. An
    eager float32 tensor: the softmax over it stays in TensorFlow (:func:`propagate_hints`).
    """
    shape = grid.shape
    light = grid.lightness.ravel().astype(np.float32)
    rows, cols = (place.astype(np.float32) for place in np.divmod(np.arange(light.size), shape[1]))
    scale = np.float32(settings.attraction_scale)
    light_scale = np.float32(2 * settings.attraction_lightness_sigma**2)
    distance_scale = np.float32(2 * (settings.attraction_distance * max(shape)) ** 2)
    cell = np.column_stack([descriptors, light, rows, cols]).astype(np.float32)
    hint = np.column_stack(
        [
            descriptors[hints] / -scale,
            -2 * light[hints] / light_scale,
            -2 * rows[hints] / distance_scale,
            -2 * cols[hints] / distance_scale,
        ]
    )
    squares = np.square(light) / light_scale + (np.square(rows) + np.square(cols)) / distance_scale
    product = tf.matmul(cell, hint.astype(np.float32), transpose_b=True)
    return product + (squares + 1.0 / scale)[:, np.newaxis] + squares[hints]


def propagate_hints(grid: Grid, hinted: np.ndarray, hint_chroma: np.ndarray, settings: GuidanceSettings) -> np.ndarray:
    """Residual (rows, cols, 2) that brings the hinted cells (bool (cells,)) to ``hint_chroma`` (cells, 2).

    Each cell's color is pulled towards the colors of the hints that look most like it
    (softmax of their kernel exponents, sharpened by ``selectivity``), as strongly as its
    best match is alike.
    """
    shape = grid.shape
    descriptors = unit_descriptors(grid.features).reshape(-1, FEATURE_DIMS)
    hints = np.flatnonzero(hinted)
    automatic = grid.chroma.reshape(-1, 2)
    wanted = hint_chroma[hints] - automatic[hints]
    # The (cells, hints) kernel stays in eager TensorFlow ops, and only a column or two come back:
    # with its softmax and product in numpy the propagation took 13.5 ms against 8.4 (a 64 x 64 grid,
    # 149 hinted cells; 2-core AMD EPYC): its large temporaries and TensorFlow's threads got in each
    # other's way.
    exponent = attraction_exponents(grid, descriptors, hints, settings)
    best = tf.reduce_min(exponent, axis=1).numpy()
    share = tf.nn.softmax(-settings.selectivity * exponent, axis=1)
    # The hints' own colors, not their corrections of the automatic ones.
    their_colors = tf.matmul(share, hint_chroma[hints].astype(np.float32)).numpy()
    strength = settings.attraction * np.exp(-best)
    data = settings.prior + strength
    pull = strength[:, np.newaxis] * (their_colors - automatic)
    data[hints] += settings.hint
    pull[hints] += settings.hint * wanted
    return solve_residual(shape, neighbour_weights(grid, descriptors, settings), data, pull)


# --- reference photos -------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """A reference photo prepared once (:func:`prepare_reference`) for any colorizer on ``backbone``."""

    backbone: str
    lightness: np.ndarray  # (cells,) CIE L
    chroma: np.ndarray  # (cells, 2)
    features: np.ndarray  # (cells, FEATURE_DIMS)


def check_reference(photo) -> np.ndarray:
    """A color photo (H, W, 3 or 4; uint8, uint16 or float in [0, 1]) -> (H, W, 3) sRGB: uint8 as given,
    other dtypes as float32 in [0, 1].

    Eight-bit photos, the usual reference, go to the reference pass as they are: a quarter of
    float32's bytes to copy (a 512 x 512 photo: about 3 ms less a call on a 2-core Xeon).
    """
    if type(photo).__module__.startswith("PIL."):
        msg = "reference is a PIL image: pass np.asarray(image.convert('RGB'))"
        raise TypeError(msg)
    batch = as_image_batch(photo, name="reference")
    shape = batch.pixels.shape[1:] if not batch.batched else batch.pixels.shape
    if batch.batched:
        msg = f"reference must be one photo (H, W, 3), got shape {np.shape(photo)}; for a batch pass a list"
        raise ValueError(msg)
    if shape[-1] == 1:
        msg = "reference is gray (one channel): colors can only be taken from a color photo (H, W, 3)"
        raise ValueError(msg)
    pixels = batch.pixels[0]  # checked in the caller's dtype: the same answer as in float, cheaper
    if np.array_equal(pixels[..., 0], pixels[..., 1]) and np.array_equal(pixels[..., 1], pixels[..., 2]):
        msg = "reference is gray (R = G = B everywhere): colors can only be taken from a color photo"
        raise ValueError(msg)
    return pixels[..., :3] if pixels.dtype == np.uint8 else batch.unit_float(0)[..., :3]


@dataclass(frozen=True)
class ReferencePhoto:
    """A checked reference photo and the size of its canvas, waiting for its backbone pass (see :class:`Guide`)."""

    backbone: str
    rgb: tf.Tensor  # (1, H, W, 3) sRGB, uint8 or float32 in [0, 1] (check_reference): the pass shrinks it to its canvas
    size: int  # the reference canvas
    stride: int  # its cells pooled in groups of stride x stride

    @classmethod
    def of(cls, colorizer, photo, settings: GuidanceSettings) -> ReferencePhoto:
        rgb = check_reference(photo)
        network = guiding_network(colorizer.network)
        stride = network.backbone.spec.max_stride
        size = max(1, round(min(settings.reference_size, network.working_size) / stride)) * stride
        return cls(network.card.backbone, tf.constant(rgb[np.newaxis]), size, int(settings.reference_stride))

    def prepared(self, cell_lightness: tf.Tensor, chroma: tf.Tensor, features: tf.Tensor) -> Reference:
        """The reference pass's outputs -> the :class:`Reference`; a photo without color is refused here."""
        chroma = chroma.numpy().reshape(-1, 2)
        if np.hypot(chroma[:, 0], chroma[:, 1]).max() < GRAY_REFERENCE_CHROMA:
            msg = "reference has no color (it is a gray photo): colors can only be taken from a color photo"
            raise ValueError(msg)
        features = features.numpy().reshape(-1, FEATURE_DIMS)
        return Reference(self.backbone, cell_lightness.numpy().ravel(), chroma, features)


def prepare_reference(colorizer, photo, settings: GuidanceSettings | None = None) -> Reference:
    """Runs the backbone once on ``photo``'s lightness; the result serves every later call with it."""
    if isinstance(photo, Reference):
        return photo
    if not isinstance(getattr(colorizer, "network", None), ChromaNetwork | EnsembleNetwork):
        msg = f"prepare_reference needs a Colorizer (hypercol.Colorizer() or get_colorizer()), got {colorizer!r}"
        raise TypeError(msg)
    waiting = ReferencePhoto.of(colorizer, photo, settings or DEFAULT_SETTINGS)
    reference_pass = graphs_for(colorizer.network).reference(waiting.size, waiting.stride, waiting.rgb.dtype)
    return waiting.prepared(*reference_pass(waiting.rgb))


def best_matches(queries: np.ndarray, candidates: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` largest cosines of each query (unit rows) with the candidates, best first, and which candidates.

    Two eager TensorFlow ops in float32, as every product of the guidance: eager, since a traced
    graph's product would be rewritten to bf16 on AMX; not numpy's, whose BLAS threads keep
    spinning after a product and slowed the network pass after it by up to half on a 2-core
    Xeon (docs/measurements/guidance.md). TensorFlow's top-k over the whole similarity took
    3.9 ms of a 512 x 512 call with a new reference (1,024 queries, 784 candidates; 2-core AMD
    EPYC), where an exact numpy top-k in two stages (over blocks of candidates, then cells) took 5.5.
    """
    k = min(k, len(candidates))
    similarity = tf.matmul(np.asarray(queries, np.float32), np.asarray(candidates, np.float32), transpose_b=True)
    cosines, best = tf.math.top_k(similarity, k)
    return cosines.numpy(), best.numpy()


def transfer_reference(grid: Grid, reference: Reference, settings: GuidanceSettings) -> np.ndarray:
    """Residual (rows, cols, 2): ``confidence * (transferred - automatic)`` per cell (smoothed edge-aware
    when ``reference_smoothness`` > 0).

    A cell's transferred chroma is the softmax-weighted chroma of its top-k most similar
    reference cells; its confidence rises linearly from 0 to 1 as their mean cosine goes
    from ``confidence_low`` to ``confidence_high``. With ``match_stride`` s > 1 the cells
    are matched in groups of s x s (their mean descriptor), and the transferred chroma
    and confidence are upsampled back to the cells (s^2 times fewer matches).
    """
    own, theirs = grid.features, reference.features
    mean = np.concatenate([own.reshape(-1, FEATURE_DIMS), theirs]).mean(axis=0)  # both photos on one origin
    descriptors, theirs = normalised(own - mean), normalised(theirs - mean)
    stride = int(settings.match_stride)
    queries = normalised(grouped_cells(descriptors, stride))
    cosines, best = best_matches(queries.reshape(-1, FEATURE_DIMS), theirs, settings.top_k)
    softmax = np.exp((cosines - cosines.max(axis=1, keepdims=True)) / settings.match_temperature)
    softmax /= softmax.sum(axis=1, keepdims=True)
    transferred = np.einsum("pk,pkc->pc", softmax, reference.chroma[best])
    span = settings.confidence_high - settings.confidence_low
    confidence = np.clip((cosines.mean(axis=1) - settings.confidence_low) / span, 0.0, 1.0)
    matched = np.concatenate([transferred, confidence[:, np.newaxis]], axis=1).reshape(*queries.shape[:2], 3)
    if stride > 1:
        matched = upsampled_groups(matched, stride, grid.shape)
    transferred, confidence = matched[..., :2].reshape(-1, 2), matched[..., 2].ravel()
    wanted = confidence[:, np.newaxis] * (transferred - grid.chroma.reshape(-1, 2))
    if settings.reference_smoothness == 0:
        return wanted.astype(np.float32).reshape(*grid.shape, 2)
    smoothing = replace(settings, smoothness=settings.reference_smoothness)
    data = np.full(confidence.shape, settings.transfer)
    weights = neighbour_weights(grid, descriptors, smoothing)
    return solve_residual(grid.shape, weights, data, settings.transfer * wanted)


def grouped_cells(values: np.ndarray, stride: int) -> np.ndarray:
    """(rows, cols, C) -> (ceil(rows / stride), ceil(cols / stride), C) means of stride x stride groups."""
    if stride == 1:
        return values
    rows, cols = values.shape[:2]
    padded = np.pad(values, [(0, -rows % stride), (0, -cols % stride), (0, 0)], mode="edge")
    return padded.reshape(padded.shape[0] // stride, stride, padded.shape[1] // stride, stride, -1).mean(axis=(1, 3))


def upsampled_groups(values: np.ndarray, stride: int, shape: tuple[int, int]) -> np.ndarray:
    """(rows, cols, C) values of ``stride`` x ``stride`` groups -> (shape[0], shape[1], C) values of their members
    (groups of cells -> cells, cells -> working pixels): bilinear, half-pixel centres, as ``tf.image.resize`` to
    the groups' shape x ``stride`` cropped to ``shape``.

    In numpy: on a grid this small, TensorFlow's eager op cost about 1 ms, this a twentieth of it.
    """
    for axis in (1, 0):  # along x, then y, as ResizeBilinear
        count = values.shape[axis]
        source = (np.arange(shape[axis]) + 0.5) / stride - 0.5
        floor = np.floor(source)
        first, second = (np.clip(floor.astype(np.int64) + step, 0, count - 1) for step in (0, 1))
        weight = (source - floor).astype(values.dtype).reshape([-1 if each == axis else 1 for each in range(3)])
        near = np.take(values, first, axis=axis)
        values = near + (np.take(values, second, axis=axis) - near) * weight
    return values


# --- one colorize call ---------------------------------------------------------------------


def check_hints(hints, batch: ImageBatch) -> ImageBatch:
    """Validates hints against the images: RGBA, one per image, the images' size."""
    if type(hints).__module__.startswith("PIL."):
        msg = "hints is a PIL image: pass np.asarray(image.convert('RGBA'))"
        raise TypeError(msg)
    checked = as_image_batch(hints, name="hints")
    height, width, channels = checked.pixels.shape[1:]
    if channels != 4:
        msg = (
            f"hints must be RGBA (H, W, 4): alpha > 0 marks a hint, its RGB the wanted color; got {channels} channel(s)"
        )
        raise ValueError(msg)
    if checked.batched != batch.batched or checked.pixels.shape[:3] != batch.pixels.shape[:3]:
        wanted = batch.pixels.shape[:3] if batch.batched else batch.pixels.shape[1:3]
        given = checked.pixels.shape[:3] if checked.batched else (height, width)
        msg = f"hints must match the image: shape {(*wanted, 4)} expected, got {(*given, 4)}"
        raise ValueError(msg)
    return checked


def _references(
    colorizer, reference, count: int, settings: GuidanceSettings
) -> list[Reference | ReferencePhoto | None]:
    """One reference (or None) per image: a single photo serves them all, a list gives one each.

    A list's photos are prepared here; a single new photo is only checked, and its backbone
    pass runs with the first images' (:meth:`Guide.coefficients`).
    """
    if reference is None:
        return [None] * count
    if isinstance(reference, list | tuple):
        if len(reference) != count:
            msg = f"a list of references needs one per image: {count} image(s), {len(reference)} reference(s)"
            raise ValueError(msg)
        return [None if photo is None else prepare_reference(colorizer, photo, settings) for photo in reference]
    if isinstance(reference, Reference):
        return [reference] * count
    return [ReferencePhoto.of(colorizer, reference, settings)] * count


class Guide:
    """The validated hints and references of one colorize call (a new photo is prepared with the first images)."""

    def __init__(self, colorizer, hints: ImageBatch | None, references: list, settings: GuidanceSettings) -> None:
        guiding = guiding_network(colorizer.network)
        for prepared in references:
            if prepared is not None and prepared.backbone != guiding.card.backbone:
                msg = f"reference was prepared for backbone {prepared.backbone!r}, this head runs on {guiding.card.backbone!r}"
                raise ValueError(msg)
        self.network = colorizer.network
        self.graphs = graphs_for(guiding)
        self.hints = hints
        self.references = references
        self.settings = settings.for_backbone(guiding.backbone.spec)
        hinted = [hints is not None and bool(np.any(hints.pixels[index][..., 3])) for index in range(len(references))]
        self.guided = [flag or prepared is not None for flag, prepared in zip(hinted, references)]
        self.hinted = hinted

    def coefficient_batches(self, batch: ImageBatch, knobs: Sequence[tf.Tensor]):
        """As :meth:`~hypercol.inference.network.AutomaticChroma.coefficient_batches`; unguided images go through
        the automatic graph unchanged."""
        same_group = lambda first, index: self.guided[index] == self.guided[first]
        for indices, planes, stacked in lightness_batches(batch, self.network.batch_size, same_group):
            if self.guided[indices[0]]:
                yield planes, self.coefficients(stacked, indices, knobs)
            else:
                yield planes, self.network.predict_coefficients(stacked, *knobs)

    def coefficients(self, stacked: tf.Tensor, indices: range, knobs: Sequence[tf.Tensor]) -> tf.Tensor:
        """Coefficients of the automatic chroma plus the guidance residuals of the images."""
        waiting = next(
            (self.references[index] for index in indices if isinstance(self.references[index], ReferencePhoto)), None
        )
        cells, reference = chroma_and_cells(self.network, stacked, knobs, waiting)
        if waiting is not None:
            prepared = waiting.prepared(*reference)
            self.references = [prepared if each is waiting else each for each in self.references]
        chroma, small_lightness, *per_cell = cells
        working_shape = tuple(small_lightness.shape[1:3])
        cell_lightness, cell_chroma, features = (values.numpy() for values in per_cell)  # the batch at once
        residuals = []
        for offset, index in enumerate(indices):
            grid = Grid(cell_lightness[offset], cell_chroma[offset], features[offset])
            residuals.append(self.residual(grid, index, working_shape))
        return self.graphs.steered_coefficients(small_lightness, chroma, tf.constant(np.stack(residuals)))

    def residual(self, grid: Grid, index: int, working_shape: tuple[int, int]) -> np.ndarray:
        """The image's residual per cell: the reference's transfer first, then the hints on top of it."""
        residual = np.zeros((*grid.shape, 2), np.float32)
        if self.references[index] is not None:
            residual += transfer_reference(grid, self.references[index], self.settings)
        if self.hinted[index]:
            total, hint_chroma = hint_cells(self.hints.pixels[index], working_shape, grid.shape)
            steered = Grid(grid.lightness, grid.chroma + residual, grid.features)
            residual += propagate_hints(steered, total > 0, hint_chroma, self.settings)
        return residual


def prepare_guide(
    colorizer, batch: ImageBatch, hints=None, reference=None, settings: GuidanceSettings | None = None
) -> Guide | None:
    """Checks the guidance of a call; None when there is nothing to steer (the automatic path, bit for bit).

    ``settings`` default to :data:`DEFAULT_SETTINGS` as it is at the call.
    """
    if hints is None and reference is None:
        return None
    settings = settings or DEFAULT_SETTINGS
    checked = check_hints(hints, batch) if hints is not None else None
    guide = Guide(colorizer, checked, _references(colorizer, reference, len(batch.pixels), settings), settings)
    return guide if any(guide.guided) else None
