"""Training photos: finding them, the validation split, reading example ``i`` of a run, and :class:`PhotoData`.

Example ``i`` of a run is a pure function of (seed, i): which photo (a per-epoch
permutation), which crop, scale and flip. So a resumed run sees exactly the data the
uninterrupted run would have seen, and checkpoints need no iterator state.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

import hypercol.core.quiet_tensorflow  # noqa: F401  # isort: skip -- first: TensorFlow's start-up lines hidden
import tensorflow as tf
from PIL import Image, UnidentifiedImageError

from hypercol.core import color
from hypercol.core.metrics import NEAR_GRAY_COLORFULNESS, colorfulness
from hypercol.inference.network import chroma_from_gray
from hypercol.io.files import IMAGE_SUFFIXES
from hypercol.models.backbones import Backbone
from hypercol.training.config import CROP_SCALES_OF
from hypercol.training.data import example_batches, to_lightness_and_chroma
from hypercol.training.prior import estimate_color_prior

__all__ = [
    "LIST_SUFFIXES",
    "ExampleReader",
    "PhotoData",
    "centre_square",
    "find_images",
    "forward_from_photos",
    "make_dataset",
    "split_validation",
]

LIST_SUFFIXES = (".txt", ".lst")
PRIOR_EXAMPLES = 256  # training crops the color prior is estimated from


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


def split_validation(paths: Sequence[str], fraction: float = 0.1, fold: int = 0) -> tuple[list[str], list[str]]:
    """Deterministic split by a hash of each file name; both sides non-empty when possible.

    The photos are ranked by the hash; validation is the ``fold``-th run of ``fraction`` of
    them (fold 0: the lowest hashes, the usual split). Folds 0 .. 1/fraction - 1 of one
    fraction are disjoint, and with fraction 1/k they hold out every photo once (k-fold;
    the last fold takes what the rounding left).
    """
    if not 0.0 <= fraction < 1.0:
        msg = f"validation fraction must be in [0, 1), got {fraction}"
        raise ValueError(msg)
    if fold < 0 or (fold and fold * fraction >= 1.0):
        msg = f"fold {fold} is not one of the {int(1 / fraction) if fraction else 0} folds of fraction {fraction}"
        raise ValueError(msg)

    def bucket(path: str) -> float:
        return int(hashlib.sha1(Path(path).name.encode()).hexdigest()[:8], 16) / 2**32

    ranked = sorted(paths, key=bucket)
    count = round(len(paths) * fraction)
    if fraction > 0 and len(paths) >= 2:
        count = min(max(count, 1), len(paths) - 1)
    last_fold = (fold + 1) * fraction > 1.0 - 1e-9  # takes the photos the rounding of the others left
    validation = set(ranked[fold * count : None if last_fold else (fold + 1) * count])
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
        scale_of: str = "short",
        min_colorfulness: float = NEAR_GRAY_COLORFULNESS,
        max_attempts: int = 50,
    ) -> None:
        if not paths:
            msg = "no training images"
            raise ValueError(msg)
        self.paths = list(paths)
        self.crop_size = crop_size
        self.seed = seed
        if scale_of not in CROP_SCALES_OF:
            msg = f"scale_of must be one of {CROP_SCALES_OF}, not {scale_of!r}"
            raise ValueError(msg)
        self.scale_range = scale_range
        self.scale_of = scale_of
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

    def open_usable(self, path: str) -> Image.Image | None:
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

    def first_usable(self) -> str | None:
        """The first photo of the list that is readable and colorful (one look at each until then), or None."""
        for path in self.paths:
            image = self.open_usable(path)
            if image is not None:
                image.close()
                return path
        return None

    def crop(self, image: Image.Image, rng: np.random.Generator) -> np.ndarray:
        """A square crop of side ``scale`` x the photo's short (or long) side, resized to ``crop_size``, maybe flipped.

        With ``scale_of="long"`` the square may reach past the photo's short side: the photo
        then sits at the top left and the rest repeats its last row or column, as on the
        working canvas of :meth:`hypercol.inference.network.ChromaNetwork.working_canvas`
        (scale 1 is that canvas: the whole photo at the scale ``colorize`` sees it).
        """
        size = self.crop_size
        scale = rng.uniform(*self.scale_range)
        full_width, full_height = image.size
        side = max(1.0, scale * (max if self.scale_of == "long" else min)(full_width, full_height))
        reduction = min(1.0, size / side)  # JPEG may decode at a reduced scale when shrinking
        image.draft("RGB", (math.ceil(full_width * reduction), math.ceil(full_height * reduction)))
        image = image.convert("RGB")
        side_px = side * image.width / full_width
        if self.scale_of == "short":
            side_px = min(side_px, min(image.size))  # a square inside the decoded photo, whatever its rounding
        box_width, box_height = min(side_px, image.width), min(side_px, image.height)
        left = rng.uniform(0, image.width - box_width)
        top = rng.uniform(0, image.height - box_height)
        shape = (
            min(size, max(1, round(size * box_width / side_px))),
            min(size, max(1, round(size * box_height / side_px))),
        )
        crop = image.resize(shape, Image.BILINEAR, box=(left, top, left + box_width, top + box_height))
        pixels = np.asarray(crop)
        if rng.random() < 0.5:
            pixels = pixels[:, ::-1]
        rows, cols = np.minimum(np.arange(size), shape[1] - 1), np.minimum(np.arange(size), shape[0] - 1)
        return pixels[rows][:, cols] if shape != (size, size) else np.ascontiguousarray(pixels)

    def __call__(self, index) -> np.ndarray:
        """(crop_size, crop_size, 3) uint8 for example ``index`` (an int or 0-d array)."""
        index = int(index)
        epoch, position = divmod(index, len(self.paths))
        for attempt in range(self.max_attempts):
            shifted_epoch, shifted = divmod(position + attempt, len(self.paths))
            path = self.paths[self._order(epoch + shifted_epoch)[shifted]]
            image = self.open_usable(path)
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
        """Deterministic validation crop: the centred square of the short side (None: unusable photo)."""
        image = self.open_usable(path)
        return None if image is None else centre_square(image, self.crop_size)


def centre_square(image: Image.Image, size: int) -> np.ndarray:
    """The centred square of the short side of ``image``, resized to ``size``: uint8 (size, size, 3)."""
    image = image.convert("RGB")
    side = min(image.size)
    left, top = (image.width - side) / 2, (image.height - side) / 2
    return np.asarray(image.resize((size, size), Image.BILINEAR, box=(left, top, left + side, top + side)))


def make_dataset(reader: ExampleReader, *, batch_size: int, start: int, stride: int = 1) -> tf.data.Dataset:
    """Batches of (L, ab) for examples start, start + stride, ... (stride = input pipelines)."""
    spec = tf.TensorSpec([reader.crop_size, reader.crop_size, 3], tf.uint8)
    return example_batches(reader, [spec], to_lightness_and_chroma, batch_size=batch_size, start=start, stride=stride)


def forward_from_photos(backbone: Backbone, head, batch, training: bool) -> tuple[tf.Tensor, tf.Tensor]:
    """A batch of (lightness, chroma) -> (head output, target chroma): the backbone sees the gray of the lightness."""
    lightness, chroma = batch
    gray = color.gray_from_lightness(lightness)[..., tf.newaxis]
    return chroma_from_gray(backbone, head, gray, training=training), chroma


class PhotoData:
    """Training data decoded from photos at every step; the backbone runs inside the training step."""

    tap_keys = None  # every tap of the backbone
    head_output_stride = None  # the head's own

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
        if self.reader.first_usable() is None:  # before the pipeline: there its reader would fail every batch
            unreadable, grayscale = sorted(self.reader.unreadable), sorted(self.reader.grayscale)
            msg = (
                f"none of the {len(train_paths)} training photos is usable: {len(unreadable)} unreadable, "
                f"{len(grayscale)} near-gray (e.g. {(unreadable or grayscale)[0]!r}); training needs color photos"
            )
            raise ValueError(msg)
        self.training_images = len(train_paths)
        crops = [
            c for c in (self.reader.center_crop(p) for p in validation_paths[:max_validation_images]) if c is not None
        ]
        self.validation = to_lightness_and_chroma(np.stack(crops)) if crops else None
        self.validation_images = len(crops)

    def color_prior(self, mix: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        chroma = (to_lightness_and_chroma(self.reader(index))[1].numpy() for index in range(PRIOR_EXAMPLES))
        return estimate_color_prior(chroma, mix)

    def dataset(self, per_replica: int, first: int, stride: int) -> tf.data.Dataset:
        return make_dataset(self.reader, batch_size=per_replica, start=first, stride=stride)

    forward = staticmethod(forward_from_photos)

    def sample_batch(self, count: int) -> tuple[tf.Tensor, tuple[tf.Tensor, ...]] | None:
        if self.validation is None:
            return None
        lightness, chroma = (tensor[:count] for tensor in self.validation)
        return lightness, (lightness, chroma)

    def card_counts(self) -> dict:
        return {
            "training_images": self.training_images,
            "validation_images": self.validation_images,
            "skipped_unreadable": len(self.reader.unreadable),
            "dropped_grayscale": len(self.reader.grayscale),
        }

    def skipped_note(self) -> str | None:
        unreadable, grayscale = len(self.reader.unreadable), len(self.reader.grayscale)
        return f"skipped {unreadable} unreadable and {grayscale} near-gray photos" if unreadable or grayscale else None
