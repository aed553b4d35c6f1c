"""examples/per_photo_saturation.py: the choices at the colorfulness bar, on made-up curves."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from per_photo_saturation import cached_curves, multiplier_at_bar, one_for_all

# Two photos, three saturations: the first is best gray, the second best at the strongest saturation.
GAIN = np.array([[0.0, -1.0, -3.0], [0.0, 1.0, 2.0]])
COLORFUL = np.array([[0.0, 10.0, 20.0], [0.0, 10.0, 20.0]])
TRUTH = np.array([20.0, 20.0])


def test_one_for_all_takes_the_best_mean_among_the_saturations_reaching_the_bar() -> None:
    assert one_for_all(GAIN, COLORFUL, TRUTH, bar=0.0) == 0  # gray: mean 0 against 0 and -0.5
    assert one_for_all(GAIN, COLORFUL, TRUTH, bar=0.5) == 1  # 0.5x: the middle one, 0 dB on average against -0.5
    assert one_for_all(GAIN, COLORFUL, TRUTH, bar=1.5) is None


def test_the_oracle_colors_each_photo_its_own_way_and_pays_for_the_bar_with_the_cheapest_photo() -> None:
    assert multiplier_at_bar(GAIN, COLORFUL, TRUTH, bar=0.5) == 0.0  # gray + strongest: 10 on average, enough
    multiplier = multiplier_at_bar(GAIN, COLORFUL, TRUTH, bar=0.75)
    chosen = np.argmax(GAIN + multiplier * COLORFUL, axis=1)
    assert chosen.tolist() == [1, 2] and 0.0 < multiplier <= 0.11  # the first photo's step costs 1 dB for 10
    assert multiplier_at_bar(GAIN, COLORFUL, TRUTH, bar=1.5) is None


def test_stored_curves_keep_their_grid_and_curves_of_another_grid_are_refused(tmp_path) -> None:
    stored = tmp_path / "curves.json"
    rows = cached_curves(stored, lambda: {"set": ["a"], "gain": [[0.0, 1.0]]}, (1.0, 2.0))
    assert rows == {"set": ["a"], "gain": [[0.0, 1.0]]}  # the grid is stored beside the rows, not among them
    never = lambda: pytest.fail("recomputed")
    assert cached_curves(stored, never, (1.0, 2.0)) == rows
    with pytest.raises(SystemExit, match="other saturations than"):
        cached_curves(stored, never, (1.0, 2.0, 3.0))
    assert cached_curves(tmp_path / "plain.json", lambda: {"set": ["b"]}) == {"set": ["b"]}  # no grid asked: none kept
