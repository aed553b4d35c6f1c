"""A cache of the frozen backbone's taps for fixed training crops.

The backbone never changes, so its activations for a crop are the same in every epoch
and for every head trained on them. ``build_feature_cache`` computes them once (float16
memory-mapped ``.npy`` files, one per tap and part) together with the chroma the head
must predict at its output stride; training from the cache then costs only the head's
forward and backward pass. Only taps of stride >= ``output_stride`` are kept (the
classification head stops at stride 4), which keeps a 224-pixel crop at 2.6 MB.

A part is one photo set's training or validation examples. Example ``j`` of a training
part is crop ``j % crops_per_photo`` of photo ``j // crops_per_photo``, a pure function
of (seed, part, j); validation parts hold one centred crop per photo. Building is
resumable: each batch is flushed before the count of finished examples is recorded.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

import hypercol.core.quiet_tensorflow  # noqa: F401  # isort: skip -- first: TensorFlow's start-up lines hidden
import tensorflow as tf
from PIL import Image

from hypercol.core import color
from hypercol.core.precision import configure_precision
from hypercol.io.files import write_atomically
from hypercol.models.backbones import DEFAULT_BACKBONE, Backbone, load_backbone
from hypercol.training.data import example_batches, to_lightness_and_chroma
from hypercol.training.losses import CLASSIFICATION_OUTPUT_STRIDE
from hypercol.training.photos import ExampleReader, centre_square
from hypercol.training.prior import estimate_color_prior
from hypercol.training.sets import PhotoSets, entry_paths

__all__ = [
    "CACHE_FILE",
    "CHROMA",
    "CachedData",
    "FeatureCache",
    "as_float32",
    "build_feature_cache",
    "data_dropout_rates",
    "dropped_maps",
    "forward_from_cache",
    "paste_cutouts",
]

CACHE_FILE = "cache.json"
CHROMA = "chroma"  # the part file holding the target ab at the output stride
# Training crops by what their scale is a fraction of: half to all of the short side, or 0.7
# to all of the long side (the working canvas's scale: colorize() sees the whole photo, its
# long side the working size, so a 4:3 photo's objects are about half as large as in the
# short-side crops).
_SCALE_RANGES = {"short": (0.5, 1.0), "long": (0.7, 1.0)}


def _part_name(set_name: str, split: str) -> str:
    return set_name if split == "train" else f"{set_name}.{split}"


def _file_name(key: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in key) + ".npy"


@dataclass
class FeatureCache:
    """A built (or partly built) cache: ``cache.json`` plus one folder of ``.npy`` files per part."""

    folder: Path
    meta: dict

    @classmethod
    def open(cls, folder: str | Path) -> FeatureCache:
        folder = Path(folder)
        try:
            meta = json.loads((folder / CACHE_FILE).read_text())
        except FileNotFoundError:
            msg = f"{str(folder)!r} is not a feature cache (no {CACHE_FILE}); build one with `hypercol cache`"
            raise ValueError(msg) from None
        return cls(folder, meta)

    @staticmethod
    def is_cache(folder: str | Path) -> bool:
        return (Path(folder) / CACHE_FILE).is_file()

    @property
    def tap_keys(self) -> list[str]:
        return list(self.meta["taps"])

    def parts(self, split: str = "train") -> dict[str, int]:
        """{set name: finished examples} of the training or validation parts."""
        return {
            name: part["done"]
            for name, part in self.meta["parts"].items()
            if part["split"] == split and part["done"] > 0
        }

    def crops_per_photo(self, part: str) -> int:
        """Rows per photo of a training part (a photo's crops are consecutive rows; unusable photos have none)."""
        state = self.meta["parts"][part]
        if "crops_per_photo" not in state:
            msg = f"the cache {str(self.folder)!r} does not record crops per photo (built before they were); rebuild it"
            raise ValueError(msg)
        return int(state["crops_per_photo"])

    def arrays(self, part: str) -> dict[str, np.ndarray]:
        """{tap key or CHROMA: read-only memory map (examples, h, w, C) float16} of one part."""
        name = part if part in self.meta["parts"] else _part_name(part, "train")
        folder = self.folder / name
        keys = [*self.tap_keys, CHROMA]
        return {key: np.load(folder / _file_name(key), mmap_mode="r") for key in keys}

    def save_meta(self) -> None:
        text = json.dumps(self.meta, indent=1)
        write_atomically(self.folder / CACHE_FILE, lambda p: p.write_text(text))


def paste_cutouts(crop: np.ndarray, cutouts: Sequence[Image.Image], rng: np.random.Generator, count: int) -> np.ndarray:
    """Copy-paste augmentation: ``count`` RGBA cut-out photos alpha-blended onto a uint8 (S, S, 3) crop.

    Each is scaled to a long side of 30-70% of the crop, maybe mirrored, and placed at a
    random position (it may run off the border).
    """
    size = crop.shape[0]
    canvas = Image.fromarray(crop).convert("RGBA")
    for _ in range(count):
        cutout = cutouts[int(rng.integers(len(cutouts)))]
        long_side = max(8, int(size * rng.uniform(0.3, 0.7)))
        scale = long_side / max(cutout.size)
        resized = cutout.resize(
            (max(1, round(cutout.width * scale)), max(1, round(cutout.height * scale))), Image.LANCZOS
        )
        if rng.random() < 0.5:
            resized = resized.transpose(Image.FLIP_LEFT_RIGHT)
        left = int(rng.integers(-resized.width // 4, size - resized.width * 3 // 4 + 1))
        top = int(rng.integers(-resized.height // 4, size - resized.height * 3 // 4 + 1))
        layer = Image.new("RGBA", canvas.size)
        layer.paste(resized, (left, top))
        canvas = Image.alpha_composite(canvas, layer)
    return np.asarray(canvas.convert("RGB"))


class _CropSource:
    """Crops of one photo set: random ones for training, the centred one for validation."""

    def __init__(
        self, entry: dict, crop_size: int, seed: int, cutouts, paste_probability: float, scale_of: str = "short"
    ) -> None:
        self.split_files = {
            split: [str(path) for path in entry_paths(entry, split)] for split in ("train", "validation")
        }
        self.crops_per_photo = int(entry.get("crops_per_photo", 1))
        self.centre_fraction = float(entry.get("centre_fraction", 1.0))
        every_file = self.split_files["train"] + self.split_files["validation"]
        self.reader = ExampleReader(
            every_file, crop_size, seed=seed, scale_range=_SCALE_RANGES[scale_of], scale_of=scale_of
        )
        self.seed = seed
        self.cutouts = cutouts
        self.paste_probability = paste_probability

    def crops_of_each_photo(self, split: str) -> int:
        """Random crops for training, the one centred crop for validation."""
        return self.crops_per_photo if split == "train" else 1

    def count(self, split: str) -> int:
        return len(self.split_files[split]) * self.crops_of_each_photo(split)

    def _centre(self, image: Image.Image) -> Image.Image:
        if self.centre_fraction >= 1.0:
            return image
        image = image.convert("RGB")
        width, height = image.size
        keep_w, keep_h = round(width * self.centre_fraction), round(height * self.centre_fraction)
        left, top = (width - keep_w) // 2, (height - keep_h) // 2
        return image.crop((left, top, left + keep_w, top + keep_h))

    def __call__(self, split: str, index: int, part_seed: int) -> np.ndarray | None:
        """uint8 (S, S, 3) for example ``index`` of ``split``; None for an unreadable or near-gray photo."""
        path = self.split_files[split][index // self.crops_of_each_photo(split)]
        image = self.reader.open_usable(path)
        if image is None:
            return None
        image = self._centre(image)
        if split != "train":
            return centre_square(image, self.reader.crop_size)
        rng = np.random.default_rng([self.seed, part_seed, index])
        crop = self.reader.crop(image, rng)
        if self.cutouts and rng.random() < self.paste_probability:
            crop = paste_cutouts(crop, self.cutouts, rng, count=int(rng.integers(1, 3)))
        return crop


def _load_cutouts(entry: dict | None) -> list[Image.Image]:
    if not entry:
        return []
    cutouts = []
    for path in entry_paths(entry, "train"):
        with Image.open(path) as image:
            cutouts.append(image.convert("RGBA"))
    return cutouts


def _part_seed(name: str) -> int:
    return int(hashlib.sha1(name.encode()).hexdigest()[:8], 16)


def build_feature_cache(
    sets_manifest: str | Path,
    out: str | Path,
    *,
    backbone: str = DEFAULT_BACKBONE,
    crop_size: int = 224,
    output_stride: int = 4,
    sets: Sequence[str] | None = None,
    seed: int = 0,
    paste_probability: float = 0.3,
    crop_scale_of: str = "short",
    batch_size: int = 16,
    progress: bool = True,
) -> FeatureCache:
    """Computes (or resumes computing) the cache of every photo set of ``sets_manifest`` into ``out``.

    ``sets_manifest`` is the JSON written by ``examples/build_photo_sets.py``; a set of
    kind "cutouts" is pasted onto ``paste_probability`` of the training crops.
    ``crop_scale_of``: training crops span 0.5-1 of each photo's short side ("short"), or
    0.7-1 of its long side ("long": the scale of the working canvas, edge-padded like it).
    """
    from tqdm import tqdm

    configure_precision()
    manifest = PhotoSets.read(sets_manifest)
    photo_sets = manifest.photo_sets(sets)
    cutouts = _load_cutouts(manifest.cutouts())
    loaded = load_backbone(backbone)
    taps = [tap for tap in loaded.spec.taps if tap.stride >= output_stride]
    if crop_size % loaded.spec.max_stride:
        msg = f"crop_size {crop_size} must be a multiple of the backbone's stride {loaded.spec.max_stride}"
        raise ValueError(msg)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    cache = FeatureCache(out, {}) if not FeatureCache.is_cache(out) else FeatureCache.open(out)
    settings = {
        "backbone": loaded.spec.name,
        "taps": [tap.key for tap in taps],
        "strides": [tap.stride for tap in taps],
        "crop_size": crop_size,
        "output_stride": output_stride,
        "seed": seed,
        "paste_probability": paste_probability,
        "sets_manifest_sha256": manifest.sha256,
        "crop_scale_of": crop_scale_of,
    }
    built = {"crop_scale_of": "short", **cache.meta}  # caches from before the option hold short-side crops
    if cache.meta and any(built.get(key) != value for key, value in settings.items()):
        msg = f"{str(out)!r} holds a cache built with other settings; choose a new folder"
        raise ValueError(msg)
    cache.meta = {**settings, "parts": cache.meta.get("parts", {})}
    shapes = {tap.key: (crop_size // tap.stride, crop_size // tap.stride, tap.channels) for tap in taps}
    shapes[CHROMA] = (crop_size // output_stride, crop_size // output_stride, 2)

    @tf.function(input_signature=[tf.TensorSpec([None, crop_size, crop_size, 3], tf.uint8)])
    def features(rgb):
        lightness, chroma = to_lightness_and_chroma(rgb)
        gray = color.gray_from_lightness(lightness)[..., tf.newaxis]
        outputs = {key: tf.cast(value, tf.float16) for key, value in loaded(gray).items() if key in shapes}
        outputs[CHROMA] = tf.cast(tf.image.resize(chroma, shapes[CHROMA][:2], method="area"), tf.float16)
        return outputs

    with ThreadPoolExecutor(2) as pool:
        for set_name, entry in photo_sets.items():
            source = _CropSource(entry, crop_size, seed, cutouts, paste_probability, crop_scale_of)
            for split in ("train", "validation"):
                part = _part_name(set_name, split)
                total = source.count(split)
                if total:
                    _fill_part(cache, part, split, source, total, shapes, features, pool, batch_size, progress, tqdm)
    return cache


def _fill_part(cache, part, split, source, total, shapes, features, pool, batch_size, progress, tqdm) -> None:
    """Computes the missing examples of one part; unusable photos leave their rows out (``done`` counts kept rows)."""
    folder = cache.folder / part
    folder.mkdir(exist_ok=True)
    per_photo = source.crops_of_each_photo(split)
    state = cache.meta["parts"].setdefault(
        part, {"split": split, "examples": total, "crops_per_photo": per_photo, "next": 0, "done": 0}
    )
    if state["next"] >= total:
        return
    mode = "r+" if state["next"] else "w+"
    arrays = {
        key: np.lib.format.open_memmap(folder / _file_name(key), mode=mode, dtype=np.float16, shape=(total, *shape))
        for key, shape in shapes.items()
    }
    part_seed = _part_seed(part)
    bar = tqdm(total=total, initial=state["next"], disable=not progress, desc=part, unit="crop")
    while state["next"] < total:
        indices = range(state["next"], min(state["next"] + batch_size, total))
        crops = [c for c in pool.map(lambda i: source(split, i, part_seed), indices) if c is not None]
        if crops:
            outputs = features(tf.constant(np.stack(crops)))
            for key, array in arrays.items():
                array[state["done"] : state["done"] + len(crops)] = outputs[key].numpy()
                array.flush()
        state["done"] += len(crops)
        state["next"] = indices[-1] + 1
        cache.save_meta()
        bar.update(len(indices))
    bar.close()


PRIOR_EXAMPLES = 1024  # cached examples the color prior is estimated from


def forward_from_cache(backbone: Backbone, head, batch, training: bool) -> tuple[tf.Tensor, tf.Tensor]:
    """A batch of (*taps, chroma) -> (head output, target chroma). The gray input is unused at stride 4."""
    *taps, chroma = batch
    gray = tf.zeros([tf.shape(chroma)[0], 1, 1, 1])
    return tf.cast(head([gray, *taps], training=training), tf.float32), chroma


def as_float32(*values: tf.Tensor) -> tuple[tf.Tensor, ...]:
    return tuple(tf.cast(value, tf.float32) for value in values)


class CachedData:
    """Training data from feature caches (:class:`FeatureCache`): no backbone in the step.

    Several caches of the same photo sets built with different seeds (other crops,
    other pasted cut-outs) act as one: a set's examples are its rows in every cache.
    Example ``i`` is drawn from set ``s`` with probability proportional to
    ``set_weights[s]`` (default: each set's example count, i.e. uniform over
    examples), then uniformly within the set; a pure function of (seed, i).
    Validation comes from the first cache (every cache holds the same centred crops).
    ``every_nth_photo`` > 1 trains on the crops of every n-th photo of each set only
    (a learning curve: how accuracy grows with the number of photos), counted among the
    photos the cache kept: an unreadable or near-gray photo leaves no rows, so it shifts
    which listed photos are held out.
    ``set_deep_dropout`` {set: rate} drops channel maps of the deepest tap in that set's
    training examples (whole maps, the rest scaled up, as the head's ``deep_dropout`` of
    ``head_deep_dropout`` does to every example), so that they lose ``rate`` of them in all.
    """

    head_output_stride = CLASSIFICATION_OUTPUT_STRIDE  # the cache holds taps of stride >= 4 and the chroma at stride 4

    def __init__(
        self,
        folders: Sequence[str | Path],
        *,
        seed: int,
        set_weights: dict[str, float] | None,
        max_validation_images: int,
        every_nth_photo: int = 1,
        set_deep_dropout: dict[str, float] | None = None,
        head_deep_dropout: float = 0.0,
    ) -> None:
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
        self.set_deep_dropout = dict(set_deep_dropout or {})
        self.data_dropout = data_dropout_rates(self.set_deep_dropout, head_deep_dropout, self.parts)
        self.deepest_tap = self._deepest_tap_index()
        self.seed = seed
        self.max_validation_images = max_validation_images
        self.validation = self._validation(max_validation_images)

    def _deepest_tap_index(self) -> int:
        """The index in ``keys`` of the tap with the fewest positions (the stride-32 one; the first of a tie)."""
        _, arrays = self.arrays[0][0]
        positions = [np.prod(arrays[key].shape[1:3]) for key in self.tap_keys]
        return positions.index(min(positions))

    def paired_with(self, folder: str | Path) -> CachedData:
        """The same choice of examples (sets, weights, seed, kept photos) read from the cache in ``folder``."""
        return CachedData(
            [folder],
            seed=self.seed,
            set_weights=self.set_weights,
            max_validation_images=self.max_validation_images,
            every_nth_photo=self.every_nth_photo,
        )

    def _stacked_rows(self, part: str, counts_per_cache: list[dict[str, int]]) -> list[tuple[int, dict]]:
        stacked, first = [], 0
        for cache, cache_counts in zip(self.caches, counts_per_cache):
            count = cache_counts.get(part, 0)
            if count:
                stacked.append((first, cache.arrays(part)))
                first += count
        return stacked

    def _rows_of_every_nth_photo(self, counts_per_cache: list[dict[str, int]]) -> list[np.ndarray]:
        """Per part: the stacked rows of every ``every_nth_photo``-th kept photo of each cache (its first, n+1-th, ...)."""
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
        values = [np.asarray(arrays[key][row - first]) for key in self.keys]
        rate = self.data_dropout.get(self.parts[part], 0.0)
        if rate:
            values[self.deepest_tap] = dropped_maps(values[self.deepest_tap], rate, rng)
        return values

    def color_prior(self, mix: float, examples: int = PRIOR_EXAMPLES) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return estimate_color_prior((self.example(index)[-1] for index in range(examples)), mix)

    def dataset(self, per_replica: int, first: int, stride: int) -> tf.data.Dataset:
        _, some_arrays = self.arrays[0][0]
        specs = [tf.TensorSpec(some_arrays[key].shape[1:], tf.float16) for key in self.keys]
        return example_batches(self.example, specs, as_float32, batch_size=per_replica, start=first, stride=stride)

    forward = staticmethod(forward_from_cache)

    def sample_batch(self, count: int) -> None:
        """None: cached examples hold the taps, not the lightness."""
        return

    def skipped_note(self) -> None:
        return None

    def card_counts(self) -> dict:
        return {
            "training_examples": {name: int(count) for name, count in zip(self.parts, self.counts)},
            "set_weights": self.set_weights,
            **({"every_nth_photo": self.every_nth_photo} if self.every_nth_photo != 1 else {}),
            **({"set_deep_dropout": self.set_deep_dropout} if self.set_deep_dropout else {}),
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


def data_dropout_rates(set_rates: dict[str, float], head_rate: float, sets: Sequence[str]) -> dict[str, float]:
    """Per set of ``set_rates``: the fraction of the deepest tap's maps to drop in the data so that, after
    the head's own dropout of ``head_rate``, that set's examples lose ``set_rates[name]`` of them in all.

    ValueError for a set not among ``sets`` or a rate outside [head_rate, 1).
    """
    unknown = sorted(set(set_rates) - set(sets))
    if unknown:
        msg = f"set deep dropout names sets that are not trained on: {unknown}; the sets are {sorted(sets)}"
        raise ValueError(msg)
    rates = {}
    for name, rate in set_rates.items():
        if not (np.isfinite(rate) and head_rate <= rate < 1):
            msg = f"set deep dropout for {name!r} must be in [the head's deep_dropout {head_rate}, 1), got {rate}"
            raise ValueError(msg)
        rates[name] = 1.0 - (1.0 - rate) / (1.0 - head_rate)
    return rates


def dropped_maps(tap: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """``tap`` (H, W, C) with each channel map zeroed at ``rate``, the kept ones scaled by 1 / (1 - rate)."""
    kept = (rng.random(tap.shape[-1]) >= rate) / (1.0 - rate)
    return (tap.astype(np.float32) * kept.astype(np.float32)).astype(tap.dtype)


def _open_matching_caches(folders: Sequence[str | Path]) -> list:
    """The caches of ``folders``, refused unless they hold the same kind of examples with different crops."""
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
