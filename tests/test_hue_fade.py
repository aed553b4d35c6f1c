"""The hue fade: a classification head's chroma faded where its likely bins disagree on hue."""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from skimage import data

from hypercol import Colorizer
from hypercol.core.arrays import as_image_batch, lightness
from hypercol.core.bins import hue_agreement
from hypercol.core.metrics import colorfulness, psnr
from hypercol.core.precision import active_precision
from hypercol.models.card import EnsembleCard, ModelCard, card_path
from hypercol.models.head import build_head

CAMERA = data.camera()[::4, ::4]  # 128 x 128


def agreement_by_hand(logits: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """|E[ab]| / E[|ab|] under softmax(logits), in numpy."""
    probabilities = np.exp(logits - logits.max(-1, keepdims=True))
    probabilities /= probabilities.sum(-1, keepdims=True)
    mean_ab = probabilities @ centres
    return np.linalg.norm(mean_ab, axis=-1) / (probabilities @ np.linalg.norm(centres, axis=-1))


def test_hue_agreement_of_known_distributions() -> None:
    centres = np.array([[30.0, 0.0], [-30.0, 0.0], [0.0, 30.0], [0.0, 0.0]], np.float32)
    sure, opposite, quarter = [50.0, 0, 0, 0], [50.0, 50.0, 0, 0], [50.0, 0, 50.0, 0]
    gray_and_red = [50.0, 0, 0, 50.0]  # the gray bin points nowhere: the hue is still red's alone
    logits = tf.constant([sure, opposite, quarter, gray_and_red], tf.float32)
    np.testing.assert_allclose(hue_agreement(logits, centres).numpy(), [1.0, 0.0, np.sqrt(0.5), 1.0], atol=1e-5)
    random = np.random.default_rng(0).normal(0, 2, (3, 5, 4)).astype(np.float32)
    np.testing.assert_allclose(hue_agreement(random, centres).numpy(), agreement_by_hand(random, centres), rtol=1e-5)
    only_gray = tf.constant([[-50.0, -50.0, -50.0, 50.0]])
    assert np.isfinite(hue_agreement(only_gray, centres).numpy()).all()


@pytest.mark.parametrize("hue_fade", [-0.5, float("nan"), float("inf"), "1", True, None])
def test_a_card_with_a_bad_hue_fade_is_refused(tiny_classification_weights, hue_fade) -> None:
    fields = json.loads(card_path(tiny_classification_weights).read_text())
    with pytest.raises(ValueError, match="hue_fade must be a finite number >= 0"):
        ModelCard.from_json_object({**fields, "hue_fade": hue_fade})
    with pytest.raises(ValueError, match="hue_fade"):
        EnsembleCard(members=["a.weights.h5", "b.weights.h5"], hue_fade=hue_fade).check()
    with pytest.raises(ValueError, match="hue_fade"):
        ModelCard.from_json_object({**fields, "small_canvas_defaults": {"hue_fade": hue_fade}}).on_small_canvas()


def unsure_head(tiny_spec, sure: Path, unsure: Path) -> None:
    """The classification head ``sure`` with its logits 10,000 times smaller (its last layer's weights scaled),
    saved as ``unsure``: at a pixel the random head's logits have a standard deviation of about 18,000 (one-hot
    everywhere, no hue to fade), the unsure head's about 2."""
    head = build_head(tiny_spec.taps, **ModelCard.load(card_path(sure)).head_config)
    head.load_weights(str(sure))
    for weight in head.weights:
        if "chroma" in weight.path:
            weight.assign(weight / 1e4)
    head.save_weights(str(unsure))


@pytest.fixture(scope="module")
def faded(tiny_spec, tiny_classification_weights, tiny_weights, tmp_path_factory):
    """An unsure tiny classification head (:func:`unsure_head`) as trained (``plain``) and with cards that fade
    (``faded``: 1; ``half``: 0.5); the tiny regression head with a fade in its card (``regression``)."""
    folder = tmp_path_factory.mktemp("hue_fade")
    unsure = folder / "unsure.weights.h5"
    unsure_head(tiny_spec, tiny_classification_weights, unsure)
    for name, source, hue_fade in (
        ("plain", unsure, 0.0),
        ("faded", unsure, 1.0),
        ("half", unsure, 0.5),
        ("regression", tiny_weights, 1.0),
    ):
        card_source = tiny_classification_weights if source == unsure else source
        shutil.copyfile(source, folder / f"{name}.weights.h5")
        card = replace(ModelCard.load(card_path(card_source)), hue_fade=hue_fade)
        (folder / f"{name}.json").write_text(card.to_json())
    return folder


def working_chroma(colorizer: Colorizer, **knobs) -> np.ndarray:
    stacked = tf.constant(lightness(as_image_batch(CAMERA), 0)[np.newaxis])
    return colorizer.network.chroma(stacked, *colorizer.knobs(**knobs))[0].numpy()


def test_the_cards_hue_fade_scales_the_annealed_mean_by_the_agreement(faded) -> None:
    """At the head's resolution the chroma is the annealed mean times R ** fade (R from the logits at T 1), then
    brought to the working shape as without a fade."""
    plain, fade = Colorizer(faded / "plain.weights.h5"), Colorizer(faded / "faded.weights.h5")
    network = plain.network
    stacked = tf.constant(lightness(as_image_batch(CAMERA), 0)[np.newaxis])
    output, small = network.run(stacked)
    logits, centres = output.numpy().astype(np.float64), np.asarray(network.card.bins)
    temperature = network.card.temperature
    annealed = np.exp((logits - logits.max(-1, keepdims=True)) / temperature)
    annealed = (annealed / annealed.sum(-1, keepdims=True)) @ centres
    agreement = agreement_by_hand(logits, centres)
    assert np.median(agreement) < 0.9  # the unsure head disagrees with itself: the fade is in reach
    size = network.working_size
    expected = tf.image.resize(annealed * agreement[..., None], [size, size], method="bilinear")
    expected = expected[:, : small.shape[1], : small.shape[2]].numpy()
    # In float32 the same numbers; where the backbone and head run in bf16, the traced call's logits are rounded
    # differently from the eager ones above (0.13 ab apart at most here, of chroma up to about 18).
    tolerance = 1e-3 if active_precision() == "float32" else 0.03 * np.abs(expected).max()
    np.testing.assert_allclose(working_chroma(fade, fallback=0.0, saturation=1.5), 1.5 * expected, atol=tolerance)
    change = np.linalg.norm(working_chroma(plain, fallback=0.0) - working_chroma(fade, fallback=0.0), axis=-1)
    assert change.max() > 5.0  # ab units: a visible change where the bins disagree
    assert not np.array_equal(fade.colorize(CAMERA), plain.colorize(CAMERA))


def test_a_half_fade_is_between_none_and_a_full_one(faded) -> None:
    strengths = [
        np.linalg.norm(working_chroma(Colorizer(faded / f"{name}.weights.h5")), axis=-1).mean()
        for name in ("plain", "half", "faded")
    ]
    assert strengths[0] > strengths[1] > strengths[2] > 0


def test_a_regression_head_has_no_bins_to_fade(faded, tiny_weights) -> None:
    np.testing.assert_array_equal(
        Colorizer(faded / "regression.weights.h5").colorize(CAMERA), Colorizer(tiny_weights).colorize(CAMERA)
    )


def test_an_ensembles_hue_fade_is_its_own_for_every_member(faded) -> None:
    """The same head twice is that head: with the ensemble card's fade, as a head card with that fade; a member
    card's own fade is left aside."""
    path = faded / "twice.ensemble.json"
    path.write_text(EnsembleCard(members=["faded.weights.h5", "faded.weights.h5"], hue_fade=0.5).to_json())
    ensemble = Colorizer(path)
    assert ensemble.card.hue_fade == 0.5
    np.testing.assert_array_equal(ensemble.colorize(CAMERA), Colorizer(faded / "half.weights.h5").colorize(CAMERA))
    path.write_text(EnsembleCard(members=["faded.weights.h5", "faded.weights.h5"]).to_json())
    np.testing.assert_array_equal(
        Colorizer(path).colorize(CAMERA), Colorizer(faded / "plain.weights.h5").colorize(CAMERA)
    )


def test_the_shipping_sweep_decodes_each_hue_fade_as_a_card_with_it_colorizes(faded) -> None:
    """examples/ship_head.py decodes each (temperature, fallback, hue fade) before the saturation; the row it
    chooses must mean what a card with those knobs does (the card's own fade must not leak into the sweep)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    from ship_head import defaults_of, sweep

    photos = [data.astronaut()[::4, ::4], data.coffee()[::4, ::4]]
    weights = faded / "half.weights.h5"
    card = ModelCard.load(faded / "half.json")
    rows = sweep(weights, card, photos, [64], temperatures=[0.5], saturations=[1.5], fallbacks=[0.0], hue_fades=[0, 1])
    assert [(r["hue_fade"], r["saturation"]) for r in rows] == [(0, 1.5), (1, 1.5)]
    for row in rows:
        chosen = replace(ModelCard.load(faded / "half.json"), **defaults_of(row))
        assert chosen.hue_fade == row["hue_fade"]
        outputs = [Colorizer(weights, card=chosen, small_canvas=False).colorize(photo) for photo in photos]
        np.testing.assert_allclose(row["psnr_per_image"], [psnr(t, o) for t, o in zip(photos, outputs)], atol=0.01)
        np.testing.assert_allclose(row["colorfulness_per_image"], [colorfulness(o) for o in outputs], atol=0.2)
    assert rows[1]["colorfulness"] < 0.9 * rows[0]["colorfulness"]  # the fade reached the colors
