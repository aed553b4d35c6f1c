"""examples/photo_colorfulness.py: interpolation along each photo's curve, the proportional choice, the guess."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from imagenet_folds import at_saturation, position_at_bar
from photo_colorfulness import (
    GRID,
    by_quarter,
    fold_curves,
    guessed_colorfulness,
    pooled_taps,
    positions_for_colorfulness,
    proportional_positions,
    summary,
)

from hypercol.training.sets import manifest_text

LEVELS = len(GRID)


def test_each_photo_reaches_its_own_target_colorfulness_and_a_dip_does_not_fold_it_back() -> None:
    colorful = np.array([np.arange(LEVELS) * 10.0, [0.0, 20.0, 15.0, 30.0] + [40.0] * (LEVELS - 4)])
    positions = positions_for_colorfulness(colorful, np.array([25.0, 25.0]))
    np.testing.assert_allclose(positions[0], 2.5)
    assert 2.0 < positions[1] < 3.0  # past the dip at index 2, before 30 at index 3
    clamped = positions_for_colorfulness(colorful, np.array([-5.0, 1000.0]))
    np.testing.assert_allclose(clamped, [0.0, LEVELS - 1], atol=1e-6)


def made_up_photos() -> dict:
    """Two muted photos that lose PSNR with every step of color and two vivid ones that gain up to their truth's
    colorfulness; every output's colorfulness is 10 x the saturation index."""
    index = np.arange(LEVELS, dtype=float)
    truth = np.array([10.0, 12.0, 60.0, 70.0])
    colorful = np.tile(index * 10.0, (4, 1))
    gain = -np.abs(colorful - truth[:, None]) / 10.0 + 1.0  # best where the output is as colorful as the truth
    return {
        "set": np.array(["imagenet"] * 4),
        "gain": gain,
        "auc_gain": gain,
        "colorfulness": colorful,
        "truth_colorfulness": truth,
    }


def test_knowing_each_photos_colorfulness_beats_one_saturation_for_all_at_the_same_bar() -> None:
    data = made_up_photos()
    first = np.ones(4, dtype=bool)
    single = position_at_bar(data, "imagenet", bar=0.6)
    proportional = proportional_positions(data, data["truth_colorfulness"], first, bar=0.6, power=1.0)
    colorful = lambda positions: at_saturation(data["colorfulness"], positions).mean()
    assert colorful(single) == pytest.approx(0.6 * 38.0)
    assert colorful(proportional) >= 0.6 * 38.0 - 1e-6
    assert at_saturation(data["gain"], proportional).mean() > at_saturation(data["gain"], single).mean()
    assert summary(data, proportional).startswith(
        "imagenet -0.52 dB, AuC -0.52, 0.60x, 50%"
    )  # (0.6 + 0.52 - 1.4 - 1.8) / 4
    assert position_at_bar(data, "imagenet", bar=5.0) is None
    assert proportional_positions(data, data["truth_colorfulness"], first, bar=5.0, power=1.0) is None
    assert summary(data, None) == "does not reach the bar"


def test_the_quarters_hold_each_photo_once() -> None:
    data = made_up_photos()
    lines = by_quarter(data, np.ones(4, dtype=bool), np.full(4, 2.0))
    assert len(lines) == 4
    outputs_against = [float(line.rsplit("against ", 1)[1]) for line in lines]
    assert outputs_against == [10.0, 12.0, 60.0, 70.0]  # one photo in each quarter, in order


def test_the_guess_is_fitted_on_the_training_photos_only_and_recovers_a_relation_they_show() -> None:
    rng = np.random.default_rng(0)
    taps = rng.normal(size=(300, 8)).astype(np.float32)
    colorfulness = np.exp(3.0 + 0.5 * taps[:, 0])
    described = {"path": np.array([f"photo{i}.jpg" for i in range(300)]), "taps": taps, "colorfulness": colorfulness}
    training = {f"photo{i}.jpg" for i in range(200)}
    evaluated = [f"photo{i}.jpg" for i in range(200, 300)]
    guess = guessed_colorfulness(described, training, evaluated)
    assert np.corrcoef(np.log(guess), np.log(colorfulness[200:]))[0, 1] > 0.95
    described["colorfulness"] = np.where(np.arange(300) < 200, colorfulness, 1e6)  # the evaluated truth is not seen
    np.testing.assert_allclose(guessed_colorfulness(described, training, evaluated), guess, rtol=1e-6)
    with pytest.raises(ValueError, match="1 evaluated photos are among the training photos"):
        guessed_colorfulness(described, training, ["photo7.jpg", *evaluated])


class FakeNetwork:
    """Two taps at strides 2 and 4 of a 8-pixel working canvas; the photo fills its top 6 x 8 pixels."""

    def canvas_and_features(self, lightness):
        import tensorflow as tf

        fine = np.zeros((1, 4, 4, 2), np.float32)
        fine[0, :3, :, 0] = 1.0  # inside the photo's rows (6 / 2 = 3); the padding row below is 0
        fine[0, 3, :, 0] = 100.0  # padding: must not count
        coarse = np.full((1, 2, 2, 3), 2.0, np.float32)
        return None, tf.zeros((1, 6, 8)), {"fine": tf.constant(fine), "coarse": tf.constant(coarse)}


class FakeColorizer:
    working_size = 8
    network = FakeNetwork()


def test_pooled_taps_describe_the_photos_part_of_the_canvas_only() -> None:
    rgb = np.full((6, 8, 3), 128, np.uint8)
    vector = pooled_taps(FakeColorizer(), rgb)
    assert vector.shape == (2 * 2 + 2 * 3 + 4,)
    np.testing.assert_allclose(vector[:4], [1.0, 0.0, 0.0, 0.0])  # fine tap: means then spreads, padding left out
    np.testing.assert_allclose(vector[4:10], [2.0, 2.0, 2.0, 0.0, 0.0, 0.0])
    lightness = 53.6  # CIE lightness of sRGB 128: a flat photo's mean and both percentiles, with no spread
    np.testing.assert_allclose(vector[-4:], [lightness, 0.0, lightness, lightness], atol=0.5)


def test_curves_of_another_grid_are_refused(tmp_path) -> None:
    (tmp_path / "folds").mkdir()
    (tmp_path / "folds" / "sets-0.json").write_text(manifest_text({}, generator="a test"))
    stored = {"set": [], "gain": [], "path": [], "saturations": [1.0, 2.0]}
    (tmp_path / "curves-fold0.json").write_text(json.dumps(stored))
    with pytest.raises(SystemExit, match="other saturations"):
        fold_curves(tmp_path / "folds", 0, tmp_path / "head.weights.h5", tmp_path, {})
