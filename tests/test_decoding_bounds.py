"""examples/decoding_bounds.py: the geometric median of the bins, and the choices at each bar, on made-up scores."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from decoding_bounds import best_at_bar, best_per_photo, geometric_median, median_chroma, over_gray

CENTRES = tf.constant([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [-10.0, 0.0]])


def test_the_geometric_median_stays_on_a_bin_holding_most_of_the_mass_where_the_mean_leaves_it() -> None:
    probabilities = tf.constant([[0.0, 0.7, 0.15, 0.15]])
    median = geometric_median(probabilities, CENTRES).numpy()[0]
    np.testing.assert_allclose(median, [10.0, 0.0], atol=0.01)
    mean = tf.tensordot(probabilities, CENTRES, axes=[[-1], [0]]).numpy()[0]
    assert np.linalg.norm(mean - [10.0, 0.0]) > 4.0


def test_the_geometric_median_is_the_point_of_least_expected_distance_for_each_cell() -> None:
    probabilities = tf.constant([[[0.1, 0.3, 0.3, 0.3], [0.4, 0.3, 0.2, 0.1]]])
    median = geometric_median(probabilities, CENTRES).numpy()
    assert median.shape == (1, 2, 2)
    # Against a brute-force search over a 0.05-unit grid.
    grid = np.stack(np.meshgrid(np.linspace(-10, 10, 401), np.linspace(-10, 10, 401)), axis=-1).reshape(-1, 2)
    for row, weights in zip(median[0], probabilities.numpy()[0]):
        expected = (np.linalg.norm(grid[:, None, :] - CENTRES.numpy()[None], axis=-1) * weights).sum(axis=1)
        best = grid[np.argmin(expected)]
        np.testing.assert_allclose(row, best, atol=0.1)


# Three settings, four photos; the first two photos are of the set the bars are on.
SCORES = np.array(
    [
        [[21.0, 90.0, 5.0], [22.0, 90.0, 5.0], [20.0, 88.0, 5.0], [20.0, 88.0, 5.0]],  # faint, closest
        [[20.5, 89.0, 12.0], [21.0, 89.0, 12.0], [21.0, 89.0, 10.0], [21.0, 89.0, 10.0]],  # 0.6x
        [[19.0, 87.0, 20.0], [23.0, 91.0, 20.0], [22.0, 90.0, 20.0], [22.0, 90.0, 20.0]],  # 1.0x
    ]
)
GRAY = np.array([[20.0, 89.0, 20.0], [21.0, 89.0, 20.0], [20.0, 89.0, 20.0], [20.0, 89.0, 20.0]])
ON = np.array([True, True, False, False])


def test_the_frontier_takes_the_best_psnr_among_the_settings_colorful_enough_on_the_bar_set() -> None:
    assert best_at_bar(SCORES, GRAY, ON, 0.2) == 0  # all three reach 0.25x; the faint one is closest
    assert best_at_bar(SCORES, GRAY, ON, 0.5) == 2  # 0.6x and 1.0x allowed: 21.0 on average against 20.75
    assert best_at_bar(SCORES, GRAY, ON, 1.01) is None
    np.testing.assert_allclose(over_gray(SCORES, GRAY, ON, 0), [1.0, 0.25, 0.5])


def test_the_best_setting_per_photo_is_chosen_knowing_each_truth() -> None:
    # AuC: photo 1 is best faint (90), photo 2 best at 1.0x (91); both over gray's 89.
    assert best_per_photo(SCORES, GRAY, ON, 1) == 1.5
    assert best_per_photo(SCORES, GRAY, ~ON, 1) == 1.0


def test_the_median_refuses_members_whose_bins_cannot_be_averaged() -> None:
    member = SimpleNamespace(card=SimpleNamespace(bins=[[0.0, 0.0], [10.0, 0.0]]), working_size=8)
    other_bins = SimpleNamespace(card=SimpleNamespace(bins=[[0.0, 0.0], [0.0, 10.0]]), working_size=8)
    output, small = tf.zeros([1, 2, 2, 2]), tf.zeros([1, 8, 8])
    chroma = median_chroma([member, member], [(output, small), (output, small)], 1.0, 0.0)
    assert chroma.shape == (1, 8, 8, 2)
    with pytest.raises(SystemExit, match="one canvas and one set of bins"):
        median_chroma([member, other_bins], [(output, small), (output, small)], 1.0, 0.0)
    with pytest.raises(SystemExit, match="one canvas"):
        median_chroma([member, member], [(output, small), (tf.zeros([1, 3, 3, 2]), small)], 1.0, 0.0)
