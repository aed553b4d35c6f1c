"""The saturation knee: each photo's own gain, fading as its predicted chroma is already strong."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import tensorflow as tf
from skimage import data

from hypercol import Colorizer
from hypercol.core.arrays import as_image_batch, lightness
from hypercol.inference.network import saturated
from hypercol.models.card import EnsembleCard, ModelCard

CAMERA = data.camera()[::4, ::4]  # 128 x 128


def rms(chroma: np.ndarray) -> np.ndarray:
    return np.sqrt((chroma**2).sum(-1).mean(axis=(1, 2)))


def test_each_photo_gets_its_own_gain() -> None:
    rng = np.random.default_rng(0)
    muted, colorful, gray = rng.normal(0, 2, (8, 8, 2)), rng.normal(0, 30, (8, 8, 2)), np.zeros((8, 8, 2))
    chroma = tf.constant(np.stack([muted, colorful, gray]), tf.float32)
    np.testing.assert_allclose(saturated(chroma, 1.5).numpy(), 1.5 * chroma.numpy(), rtol=1e-6)
    knee, saturation = 20.0, 2.0
    out = saturated(chroma, saturation, knee).numpy()
    before, after = rms(chroma.numpy()), rms(out)
    np.testing.assert_allclose(after[:2], knee * np.tanh(saturation * before[:2] / knee), rtol=1e-5)
    gains = after[:2] / before[:2]
    assert 1.95 < gains[0] < 2.0 and 0.4 < gains[1] < 0.5  # the muted photo doubled, the colorful one kept under 20
    np.testing.assert_allclose(out[0] / chroma.numpy()[0], gains[0], rtol=1e-4)  # one gain per photo: hues kept
    assert np.all(np.isfinite(out)) and not out[2].any()  # a gray prediction stays gray, no NaN


@pytest.mark.parametrize("knee", [0.0, -3.0, float("nan"), float("inf"), "20", True])
def test_a_card_with_a_bad_knee_is_refused(tiny_weights, knee) -> None:
    data_ = json.loads(tiny_weights.with_name("tiny.json").read_text())
    with pytest.raises(ValueError, match="saturation_knee must be a finite number > 0"):
        ModelCard.from_json_object({**data_, "saturation_knee": knee})
    with pytest.raises(ValueError, match="saturation_knee"):
        EnsembleCard(members=["a.weights.h5", "b.weights.h5"], saturation_knee=knee).check()


@pytest.fixture(scope="module")
def kneed(tiny_weights, tmp_path_factory):
    """The tiny head twice: as trained (``plain``) and with a card that sets a knee (``kneed``)."""
    folder = tmp_path_factory.mktemp("knee")
    for name, knee in (("plain", None), ("kneed", 200.0)):
        shutil.copyfile(tiny_weights, folder / f"{name}.weights.h5")
        card = ModelCard.load(tiny_weights.with_name("tiny.json"))
        card.saturation_knee = knee
        (folder / f"{name}.json").write_text(card.to_json())
    return folder


def working_chroma(colorizer: Colorizer, saturation: float) -> np.ndarray:
    stacked = tf.constant(lightness(as_image_batch(CAMERA), 0)[np.newaxis])
    return colorizer.network.chroma(stacked, *colorizer.knobs(saturation=saturation))[0].numpy()


def test_the_cards_knee_reaches_the_colors(kneed) -> None:
    plain, knee = Colorizer(kneed / "plain.weights.h5"), Colorizer(kneed / "kneed.weights.h5")
    raw = working_chroma(plain, 1.0)
    # The tiny head's random prediction is strong (RMS about 155): at saturation 2 it would pass the knee.
    assert 100 < rms(raw)[0] < 200
    expected = saturated(tf.constant(raw), 2.0, 200.0).numpy()
    np.testing.assert_allclose(working_chroma(knee, 2.0), expected, atol=1e-4)
    assert rms(expected)[0] < 200.0 < rms(2.0 * raw)[0]
    # and the colors a call returns (the random head's chroma is far outside the gamut; only "differs" holds)
    assert not np.array_equal(knee.colorize(CAMERA, saturation=2.0), plain.colorize(CAMERA, saturation=2.0))


def test_an_ensembles_knee_acts_on_the_mean_not_on_the_members(kneed) -> None:
    """Members give their chroma as predicted (a member card's own knee is not applied); the ensemble card's
    knee then acts on their mean."""
    path = kneed / "pair.ensemble.json"
    card = EnsembleCard(members=["kneed.weights.h5", "plain.weights.h5"], saturation=2.0, saturation_knee=250.0)
    path.write_text(card.to_json())
    ensemble = Colorizer(path)
    raw = working_chroma(Colorizer(kneed / "plain.weights.h5"), 1.0)  # both members are the same head
    expected = saturated(tf.constant(raw), 2.0, 250.0).numpy()
    np.testing.assert_allclose(working_chroma(ensemble, 2.0), expected, atol=1e-4)
    assert ensemble.network.card.saturation_knee == 250.0
    assert not np.allclose(expected, 2.0 * raw, rtol=0.05)  # the knee is in reach


def test_the_shipping_sweep_decodes_each_knee_as_a_card_with_it_colorizes(kneed) -> None:
    """examples/ship_head.py decodes once at saturation 1 and applies each (saturation, knee) itself; the row it
    chooses must mean what a card with those knobs does."""
    import sys
    from dataclasses import replace
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    from ship_head import defaults_of, sweep

    from hypercol.core.metrics import colorfulness, psnr

    photos = [data.astronaut()[::4, ::4], data.coffee()[::4, ::4]]
    weights = kneed / "kneed.weights.h5"  # its card's own knee must not leak into the sweep
    card = ModelCard.load(kneed / "kneed.json")
    rows = sweep(weights, card, photos, [64], saturations=[1.0, 1.5], knees=[None, 200.0])
    assert [(r["saturation"], r["knee"]) for r in rows] == [(1.0, None), (1.0, 200.0), (1.5, None), (1.5, 200.0)]
    for row in rows:
        chosen = replace(ModelCard.load(kneed / "kneed.json"), **defaults_of(row))
        outputs = [Colorizer(weights, card=chosen, small_canvas=False).colorize(photo) for photo in photos]
        np.testing.assert_allclose(row["psnr_per_image"], [psnr(t, o) for t, o in zip(photos, outputs)], atol=0.01)
        np.testing.assert_allclose(row["colorfulness_per_image"], [colorfulness(o) for o in outputs], atol=0.2)
    assert abs(rows[3]["psnr"] - rows[2]["psnr"]) > 0.05  # the knee reached the colors
