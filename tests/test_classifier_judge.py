"""examples/classifier_judge.py: the two-level split and the judged log-probabilities, on made-up photos."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from classifier_judge import cached_judgements, judged_log_probabilities, two_level_split
from per_photo_saturation import SATURATIONS

LEVELS = len(SATURATIONS)


def made_up_curves(best: list[int]) -> dict:
    """Photos whose PSNR gain peaks at the saturation index in ``best``; colorfulness grows with the index."""
    index = np.arange(LEVELS)
    gain = np.array([-((index - peak) ** 2) / 4.0 for peak in best])
    colorful = np.tile(index * 5.0, (len(best), 1))
    return {"gain": gain, "colorfulness": colorful, "truth_colorfulness": np.full(len(best), 20.0)}


def test_the_split_saturates_the_photos_the_signal_picks_and_leaves_the_others_grayer() -> None:
    data = made_up_curves([1, 1, 6, 6])
    first = np.ones(4, dtype=bool)
    chosen, label = two_level_split(np.array([0.0, 0.1, 1.0, 0.9]), data, first, bar=0.5)
    assert chosen.tolist() == [1, 1, 6, 6]  # colorfulness (5 + 30) / 2 = 17.5 >= 10: each at its own peak
    assert label == f"{SATURATIONS[1]}/{SATURATIONS[6]}"
    wrong_way, _ = two_level_split(np.array([1.0, 0.9, 0.0, 0.1]), data, first, bar=0.5)
    mean_gain = lambda picks: data["gain"][np.arange(4), picks].mean()
    assert mean_gain(wrong_way) < mean_gain(chosen) == 0.0  # a signal pointing the wrong way costs PSNR


def test_the_split_pays_for_a_higher_bar_and_gives_up_past_the_strongest_saturation() -> None:
    data = made_up_curves([1, 1, 6, 6])
    first = np.ones(4, dtype=bool)
    chosen, _ = two_level_split(np.array([0.0, 0.1, 1.0, 0.9]), data, first, bar=1.5)
    assert data["colorfulness"][np.arange(4), chosen].mean() >= 30.0
    assert two_level_split(np.array([0.0, 0.1, 1.0, 0.9]), data, first, bar=3.0) is None


class FakeColorizer:
    def colorize(self, photo, saturation, **knobs):
        return np.clip(photo.astype(np.float32) + 40 * saturation, 0, 255).astype(np.uint8)


class FakeClassifier:
    """Three classes; the logits follow the mean brightness of each output."""

    def logits(self, outputs):
        means = np.array([output.mean() for output in outputs], dtype=np.float32)
        return np.stack([means / 50, -means / 50, np.zeros_like(means)], axis=-1)


def test_judged_log_probabilities_are_one_distribution_per_photo_and_saturation(tmp_path) -> None:
    photos = [np.full((4, 4, 3), 10, np.uint8), np.full((6, 5, 3), 100, np.uint8)]
    judged = judged_log_probabilities(FakeClassifier(), FakeColorizer(), photos, {})
    assert judged.shape == (2, LEVELS, 3)
    np.testing.assert_allclose(np.exp(judged).sum(-1), 1.0, rtol=1e-5)
    assert np.all(np.diff(judged[0, :, 0]) >= 0)  # brighter with saturation: class 0 ever likelier
    stored = cached_judgements(tmp_path / "judged.npy", lambda: judged)
    again = cached_judgements(tmp_path / "judged.npy", lambda: (_ for _ in ()).throw(AssertionError("recomputed")))
    np.testing.assert_array_equal(stored, again)
