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
from hypercol.models.backbones import DEFAULT_BACKBONE, load_backbone
from hypercol.training.train import ExampleReader, to_lightness_and_chroma

__all__ = ["CACHE_FILE", "FeatureCache", "build_feature_cache", "paste_cutouts", "CHROMA"]

CACHE_FILE = "cache.json"
CHROMA = "chroma"  # the part file holding the target ab at the output stride
_SCALE_RANGE = (0.5, 1.0)  # crops of half to all of the short side: objects at the scale colorize() sees


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

    def __init__(self, entry: dict, crop_size: int, seed: int, cutouts, paste_probability: float) -> None:
        root = Path(entry["root"])
        self.split_files = {
            split: [str(root / item["file"]) for item in entry[split]] for split in ("train", "validation")
        }
        self.crops_per_photo = int(entry.get("crops_per_photo", 1))
        self.centre_fraction = float(entry.get("centre_fraction", 1.0))
        every_file = self.split_files["train"] + self.split_files["validation"]
        self.reader = ExampleReader(every_file, crop_size, seed=seed, scale_range=_SCALE_RANGE)
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
        image = self.reader._open(path)
        if image is None:
            return None
        image = self._centre(image)
        if split != "train":
            side = min(image.size)
            left, top = (image.width - side) / 2, (image.height - side) / 2
            size = (self.reader.crop_size,) * 2
            box = (left, top, left + side, top + side)
            return np.asarray(image.convert("RGB").resize(size, Image.BILINEAR, box=box))
        rng = np.random.default_rng([self.seed, part_seed, index])
        crop = self.reader.crop(image, rng)
        if self.cutouts and rng.random() < self.paste_probability:
            crop = paste_cutouts(crop, self.cutouts, rng, count=int(rng.integers(1, 3)))
        return crop


def _load_cutouts(entry: dict | None) -> list[Image.Image]:
    if not entry:
        return []
    root = Path(entry["root"])
    cutouts = []
    for item in entry["train"]:
        with Image.open(root / item["file"]) as image:
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
    batch_size: int = 16,
    progress: bool = True,
) -> FeatureCache:
    """Computes (or resumes computing) the cache of every photo set of ``sets_manifest`` into ``out``.

    ``sets_manifest`` is the JSON written by ``examples/build_photo_sets.py``; a set of
    kind "cutouts" is pasted onto ``paste_probability`` of the training crops.
    """
    from tqdm import tqdm

    configure_precision()
    manifest_text = Path(sets_manifest).read_text()
    all_sets = json.loads(manifest_text)["sets"]
    photo_sets = {n: e for n, e in all_sets.items() if e["kind"] == "photos" and (sets is None or n in sets)}
    cutouts = _load_cutouts(next((e for e in all_sets.values() if e["kind"] == "cutouts"), None))
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
        "sets_manifest_sha256": hashlib.sha256(manifest_text.encode()).hexdigest(),
    }
    if cache.meta and any(cache.meta.get(key) != value for key, value in settings.items()):
        msg = f"{str(out)!r} holds a cache built with other settings; choose a new folder"
        raise ValueError(msg)
    cache.meta = {**settings, "parts": cache.meta.get("parts", {})}
    shapes = {tap.key: (crop_size // tap.stride, crop_size // tap.stride, tap.channels) for tap in taps}
    shapes[CHROMA] = (crop_size // output_stride, crop_size // output_stride, 2)

    @tf.function(input_signature=[tf.TensorSpec([None, crop_size, crop_size, 3], tf.uint8)])
    def features(rgb):
        lightness, chroma = to_lightness_and_chroma(rgb)
        gray = color.linear_to_srgb(color.luminance_from_lightness(lightness))[..., tf.newaxis]
        outputs = {key: tf.cast(value, tf.float16) for key, value in loaded(gray).items() if key in shapes}
        outputs[CHROMA] = tf.cast(tf.image.resize(chroma, shapes[CHROMA][:2], method="area"), tf.float16)
        return outputs

    with ThreadPoolExecutor(2) as pool:
        for set_name, entry in photo_sets.items():
            source = _CropSource(entry, crop_size, seed, cutouts, paste_probability)
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
