"""Shared fixtures: a private TF Hub cache and a tiny backbone + head for fast tests."""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
import threading

# Before TensorFlow Hub or hypercol is imported anywhere: never touch the user's cache.
_HUB_CACHE = tempfile.mkdtemp(prefix="hypercol-test-hub-")
os.environ["TFHUB_CACHE_DIR"] = _HUB_CACHE
atexit.register(shutil.rmtree, _HUB_CACHE, ignore_errors=True)  # also after --collect-only or a crash

from pathlib import Path

import numpy as np
import pytest

TINY_BACKBONE = "tiny_vgg"


@pytest.fixture(scope="session")
def hub_cache() -> Path:
    """The session's TF Hub cache folder ($TFHUB_CACHE_DIR)."""
    return Path(_HUB_CACHE)


@pytest.fixture(scope="session")
def tiny_spec(tmp_path_factory):
    """A tiny VGG-shaped SavedModel, registered as ``tiny_vgg``."""
    from tiny_backbones import TINY_VGG_TAPS, export_tiny_vgg

    from hypercol.models.backbones import BackboneSpec, Tap, register_backbone

    folder = export_tiny_vgg(tmp_path_factory.mktemp("tiny_vgg") / "saved_model")
    spec = BackboneSpec(
        name=TINY_BACKBONE,
        taps=tuple(Tap(key, channels, stride) for key, channels, stride in TINY_VGG_TAPS),
        input_convention="caffe_bgr",
        handle=str(folder),
        description="test backbone",
    )
    return register_backbone(spec)


def randomize(model, seed: int = 0) -> None:
    """Non-trivial random weights everywhere (so the head's output is clearly colored)."""
    rng = np.random.default_rng(seed)
    for weight in model.weights:
        shape, path = tuple(weight.shape), weight.path
        if "moving_variance" in path:
            value = rng.uniform(0.5, 2.0, shape)
        elif "gamma" in path:
            value = rng.uniform(0.5, 1.5, shape)
        elif "moving_mean" in path:
            value = rng.normal(0.0, 0.1, shape)
        elif "chroma" in path:  # the last conv: big enough for strong chroma
            value = rng.normal(0.0, 3.0, shape)
        else:
            value = rng.normal(0.0, 0.3, shape)
        weight.assign(value.astype(np.float32))


def save_tiny_head(tiny_spec, folder: Path, name: str, head_config: dict, seed: int = 0, **card_fields) -> Path:
    """A random head (:func:`randomize`) on ``tiny_vgg`` saved as ``folder/NAME.weights.h5``, its card
    ``NAME.json`` beside it (``card_fields``: the card's other fields)."""
    from hypercol.models.card import ModelCard
    from hypercol.models.head import build_head

    head = build_head(tiny_spec.taps, **head_config)
    randomize(head, seed=seed)
    weights = folder / f"{name}.weights.h5"
    head.save_weights(str(weights))
    taps = [tap.key for tap in tiny_spec.taps]
    card = ModelCard(backbone=TINY_BACKBONE, taps=taps, head_config=head_config, **card_fields)
    (folder / f"{name}.json").write_text(card.to_json())
    return weights


@pytest.fixture(scope="session")
def tiny_weights(tiny_spec, tmp_path_factory) -> Path:
    """Path of ``tiny.weights.h5`` (with ``tiny.json`` beside it): a random head on ``tiny_vgg``."""
    folder = tmp_path_factory.mktemp("tiny_head")
    return save_tiny_head(tiny_spec, folder, "tiny", {"base_width": 16, "min_width": 8}, working_size=64)


@pytest.fixture(scope="session")
def tiny_classification_weights(tiny_spec, tmp_path_factory) -> Path:
    """Path of ``tiny_classification.weights.h5`` (its card beside it): a random classification head on
    ``tiny_vgg`` over the ab bins within 60 of gray, at stride 4, on a 96-pixel canvas, with its own temperature
    (0.5) and uncertainty fallback (0.25)."""
    from hypercol.core.bins import grid_centres

    centres = grid_centres()
    centres = centres[np.hypot(centres[:, 0], centres[:, 1]) <= 60]
    config = {"base_width": 16, "min_width": 8, "outputs": len(centres), "output_stride": 4}
    return save_tiny_head(
        tiny_spec,
        tmp_path_factory.mktemp("tiny_classification"),
        "tiny_classification",
        config,
        seed=7,
        working_size=96,
        head_type="classification",
        bins=centres.tolist(),
        temperature=0.5,
        uncertainty_fallback=0.25,
    )


@pytest.fixture(scope="session")
def weights_by_handle(tiny_spec, tiny_weights, tmp_path_factory) -> Path:
    """The tiny head, its card naming the tiny backbone by its SavedModel folder: loadable in a new process."""
    from hypercol.models.card import ModelCard

    card = ModelCard.load(tiny_weights.with_name("tiny.json"))
    card.backbone = tiny_spec.handle
    folder = tmp_path_factory.mktemp("by_handle")
    (folder / "tiny.json").write_text(card.to_json())
    (folder / "tiny.weights.h5").write_bytes(tiny_weights.read_bytes())
    return folder / "tiny.weights.h5"


@pytest.fixture(scope="session")
def tiny_colorizer(tiny_weights):
    from hypercol.inference.colorizer import get_colorizer

    return get_colorizer(tiny_weights)


@contextlib.contextmanager
def _fifo_released(*fifos: Path):
    """While the block runs, a reader blocked opening one of ``fifos`` is handed an end of file: a safety net, so
    that a check missing from the code under test fails the test instead of hanging it."""
    done = threading.Event()

    def release() -> None:
        while not done.wait(0.2):
            for fifo in fifos:
                with contextlib.suppress(OSError):  # ENXIO: nobody is reading it (yet)
                    os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))

    thread = threading.Thread(target=release, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


@pytest.fixture
def fifo_released():
    """``with fifo_released(*paths):`` see :func:`_fifo_released`."""
    return _fifo_released


def _within(seconds: float, function, *args):
    """``function(*args)``, failing the test unless it returns within ``seconds`` (it runs on in the background)."""
    outcome = {}

    def run() -> None:
        try:
            outcome["value"] = function(*args)
        except BaseException as error:  # noqa: BLE001 -- raised again in the test's thread
            outcome["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{function.__name__}{args} still running after {seconds} s"
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


@pytest.fixture
def within():
    """``within(seconds, function, *args)``: see :func:`_within`."""
    return _within
