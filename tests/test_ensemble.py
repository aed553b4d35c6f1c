"""Ensembles of heads on the tiny backbone: the averaged chroma, the card, and what is refused."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import tensorflow as tf
from conftest import TINY_BACKBONE
from PIL import Image
from skimage import color as skcolor
from skimage import data

from hypercol import ColorizeFilter, Colorizer, colorize, colorize_video
from hypercol.core.arrays import as_image_batch, lightness
from hypercol.core.precision import active_precision
from hypercol.models.card import EnsembleCard, ModelCard, card_path, check_head, is_ensemble_card

CAMERA = data.camera()[::4, ::4]  # 128 x 128


@pytest.fixture(scope="module")
def heads(tiny_weights, tiny_classification_weights, tmp_path_factory):
    """A folder with the tiny regression head ``a`` and the tiny classification head ``b`` (its own card: a
    96-pixel canvas, its own temperature and fallback)."""
    folder = tmp_path_factory.mktemp("ensemble")
    for source, name in ((tiny_weights, "a"), (tiny_classification_weights, "b")):
        shutil.copyfile(source, folder / f"{name}.weights.h5")
        shutil.copyfile(card_path(source), folder / f"{name}.json")
    return folder


def write_ensemble(folder, members, saturation=1.0, name="pair"):
    path = folder / f"{name}.ensemble.json"
    path.write_text(EnsembleCard(members=members, saturation=saturation).to_json())
    return path


def test_the_same_head_twice_is_that_head(heads) -> None:
    """Averaging a head with itself changes nothing: the ensemble's output is the head's, at any saturation."""
    twice = Colorizer(write_ensemble(heads, ["a.weights.h5", "a.weights.h5"], saturation=1.5, name="twice"))
    alone = Colorizer(heads / "a.weights.h5")
    np.testing.assert_array_equal(twice.colorize(CAMERA), alone.colorize(CAMERA, saturation=1.5))
    np.testing.assert_array_equal(twice.colorize(CAMERA, saturation=0.5), alone.colorize(CAMERA, saturation=0.5))


def test_the_chroma_is_the_members_mean_times_the_saturation(heads) -> None:
    """Each member at saturation 1 on its own canvas, brought to the first's working shape, averaged, scaled."""
    ensemble = Colorizer(write_ensemble(heads, ["a.weights.h5", "b.weights.h5"], saturation=2.0))
    network = ensemble.network
    stacked = tf.constant(lightness(as_image_batch(CAMERA), 0)[np.newaxis])
    chroma, small = network.chroma(stacked, *ensemble.knobs())
    first, second = network.members

    def at_saturation_one(member):
        temperature, _, fallback = member.knobs(None, None, None)
        return member.chroma(stacked, temperature, tf.constant(1.0), fallback)

    (a, small_a), (b, _) = at_saturation_one(first), at_saturation_one(second)
    assert first.working_size == 64 and second.working_size == 96 and b.shape[1:3] != a.shape[1:3]
    expected = 2.0 * (a + tf.image.resize(b, a.shape[1:3], method="bilinear")) / 2
    np.testing.assert_allclose(chroma.numpy(), expected.numpy(), atol=1e-5)
    np.testing.assert_array_equal(small.numpy(), small_a.numpy())
    assert np.abs(a.numpy() - b.numpy()[:, : a.shape[1], : a.shape[2]]).mean() > 1  # two different heads


def test_an_ensemble_colorizes_like_one_head(heads) -> None:
    path = write_ensemble(heads, ["a.weights.h5", "b.weights.h5"], saturation=1.0)
    batch = np.stack([CAMERA, CAMERA[::-1]])
    out = colorize(batch, weights=path)
    assert out.shape == (2, 128, 128, 3) and out.dtype == np.uint8
    gray = skcolor.rgb2lab(np.dstack([CAMERA] * 3))[..., 0]
    lab = skcolor.rgb2lab(out[0])
    assert np.abs(lab[..., 0] - gray).max() <= 1.0
    assert np.hypot(lab[..., 1], lab[..., 2]).mean() > 2
    np.testing.assert_array_equal(out[1], colorize(CAMERA[::-1], weights=path))  # batching changes nothing
    colored = Image.fromarray(CAMERA).filter(ColorizeFilter(weights=path))
    np.testing.assert_array_equal(np.asarray(colored), out[0])
    frames = list(colorize_video([CAMERA, CAMERA], weights=path))
    np.testing.assert_array_equal(frames[0], out[0])
    colorizer = Colorizer(path)
    assert colorizer.is_ensemble and "2 heads averaged" in colorizer.description
    assert colorizer.settings() == (0.5, 1.0)  # the classification member's temperature
    with pytest.raises(AttributeError, match="one head per member"):
        colorizer.head  # noqa: B018


def hint_dots() -> np.ndarray:
    hints = np.zeros((128, 128, 4), np.uint8)
    hints[20:24, 20:24] = (255, 0, 0, 255)
    hints[90:94, 60:64] = (0, 0, 255, 255)
    return hints


def test_hints_and_references_steer_an_ensemble_as_they_steer_its_head(heads) -> None:
    """The same head twice, steered, is that head steered: in colorize, the filter and video. Placing hints and
    matching references is the first member's backbone's work; the chroma they steer is the members' mean."""
    twice = write_ensemble(heads, ["a.weights.h5", "a.weights.h5"], saturation=1.5, name="steered")
    alone = heads / "a.weights.h5"
    hints, reference = hint_dots(), data.astronaut()[::4, ::4]
    for guidance in ({"hints": hints}, {"reference": reference}, {"hints": hints, "reference": reference}):
        expected = colorize(CAMERA, weights=alone, saturation=1.5, **guidance)
        np.testing.assert_array_equal(colorize(CAMERA, weights=twice, **guidance), expected)
        assert not np.array_equal(expected, colorize(CAMERA, weights=alone, saturation=1.5))
    np.testing.assert_array_equal(
        list(colorize_video([CAMERA, CAMERA], weights=twice, hints=hints))[1],
        list(colorize_video([CAMERA, CAMERA], weights=alone, saturation=1.5, hints=hints))[1],
    )
    steered = Image.fromarray(CAMERA).filter(ColorizeFilter(weights=twice, reference=Image.fromarray(reference)))
    np.testing.assert_array_equal(
        np.asarray(steered), colorize(CAMERA, weights=alone, saturation=1.5, reference=reference)
    )


def test_hinted_pixels_of_an_ensemble_of_different_heads_get_the_hint(heads) -> None:
    from test_hints import RED, ab_distance, chroma_of, dots, stripes

    path = write_ensemble(heads, ["a.weights.h5", "b.weights.h5"], name="hinted")
    image = stripes()  # the hint's color has about its region's lightness: its chroma fits in the gamut there
    out, automatic = colorize(image, weights=path, hints=dots(image.shape, [(20, 10)])), colorize(image, weights=path)
    window = (slice(20, 23), slice(10, 13))
    assert ab_distance(out[window], chroma_of(RED)).max() < 8
    assert ab_distance(automatic[window], chroma_of(RED)).min() > 30


def test_knobs_apply_to_every_member_and_are_checked(heads) -> None:
    colorizer = Colorizer(write_ensemble(heads, ["a.weights.h5", "b.weights.h5"], saturation=1.25))
    temperatures, saturation, fallbacks = colorizer.knobs(None, None, None)
    cards = [member.card for member in colorizer.network.members]
    np.testing.assert_allclose(temperatures.numpy(), [card.temperature for card in cards])
    np.testing.assert_allclose(fallbacks.numpy(), [card.uncertainty_fallback for card in cards])
    assert float(saturation) == 1.25
    assert cards[1].temperature == 0.5 and cards[1].uncertainty_fallback == 0.25
    temperatures, saturation, fallbacks = colorizer.knobs(0.6, 2.0, 0.3)
    # The temperature sets the classification member's; a regression member has none.
    np.testing.assert_allclose(temperatures.numpy(), [cards[0].temperature, 0.6])
    np.testing.assert_allclose(fallbacks.numpy(), [0.3, 0.3])
    assert float(saturation) == 2.0
    card = EnsembleCard(members=["a.weights.h5", "b.weights.h5"], temperature=0.7, uncertainty_fallback=0.1)
    (heads / "knobs.ensemble.json").write_text(card.to_json())
    own_knobs = Colorizer(heads / "knobs.ensemble.json")
    temperatures, _, fallbacks = own_knobs.knobs(None, None, None)
    np.testing.assert_allclose(temperatures.numpy(), [cards[0].temperature, 0.7])  # the card's, for classification
    np.testing.assert_allclose(fallbacks.numpy(), [0.1, 0.1])
    assert own_knobs.settings() == (0.7, 1.0)
    np.testing.assert_allclose(own_knobs.knobs(0.9, None, 0.0)[0].numpy(), [cards[0].temperature, 0.9])
    regression_only = Colorizer(write_ensemble(heads, ["a.weights.h5", "a.weights.h5"], name="regression"))
    with pytest.raises(ValueError, match="temperature applies to classification heads"):
        regression_only.colorize(CAMERA, temperature=0.6)
    for bad in (float("nan"), -1.0):
        with pytest.raises(ValueError, match="saturation"):
            colorizer.colorize(CAMERA, saturation=bad)
    with pytest.raises(TypeError, match="temperature"):
        colorizer.colorize(CAMERA, temperature="warm")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[]", "must be a JSON object"),
        ("{}", "list its 'members'"),
        (json.dumps({"members": ["a.weights.h5"]}), "at least two"),
        (json.dumps({"members": ["a.weights.h5", "b.h5"]}), "weights.h5"),
        (json.dumps({"members": ["a.weights.h5", "b.weights.h5"], "saturation": -1}), "saturation"),
        (json.dumps({"members": ["a.weights.h5", "b.weights.h5"], "saturation": "vivid"}), "saturation"),
        (json.dumps({"members": ["a.weights.h5", "b.weights.h5"], "temperature": 0}), "temperature"),
        (json.dumps({"members": ["a.weights.h5", "b.weights.h5"], "uncertainty_fallback": -1}), "fallback"),
        (json.dumps({"members": ["a.weights.h5", "gone.weights.h5"]}), "not found"),
    ],
)
def test_a_bad_ensemble_card_is_refused_clearly(heads, content, message) -> None:
    path = heads / "bad.ensemble.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        check_head(path)
    with pytest.raises(ValueError, match=message):
        Colorizer(path)


def test_check_head_and_card_options(heads, tiny_weights) -> None:
    path = write_ensemble(heads, ["a.weights.h5", "b.weights.h5"], saturation=1.5)
    assert is_ensemble_card(path) and not is_ensemble_card(tiny_weights)
    checked_path, card = check_head(path, temperature=0.5)
    assert checked_path == path and card.saturation == 1.5 and card.backbone == TINY_BACKBONE
    with pytest.raises(ValueError, match="describes one head"):
        Colorizer(path, card=ModelCard.load(heads / "a.json"))
    with pytest.raises(ValueError, match="not found"):
        check_head(heads / "missing.ensemble.json")
    loaded = EnsembleCard.load(path)
    assert loaded.members == ["a.weights.h5", "b.weights.h5"] and loaded.folder == heads


def test_the_command_colorizes_with_an_ensemble_and_its_reference(heads, tmp_path) -> None:
    from hypercol.cli import main

    path = write_ensemble(heads, ["a.weights.h5", "b.weights.h5"], saturation=1.25, name="command")
    source, reference = tmp_path / "camera.png", tmp_path / "reference.png"
    Image.fromarray(CAMERA).save(source)
    Image.fromarray(data.astronaut()[::4, ::4]).save(reference)
    assert main(["colorize", str(source), "-o", str(tmp_path / "out"), "--weights", str(path)]) == 0
    written = np.asarray(Image.open(tmp_path / "out" / "camera_color.png"))
    np.testing.assert_array_equal(written, colorize(CAMERA, weights=path))
    command = [
        "colorize",
        str(source),
        "-o",
        str(tmp_path / "ref"),
        "--weights",
        str(path),
        "--reference",
        str(reference),
    ]
    assert main(command) == 0
    steered = np.asarray(Image.open(tmp_path / "ref" / "camera_color.png"))
    np.testing.assert_array_equal(steered, colorize(CAMERA, weights=path, reference=np.asarray(Image.open(reference))))


def test_the_shipping_sweep_decodes_as_the_ensemble_colorizes(heads) -> None:
    """examples/ship_ensemble.py decodes each member's stored head output at every setting; the setting it
    chooses must mean what a call with the ensemble card's knobs does."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
    from ship_ensemble import chosen_knobs, sweep

    from hypercol.core.metrics import colorfulness, psnr

    photos = [data.astronaut()[::4, ::4], data.coffee()[::4, ::4]]
    colorizer = Colorizer(write_ensemble(heads, ["a.weights.h5", "b.weights.h5"], name="sweep"))
    # The sweep decodes eagerly, a call in traced graphs: in float32 the same numbers; where the bf16
    # rewrite runs (AMX), rounded differently from graph to graph (0.004 dB and 0.11 colorfulness apart here).
    psnr_tolerance, colorfulness_tolerance = (1e-6, 1e-6) if active_precision() == "float32" else (0.01, 0.2)
    grid = {"saturations": [1.0, 1.5], "temperatures": [0.4, 0.8], "fallbacks": [0.0, 0.5], "knees": [None, 250.0]}
    rows = sweep(colorizer, photos, **grid, hue_fades=[0.0, 1.0])
    knobs = {(r["temperature"], r["fallback"], r["hue_fade"], r["saturation"], r["knee"]) for r in rows}
    assert len(rows) == 32 and knobs == {
        (t, f, h, s, k)
        for t in (0.4, 0.8)
        for f in (0.0, 0.5)
        for h in (0.0, 1.0)
        for s in (1.0, 1.5)
        for k in (None, 250.0)
    }
    for row in rows[::3]:
        card = EnsembleCard(members=["a.weights.h5", "b.weights.h5"], **chosen_knobs(row))
        (heads / "chosen.ensemble.json").write_text(card.to_json())
        outputs = [Colorizer(heads / "chosen.ensemble.json").colorize(photo) for photo in photos]
        psnrs, colorfulnesses = [psnr(t, o) for t, o in zip(photos, outputs)], [colorfulness(o) for o in outputs]
        np.testing.assert_allclose(row["psnr_per_image"], psnrs, atol=psnr_tolerance)
        np.testing.assert_allclose(row["colorfulness_per_image"], colorfulnesses, atol=colorfulness_tolerance)
    # The saturation reaches the colors (these random heads' near-uniform logits leave the temperature and the
    # fallback 1e-5 dB apart: checked against the calls above in float32, lost in bf16's rounding).
    by_saturation = {s: np.mean([row["psnr"] for row in rows if row["saturation"] == s]) for s in (1.0, 1.5)}
    assert abs(by_saturation[1.0] - by_saturation[1.5]) > 0.1
    by_knee = {k: np.mean([row["colorfulness"] for row in rows if row["knee"] == k]) for k in (None, 250.0)}
    assert by_knee[250.0] < by_knee[None] - 1  # and the knee
