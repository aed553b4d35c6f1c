"""Training the head: a deterministic tf.data pipeline, Dahl's loss, checkpoints, tf.distribute.

Only the head learns; the backbone is called, never differentiated into. Example ``i``
of a run is a pure function of (seed, i): which photo (a per-epoch permutation), which
crop, scale and flip. So a resumed run sees exactly the data the uninterrupted run
would have seen, and checkpoints need no iterator state.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

import hypercol.core.quiet_tensorflow  # noqa: F401  # isort: skip -- first: TensorFlow's start-up lines hidden
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from hypercol.core import bins, color
from hypercol.core.metrics import colorfulness
from hypercol.core.precision import configure_precision
from hypercol.inference.network import chroma_from_gray
from hypercol.io.files import IMAGE_SUFFIXES, write_atomically
from hypercol.models.backbones import DEFAULT_BACKBONE, Backbone, load_backbone
from hypercol.models.card import DEFAULT_TEMPERATURE, HEAD_TYPES, ModelCard
from hypercol.models.head import build_head

__all__ = [
    "LOSSES",
    "find_images",
    "split_validation",
    "ExampleReader",
    "dahl_loss",
    "l2_loss",
    "pick_strategy",
    "train",
    "TrainResult",
]

LIST_SUFFIXES = (".txt", ".lst")
_CHROMA_UNIT = 100.0  # losses see ab / 100, so they are O(1)


def find_images(sources: Iterable[str | Path]) -> list[str]:
    """Image paths from folders (recursive) and list files (one path per line), sorted, unique."""
    found: set[str] = set()
    for source in sources:
        path = Path(source)
        if path.is_dir():
            found.update(str(p) for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
        elif path.is_file() and path.suffix.lower() in LIST_SUFFIXES:
            for line in path.read_text().splitlines():
                line = line.strip()
                if line and not line.startswith("#"):
                    listed = Path(line)
                    found.add(str(listed if listed.is_absolute() else path.parent / listed))
        elif path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
            found.add(str(path))
        elif path.exists():
            msg = f"{str(path)!r} is neither a folder, an image ({', '.join(IMAGE_SUFFIXES)}) nor a list file"
            raise ValueError(msg)
        else:
            msg = f"training data {str(path)!r} does not exist"
            raise ValueError(msg)
    return sorted(found)


def split_validation(paths: Sequence[str], fraction: float = 0.1) -> tuple[list[str], list[str]]:
    """Deterministic split by a hash of each file name; both sides non-empty when possible."""
    if not 0.0 <= fraction < 1.0:
        msg = f"validation fraction must be in [0, 1), got {fraction}"
        raise ValueError(msg)

    def bucket(path: str) -> float:
        return int(hashlib.sha1(Path(path).name.encode()).hexdigest()[:8], 16) / 2**32

    ranked = sorted(paths, key=bucket)
    count = round(len(paths) * fraction)
    if fraction > 0 and len(paths) >= 2:
        count = min(max(count, 1), len(paths) - 1)
    validation = set(ranked[:count])
    return [p for p in paths if p not in validation], [p for p in paths if p in validation]


class ExampleReader:
    """Decodes example ``i`` of a run: a random crop at a random scale with a random flip.

    Unreadable files and near-gray photos are skipped (the next photo of the same
    epoch's order is taken) and counted. PIL releases the GIL while decoding, so
    tf.data's parallel calls run in parallel; JPEG draft mode decodes large photos at
    a reduced scale when the crop allows.
    """

    def __init__(
        self,
        paths: Sequence[str],
        crop_size: int,
        *,
        seed: int = 0,
        scale_range: tuple[float, float] = (0.3, 1.0),
        min_colorfulness: float = 8.0,
        max_attempts: int = 50,
    ) -> None:
        if not paths:
            msg = "no training images"
            raise ValueError(msg)
        self.paths = list(paths)
        self.crop_size = crop_size
        self.seed = seed
        self.scale_range = scale_range
        self.min_colorfulness = min_colorfulness
        self.max_attempts = max_attempts
        self.unreadable: set[str] = set()
        self.grayscale: set[str] = set()
        self._usable: dict[str, bool] = {}
        self._orders: dict[int, np.ndarray] = {}
        self._lock = threading.Lock()

    def _order(self, epoch: int) -> np.ndarray:
        with self._lock:
            if epoch not in self._orders:
                if len(self._orders) > 4:
                    self._orders.pop(min(self._orders))
                self._orders[epoch] = np.random.default_rng([self.seed, epoch]).permutation(len(self.paths))
            return self._orders[epoch]

    def _is_colorful(self, image: Image.Image) -> bool:
        thumbnail = image.copy()
        thumbnail.thumbnail((128, 128))
        return colorfulness(np.asarray(thumbnail.convert("RGB"))) >= self.min_colorfulness

    def _open(self, path: str) -> Image.Image | None:
        """The photo, lazily opened; None (and counted) when unreadable or near-gray.

        Each file gets one cheap look (a 1/8-scale JPEG draft) the first time it is met.
        """
        usable = self._usable.get(path)
        try:
            if usable is None:
                look = Image.open(path)
                look.draft("RGB", (look.width // 8, look.height // 8))
                usable = self._is_colorful(look.convert("RGB"))
                if not usable:
                    with self._lock:
                        self.grayscale.add(path)
            image = Image.open(path) if usable else None
        except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
            with self._lock:
                self.unreadable.add(path)
            image, usable = None, False
        self._usable[path] = usable
        return image

    def crop(self, image: Image.Image, rng: np.random.Generator) -> np.ndarray:
        """A square crop of side ``scale * short side``, resized to ``crop_size``, maybe flipped."""
        size = self.crop_size
        scale = rng.uniform(*self.scale_range)
        full_width, full_height = image.size
        side = max(1.0, scale * min(full_width, full_height))
        reduction = min(1.0, size / side)  # JPEG may decode at a reduced scale when shrinking
        image.draft("RGB", (math.ceil(full_width * reduction), math.ceil(full_height * reduction)))
        image = image.convert("RGB")
        side_px = min(side * image.width / full_width, min(image.size))
        left = rng.uniform(0, image.width - side_px)
        top = rng.uniform(0, image.height - side_px)
        crop = image.resize((size, size), Image.BILINEAR, box=(left, top, left + side_px, top + side_px))
        pixels = np.asarray(crop)
        return pixels[:, ::-1] if rng.random() < 0.5 else pixels

    def __call__(self, index) -> np.ndarray:
        """(crop_size, crop_size, 3) uint8 for example ``index`` (an int or 0-d array)."""
        index = int(index)
        epoch, position = divmod(index, len(self.paths))
        for attempt in range(self.max_attempts):
            shifted_epoch, shifted = divmod(position + attempt, len(self.paths))
            path = self.paths[self._order(epoch + shifted_epoch)[shifted]]
            image = self._open(path)
            if image is None:
                continue
            try:
                return self.crop(image, np.random.default_rng([self.seed, index, attempt]))
            except (OSError, ValueError):
                with self._lock:
                    self.unreadable.add(path)
                self._usable[path] = False
        msg = f"{self.max_attempts} photos in a row were unreadable or gray (e.g. {path!r})"
        raise RuntimeError(msg)

    def center_crop(self, path: str) -> np.ndarray | None:
        """Deterministic validation crop: the centred square of the short side."""
        image = self._open(path)
        if image is None:
            return None
        image = image.convert("RGB")
        side = min(image.size)
        left, top = (image.width - side) / 2, (image.height - side) / 2
        return np.asarray(image.resize((self.crop_size,) * 2, Image.BILINEAR, box=(left, top, left + side, top + side)))


def to_lightness_and_chroma(rgb: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """uint8 (..., H, W, 3) -> CIE L (..., H, W) and ab (..., H, W, 2), in the tf.data graph."""
    lab = color.rgb_to_lab(tf.cast(rgb, tf.float32) / 255.0)
    return lab[..., 0], lab[..., 1:]


def make_dataset(reader: ExampleReader, *, batch_size: int, start: int, stride: int = 1) -> tf.data.Dataset:
    """Batches of (L, ab) for examples start, start + stride, ... (stride = input pipelines)."""
    size = reader.crop_size
    examples = tf.data.Dataset.range(start, 2**62, stride)
    images = examples.map(
        lambda i: tf.ensure_shape(tf.numpy_function(reader, [i], tf.uint8, stateful=False), [size, size, 3]),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    return (
        images.map(to_lightness_and_chroma, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        .batch(batch_size, drop_remainder=True)
        .prefetch(tf.data.AUTOTUNE)
    )


def _gaussian_kernel(size: int) -> tf.Tensor:
    # OpenCV's default sigma for a kernel of this size.
    sigma = 0.3 * ((size - 1) * 0.5 - 1) + 0.8
    offsets = np.arange(size) - (size - 1) / 2
    weights = np.exp(-(offsets**2) / (2 * sigma**2))
    kernel = np.outer(weights, weights) / np.outer(weights, weights).sum()
    return tf.constant(np.tile(kernel[:, :, None, None], (1, 1, 2, 1)), tf.float32)


def l2_loss(true_ab: tf.Tensor, predicted_ab: tf.Tensor) -> tf.Tensor:
    """Per-example mean squared chroma error, in units of 100 ab: (N,)."""
    difference = (tf.cast(predicted_ab, tf.float32) - true_ab) / _CHROMA_UNIT
    return tf.reduce_mean(tf.square(difference), axis=[1, 2, 3])


_BLUR_SIZES = (3, 5)


def dahl_loss(true_ab: tf.Tensor, predicted_ab: tf.Tensor) -> tf.Tensor:
    """Dahl 2016: L2 on the chroma averaged with L2 on the chroma blurred by 3 and 5 px Gaussians: (N,)."""
    predicted_ab = tf.cast(predicted_ab, tf.float32)
    terms = [l2_loss(true_ab, predicted_ab)]
    for size in _BLUR_SIZES:
        kernel = _gaussian_kernel(size)
        blurred = [tf.nn.depthwise_conv2d(t, kernel, [1, 1, 1, 1], "SAME") for t in (true_ab, predicted_ab)]
        terms.append(l2_loss(*blurred))
    return tf.add_n(terms) / len(terms)


LOSSES = {"dahl": dahl_loss, "l2": l2_loss}


def estimate_color_prior(
    reader: ExampleReader, mix: float = bins.REBALANCE_LAMBDA, examples: int = 256
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bin centres (Q, 2), empirical probabilities (Q,), rebalancing weights (Q,)) from training crops."""
    histogram = np.zeros_like(bins.grid_centres()[:, 0], dtype=np.float64)
    for index in range(examples):
        chroma = to_lightness_and_chroma(reader(index))[1].numpy()
        histogram += bins.ab_histogram(chroma)
    centres, probabilities = bins.select_bins(histogram)
    return centres, probabilities, bins.rebalancing_weights(centres, probabilities, mix)


def rebalanced_cross_entropy(centres: np.ndarray, weights: np.ndarray):
    """Zhang's loss: cross-entropy against soft-encoded ab, weighted per pixel by its nearest bin's weight.

    The truth is area-downsampled to the logits' resolution first. Returns a loss
    ``(true_ab (N, H, W, 2), logits (N, h, w, Q)) -> (N,)``.
    """
    centres = tf.constant(centres, tf.float32)
    weights = tf.constant(weights, tf.float32)

    def loss(true_ab: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
        logits = tf.cast(logits, tf.float32)
        target_ab = tf.image.resize(true_ab, tf.shape(logits)[1:3], method="area")
        target = bins.soft_encode(target_ab, centres)
        pixel_weights = tf.gather(weights, tf.argmax(target, axis=-1))
        cross_entropy = tf.nn.softmax_cross_entropy_with_logits(target, logits)
        return tf.reduce_mean(pixel_weights * cross_entropy, axis=[1, 2])

    return loss


CLASSIFICATION_OUTPUT_STRIDE = 4


def pick_strategy(devices: Sequence[str] | None = None) -> tf.distribute.Strategy:
    """MultiWorkerMirrored when TF_CONFIG is set, Mirrored over several GPUs or given devices, else default."""
    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    if devices:
        return tf.distribute.MirroredStrategy(list(devices))
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


class PhotoData:
    """Training data decoded from photos at every step; the backbone runs inside the training step."""

    def __init__(
        self,
        data: Sequence[str | Path],
        crop_size: int,
        *,
        seed: int,
        validation_fraction: float,
        max_validation_images: int,
    ) -> None:
        paths = find_images(data)
        train_paths, validation_paths = split_validation(paths, validation_fraction)
        if not train_paths:
            msg = f"no training images found in {[str(d) for d in data]}"
            raise ValueError(msg)
        self.reader = ExampleReader(train_paths, crop_size, seed=seed)
        self.training_images = len(train_paths)
        crops = [
            c for c in (self.reader.center_crop(p) for p in validation_paths[:max_validation_images]) if c is not None
        ]
        self.validation = to_lightness_and_chroma(np.stack(crops)) if crops else None
        self.validation_images = len(crops)
        self.tap_keys = None  # every tap of the backbone

    def color_prior(self, mix: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return estimate_color_prior(self.reader, mix)

    def dataset(self, per_replica: int, first: int, stride: int) -> tf.data.Dataset:
        return make_dataset(self.reader, batch_size=per_replica, start=first, stride=stride)

    @staticmethod
    def forward(backbone: Backbone, head, batch, training: bool) -> tuple[tf.Tensor, tf.Tensor]:
        """A batch of (lightness, chroma) -> (head output, target chroma)."""
        lightness, chroma = batch
        gray = color.linear_to_srgb(color.luminance_from_lightness(lightness))[..., tf.newaxis]
        return chroma_from_gray(backbone, head, gray, training=training), chroma

    def card_counts(self) -> dict:
        return {
            "training_images": self.training_images,
            "validation_images": self.validation_images,
            "skipped_unreadable": len(self.reader.unreadable),
            "dropped_grayscale": len(self.reader.grayscale),
        }


class CachedData:
    """Training data from feature caches (:mod:`hypercol.training.cache`): no backbone in the step.

    Several caches of the same photo sets built with different seeds (other crops,
    other pasted cut-outs) act as one: a set's examples are its rows in every cache.
    Example ``i`` is drawn from set ``s`` with probability proportional to
    ``set_weights[s]`` (default: each set's example count, i.e. uniform over
    examples), then uniformly within the set; a pure function of (seed, i).
    Validation comes from the first cache (every cache holds the same centred crops).
    ``every_nth_photo`` > 1 trains on the crops of every n-th photo of each set only
    (a learning curve: how accuracy grows with the number of photos).
    """

    def __init__(
        self,
        folders: Sequence[str | Path],
        *,
        seed: int,
        set_weights: dict[str, float] | None,
        max_validation_images: int,
        every_nth_photo: int = 1,
    ) -> None:
        from hypercol.training.cache import CHROMA

        self.caches = _open_matching_caches(folders)
        self.tap_keys = self.caches[0].tap_keys
        self.keys = [*self.tap_keys, CHROMA]
        counts_per_cache = [cache.parts("train") for cache in self.caches]
        counts = {}
        for cache_counts in counts_per_cache:
            for name, count in cache_counts.items():
                counts[name] = counts.get(name, 0) + count
        weights = dict(counts) if set_weights is None else dict(set_weights)
        unknown = sorted(set(weights) - set(counts))
        if unknown:
            msg = f"set weights name sets the cache does not hold: {unknown}; it holds {sorted(counts)}"
            raise ValueError(msg)
        if any(not np.isfinite(w) or w < 0 for w in weights.values()) or not any(weights.values()):
            msg = f"set weights must be finite, >= 0 and not all 0, got {weights}"
            raise ValueError(msg)
        self.parts = [name for name in sorted(weights) if weights[name] > 0]
        self.set_weights = {name: float(weights[name]) for name in self.parts}
        total = sum(self.set_weights.values())
        self.probabilities = np.array([self.set_weights[name] / total for name in self.parts])
        self.counts = np.array([counts[name] for name in self.parts])
        # per part: [(first row, arrays of one cache)], the caches' rows one after another
        self.arrays = [self._stacked_rows(name, counts_per_cache) for name in self.parts]
        self.every_nth_photo = int(every_nth_photo)
        self.kept_rows = self._rows_of_every_nth_photo(counts_per_cache) if self.every_nth_photo != 1 else None
        if self.kept_rows is not None:
            self.counts = np.array([len(rows) for rows in self.kept_rows])
        self.seed = seed
        self.validation = self._validation(max_validation_images)

    def _stacked_rows(self, part: str, counts_per_cache: list[dict[str, int]]) -> list[tuple[int, dict]]:
        stacked, first = [], 0
        for cache, cache_counts in zip(self.caches, counts_per_cache):
            count = cache_counts.get(part, 0)
            if count:
                stacked.append((first, cache.arrays(part)))
                first += count
        return stacked

    def _rows_of_every_nth_photo(self, counts_per_cache: list[dict[str, int]]) -> list[np.ndarray]:
        """Per part: the stacked rows of every ``every_nth_photo``-th photo of each cache (its first, n+1-th, ...)."""
        if self.every_nth_photo < 1:
            msg = f"every_nth_photo must be at least 1, got {self.every_nth_photo}"
            raise ValueError(msg)
        kept = []
        for name in self.parts:
            rows, first = [], 0
            for cache, cache_counts in zip(self.caches, counts_per_cache):
                count = cache_counts.get(name, 0)
                photo_of_row = np.arange(count) // cache.crops_per_photo(name)
                rows.append(first + np.flatnonzero(photo_of_row % self.every_nth_photo == 0))
                first += count
            kept.append(np.concatenate(rows))
        return kept

    def _validation(self, limit: int):
        cache = self.caches[0]
        parts = cache.parts("validation")
        chosen = [(name, count) for name, count in sorted(parts.items()) if name.split(".")[0] in self.set_weights]
        rows = {key: [] for key in self.keys}
        per_part = max(1, limit // max(1, len(chosen)))
        for name, count in chosen:
            arrays = cache.arrays(name)
            for key in self.keys:
                rows[key].append(np.asarray(arrays[key][: min(count, per_part)], np.float32))
        self.validation_images = sum(len(r) for r in rows[self.keys[-1]])
        if not self.validation_images:
            return None
        return tuple(tf.constant(np.concatenate(rows[key])) for key in self.keys)

    def example(self, index) -> list[np.ndarray]:
        rng = np.random.default_rng([self.seed, int(index)])
        part = int(rng.choice(len(self.parts), p=self.probabilities))
        row = int(rng.integers(self.counts[part]))
        if self.kept_rows is not None:
            row = int(self.kept_rows[part][row])
        first, arrays = next((first, arrays) for first, arrays in reversed(self.arrays[part]) if row >= first)
        return [np.asarray(arrays[key][row - first]) for key in self.keys]

    def color_prior(self, mix: float, examples: int = 1024) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        histogram = np.zeros(len(bins.grid_centres()), np.float64)
        for index in range(examples):
            histogram += bins.ab_histogram(self.example(index)[-1].astype(np.float32))
        centres, probabilities = bins.select_bins(histogram)
        return centres, probabilities, bins.rebalancing_weights(centres, probabilities, mix)

    def dataset(self, per_replica: int, first: int, stride: int) -> tf.data.Dataset:
        _, some_arrays = self.arrays[0][0]
        shapes = [some_arrays[key].shape[1:] for key in self.keys]

        def read(index):
            values = tf.numpy_function(self.example, [index], [tf.float16] * len(self.keys), stateful=False)
            return tuple(tf.cast(tf.ensure_shape(v, s), tf.float32) for v, s in zip(values, shapes))

        examples = tf.data.Dataset.range(first, 2**62, stride)
        return (
            examples.map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
            .batch(per_replica, drop_remainder=True)
            .prefetch(tf.data.AUTOTUNE)
        )

    @staticmethod
    def forward(backbone: Backbone, head, batch, training: bool) -> tuple[tf.Tensor, tf.Tensor]:
        """A batch of (*taps, chroma) -> (head output, target chroma). The gray input is unused at stride 4."""
        *taps, chroma = batch
        gray = tf.zeros([tf.shape(chroma)[0], 1, 1, 1])
        return tf.cast(head([gray, *taps], training=training), tf.float32), chroma

    def card_counts(self) -> dict:
        return {
            "training_examples": {name: int(count) for name, count in zip(self.parts, self.counts)},
            "set_weights": self.set_weights,
            **({"every_nth_photo": self.every_nth_photo} if self.every_nth_photo != 1 else {}),
            "validation_images": self.validation_images,
            **self._cache_card(),
        }

    def _cache_card(self) -> dict:
        described = [
            {key: cache.meta[key] for key in ("crop_size", "seed", "paste_probability", "sets_manifest_sha256")}
            for cache in self.caches
        ]
        return {"feature_cache": described[0]} if len(described) == 1 else {"feature_caches": described}


_SHARED_CACHE_SETTINGS = ("backbone", "taps", "crop_size", "output_stride", "sets_manifest_sha256")


def _open_matching_caches(folders: Sequence[str | Path]) -> list:
    """The caches of ``folders``, refused unless they hold the same kind of examples with different crops."""
    from hypercol.training.cache import FeatureCache

    caches = [FeatureCache.open(folder) for folder in folders]
    first = caches[0]
    for cache in caches[1:]:
        differing = [key for key in _SHARED_CACHE_SETTINGS if cache.meta.get(key) != first.meta.get(key)]
        if differing:
            msg = f"{str(cache.folder)!r} and {str(first.folder)!r} differ in {differing}: they cannot train together"
            raise ValueError(msg)
    seeds = [cache.meta.get("seed") for cache in caches]
    if len(set(seeds)) < len(seeds):
        msg = f"feature caches built with the same seed hold the same crops (seeds {seeds}); build one with another --seed"
        raise ValueError(msg)
    return caches


@dataclass
class TrainResult:
    weights: Path
    card: Path
    card_data: ModelCard
    history: list[dict] = field(default_factory=list)


def _check_train_arguments(loss: str, head: str, steps: int, batch_size: int, crop_size: int) -> None:
    if loss not in LOSSES:
        msg = f"loss must be one of {sorted(LOSSES)}, got {loss!r}"
        raise ValueError(msg)
    if head not in HEAD_TYPES:
        msg = f"head must be one of {HEAD_TYPES}, got {head!r}"
        raise ValueError(msg)
    for name, value in (("steps", steps), ("batch_size", batch_size), ("crop_size", crop_size)):
        if value < 1:
            msg = f"{name} must be at least 1, got {value}"
            raise ValueError(msg)


def _open_data(
    data,
    head: str,
    crop_size: int,
    seed: int,
    set_weights,
    validation_fraction: float,
    max_validation_images: int,
    every_nth_photo: int = 1,
):
    """A :class:`CachedData` for feature-cache folders, else a :class:`PhotoData`."""
    from hypercol.training.cache import FeatureCache

    is_cache = [FeatureCache.is_cache(item) for item in data]
    if all(is_cache):
        return CachedData(
            data,
            seed=seed,
            set_weights=set_weights,
            max_validation_images=max_validation_images,
            every_nth_photo=every_nth_photo,
        )
    if any(is_cache):
        msg = "feature caches and photo folders cannot train together; give only caches or only photos"
        raise ValueError(msg)
    for option, given in (("set weights apply", set_weights), ("every_nth_photo applies", every_nth_photo != 1)):
        if given:
            msg = f"{option} to a feature cache (see `hypercol cache`), not to photo folders"
            raise ValueError(msg)
    return PhotoData(
        data, crop_size, seed=seed, validation_fraction=validation_fraction, max_validation_images=max_validation_images
    )


def train(
    data: Sequence[str | Path],
    *,
    out: str | Path,
    backbone: str = DEFAULT_BACKBONE,
    taps: Sequence[str] | None = None,
    head: str = "regression",
    steps: int = 1000,
    batch_size: int = 16,
    crop_size: int = 224,
    working_size: int = 256,
    learning_rate: float = 1e-3,
    loss: str = "dahl",
    head_config: dict | None = None,
    set_weights: dict[str, float] | None = None,
    every_nth_photo: int = 1,
    rebalance_mix: float = bins.REBALANCE_LAMBDA,
    checkpoint_every: int = 200,
    validate_every: int = 200,
    validation_fraction: float = 0.1,
    max_validation_images: int = 64,
    resume: bool = False,
    seed: int = 0,
    devices: Sequence[str] | None = None,
    precision: str | None = None,
    corpus: str = "",
    progress: bool = True,
    stop_at: int | None = None,
    time_limit: float | None = None,
) -> TrainResult:
    """Trains a head on photos under ``data`` into ``out`` (weights, card, checkpoints, TensorBoard logs).

    ``data`` is photo folders, files or lists, or feature-cache folders built by
    :func:`hypercol.training.cache.build_feature_cache` (much faster: the backbone's taps
    are read, not computed; ``set_weights`` then weighs their photo sets; caches built
    with other seeds add other crops of the same photos; ``every_nth_photo`` trains on a
    share of their photos).
    With ``resume=True`` an interrupted run continues from its last checkpoint and ends
    where the uninterrupted run would have. ``stop_at`` (a step) and ``time_limit``
    (seconds) end this session early with a checkpoint, as an interruption would; the
    weights and card written then describe the steps completed so far.
    """
    _check_train_arguments(loss, head, steps, batch_size, crop_size)
    out = Path(out)
    checkpoints = out / "checkpoints"
    if not resume and checkpoints.exists() and any(checkpoints.iterdir()):
        msg = f"{str(out)!r} already holds a run; pass resume=True (--resume) or choose a new folder"
        raise ValueError(msg)
    out.mkdir(parents=True, exist_ok=True)
    active_precision = configure_precision(precision)
    source = _open_data(
        data, head, crop_size, seed, set_weights, validation_fraction, max_validation_images, every_nth_photo
    )
    strategy = pick_strategy(devices)
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        msg = f"batch_size {batch_size} must be a multiple of the {replicas} replicas"
        raise ValueError(msg)
    head_config = dict(head_config or {})
    prior: dict = {}
    if head == "classification":
        centres, _, weights = source.color_prior(rebalance_mix)
        head_config.update(outputs=len(centres), output_stride=CLASSIFICATION_OUTPUT_STRIDE)
        loss, loss_fn = "rebalanced_cross_entropy", rebalanced_cross_entropy(centres, weights)
        prior = {"bins": centres.tolist(), "bin_weights": weights.tolist()}
    else:
        loss_fn = LOSSES[loss]
        if isinstance(source, CachedData):  # the cache holds taps of stride >= 4 and the chroma at stride 4
            head_config.update(output_stride=CLASSIFICATION_OUTPUT_STRIDE)

    keras.utils.set_random_seed(seed)  # the head's initial weights are part of the run's identity
    with strategy.scope():
        frozen: Backbone = load_backbone(backbone, taps=source.tap_keys or taps)
        model_head = build_head(frozen.spec.taps, **head_config)
        schedule = keras.optimizers.schedules.CosineDecay(
            0.0, steps, alpha=0.05, warmup_target=learning_rate, warmup_steps=max(1, steps // 20)
        )
        optimizer = keras.optimizers.Adam(schedule)
        optimizer.build(model_head.trainable_variables)
    checkpoint = tf.train.Checkpoint(head=model_head, optimizer=optimizer)
    manager = tf.train.CheckpointManager(checkpoint, str(checkpoints), max_to_keep=2)
    if resume and manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    start_step = int(optimizer.iterations.numpy())

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        per_replica = context.get_per_replica_batch_size(batch_size)
        first = start_step * batch_size + context.input_pipeline_id
        return source.dataset(per_replica, first, context.num_input_pipelines)

    batches = iter(strategy.distribute_datasets_from_function(dataset_fn))

    def replica_step(*batch):
        with tf.GradientTape() as tape:
            output, target = source.forward(frozen, model_head, batch, True)
            step_loss = tf.nn.compute_average_loss(loss_fn(target, output), global_batch_size=batch_size)
        gradients = tape.gradient(step_loss, model_head.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model_head.trainable_variables))
        return step_loss

    @tf.function
    def train_step(batch):
        per_replica = strategy.run(replica_step, args=batch)
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    @tf.function
    def validation_loss(batch):
        output, target = source.forward(frozen, model_head, batch, False)
        return tf.reduce_sum(loss_fn(target, output))

    def validate() -> float:
        count = int(source.validation[0].shape[0])
        total = sum(
            float(validation_loss(tuple(t[start : start + 32] for t in source.validation)))
            for start in range(0, count, 32)
        )
        return total / count

    loop = _TrainingLoop(out, start_step, steps, stop_at, time_limit, checkpoint_every, progress)
    while loop.running():
        last_loss = float(train_step(next(batches)))
        due = source.validation is not None and ((loop.step + 1) % validate_every == 0 or loop.step + 1 == steps)
        loop.record(last_loss, batch_size, validate() if due else None)
        if due and isinstance(source, PhotoData):
            _sample_images(loop.writer, loop.step, source, frozen, model_head, prior.get("bins"))
        loop.maybe_checkpoint(manager)
    wall_time = loop.close()

    weights_path = out / "head.weights.h5"
    write_atomically(weights_path, lambda p: model_head.save_weights(str(p)))
    card = ModelCard(
        backbone=frozen.spec.name,
        taps=[tap.key for tap in frozen.spec.taps],
        working_size=working_size,
        head_config=head_config,
        head_type=head,
        **prior,
        training={
            "corpus": corpus or ", ".join(str(d) for d in data),
            **source.card_counts(),
            "steps": loop.step,
            "steps_planned": steps,
            "batch_size": batch_size,
            "crop_size": crop_size,
            "learning_rate": learning_rate,
            "loss": loss,
            **({"rebalance_lambda": rebalance_mix} if head == "classification" else {}),
            "seed": seed,
            "precision": active_precision,
            "replicas": replicas,
            "strategy": type(strategy).__name__,
            "wall_time_s": round(wall_time, 1),
            "images_per_second": loop.images_per_second(),
            "final_loss": loop.last_loss,
            "validation_loss": loop.last_validation_loss(),
        },
    )
    card_file = out / "head.json"
    write_atomically(card_file, lambda p: p.write_text(card.to_json()))
    if isinstance(source, PhotoData) and (source.reader.unreadable or source.reader.grayscale):
        print(f"skipped {len(source.reader.unreadable)} unreadable and {len(source.reader.grayscale)} near-gray photos")
    return TrainResult(weights_path, card_file, card, loop.history)


def _sample_images(writer, step: int, source: PhotoData, frozen: Backbone, model_head, centres) -> None:
    """Four validation crops colorized, for TensorBoard."""
    lightness = source.validation[0][:4]
    output, _ = source.forward(frozen, model_head, (lightness, source.validation[1][:4]), False)
    chroma = output if centres is None else bins.annealed_mean(output, centres, DEFAULT_TEMPERATURE)
    chroma = tf.image.resize(chroma, tf.shape(lightness)[1:3])
    samples = color.lab_to_rgb(tf.concat([lightness[..., tf.newaxis], chroma], axis=-1))
    with writer.as_default(step=step):
        tf.summary.image("colorized", samples, max_outputs=4)


class _TrainingLoop:
    """Step counting, progress bar, TensorBoard scalars, checkpoints and the time budget of one session."""

    def __init__(
        self, out: Path, start_step: int, steps: int, stop_at, time_limit, checkpoint_every: int, progress: bool
    ) -> None:
        from tqdm import tqdm

        self.progress_file = out / "progress.json"
        self.previous_wall_time = (
            json.loads(self.progress_file.read_text())["wall_time_s"]
            if start_step and self.progress_file.exists()
            else 0.0
        )
        self.step = start_step
        self.steps = steps
        self.last_step = min(steps, stop_at) if stop_at is not None else steps
        self.time_limit = time_limit
        self.checkpoint_every = checkpoint_every
        self.writer = tf.summary.create_file_writer(str(out / "tensorboard"))
        self.history: list[dict] = []
        self.begin = time.perf_counter()
        self.images_done = 0
        self.last_loss = float("nan")
        self.out_of_time = False
        self.bar = tqdm(total=steps, initial=start_step, disable=not progress, unit="step", desc="training")

    def running(self) -> bool:
        return self.step < self.last_step and not self.out_of_time

    def record(self, loss: float, images: int, validation_loss: float | None) -> None:
        self.step += 1
        self.images_done += images
        self.last_loss = loss
        rate = self.images_done / (time.perf_counter() - self.begin)
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{loss:.4f}", img_s=f"{rate:.1f}")
        record = {"step": self.step, "loss": loss}
        with self.writer.as_default(step=self.step):
            tf.summary.scalar("loss", loss)
            tf.summary.scalar("images_per_second", rate)
            if validation_loss is not None:
                record["validation_loss"] = validation_loss
                tf.summary.scalar("validation_loss", validation_loss)
        self.history.append(record)
        self.out_of_time = self.time_limit is not None and time.perf_counter() - self.begin > self.time_limit

    def wall_time(self) -> float:
        return self.previous_wall_time + time.perf_counter() - self.begin

    def maybe_checkpoint(self, manager: tf.train.CheckpointManager) -> None:
        if self.step % self.checkpoint_every == 0 or self.step == self.last_step or self.out_of_time:
            manager.save(checkpoint_number=self.step)
            state = json.dumps({"step": self.step, "wall_time_s": self.wall_time()})
            write_atomically(self.progress_file, lambda p, text=state: p.write_text(text))

    def close(self) -> float:
        self.bar.close()
        return self.wall_time()

    def images_per_second(self) -> float | None:
        elapsed = time.perf_counter() - self.begin
        return round(self.images_done / elapsed, 2) if self.images_done else None

    def last_validation_loss(self) -> float | None:
        return next((r["validation_loss"] for r in reversed(self.history) if "validation_loss" in r), None)
