"""Quantized ab colors: grid, prior rebalancing, soft encoding, annealed-mean decoding."""

from __future__ import annotations

import numpy as np
import pytest

from hypercol.core import bins


def test_grid_covers_the_ab_plane_in_steps_of_ten() -> None:
    centres = bins.grid_centres()
    assert centres.shape == (23 * 23, 2)
    assert centres.min() == -110 and centres.max() == 110
    assert set(np.unique(np.diff(np.unique(centres[:, 0])))) == {10.0}


def test_histogram_and_bin_selection_keep_only_seen_colors() -> None:
    ab = np.array([[[0.0, 0.0], [1.0, -2.0], [33.0, 47.0]]])  # two pixels near (0, 0), one near (30, 50)
    histogram = bins.ab_histogram(ab)
    assert histogram.sum() == 3
    centres, probabilities = bins.select_bins(histogram)
    assert sorted(map(tuple, centres.tolist())) == [(0.0, 0.0), (30.0, 50.0)]
    assert dict(zip(map(tuple, centres.tolist()), probabilities)) == pytest.approx(
        {(0.0, 0.0): 2 / 3, (30.0, 50.0): 1 / 3}
    )
    with pytest.raises(ValueError, match="empty"):
        bins.select_bins(np.zeros_like(histogram))


def test_rebalancing_weights_favour_rare_colors_and_average_to_one() -> None:
    centres = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]], np.float32)  # far apart: smoothing is ~identity
    probabilities = np.array([0.8, 0.15, 0.05])
    weights = bins.rebalancing_weights(centres, probabilities, mix=0.5)
    # By hand: w_i = 1 / (0.5 p_i + 0.5 / 3), then normalised so sum p_i w_i = 1.
    raw = 1 / (0.5 * probabilities + 0.5 / 3)
    np.testing.assert_allclose(weights, raw / np.sum(probabilities * raw), rtol=1e-4)
    assert weights[2] > weights[1] > weights[0]
    np.testing.assert_allclose(np.sum(probabilities * weights), 1.0, rtol=1e-5)
    # λ = 1 is uniform weighting: every bin weighs 1.
    np.testing.assert_allclose(bins.rebalancing_weights(centres, probabilities, mix=1.0), 1.0, rtol=1e-5)
    with pytest.raises(ValueError, match="λ"):
        bins.rebalancing_weights(centres, probabilities, mix=1.5)


def test_soft_encoding_puts_the_mass_on_the_five_nearest_bins() -> None:
    centres = bins.grid_centres()
    target = bins.soft_encode(np.array([[12.0, -31.0]], np.float32), centres).numpy()[0]
    assert target.sum() == pytest.approx(1.0, abs=1e-5)
    assert np.count_nonzero(target > 1e-7) == bins.NEIGHBOURS
    assert tuple(centres[np.argmax(target)]) == (10.0, -30.0)


@pytest.mark.parametrize("few_bins", [False, True])
def test_soft_encoding_matches_a_numpy_reference(few_bins) -> None:
    centres = np.float32([[0, 0], [10, 0], [0, 10]]) if few_bins else bins.grid_centres()
    count = len(centres)
    rng = np.random.default_rng(1)
    ab = rng.uniform(-10, 20, (6, 40, 2)) if few_bins else rng.uniform(-110, 110, (6, 40, 2))
    ab = ab.astype(np.float32)
    ab[0, :8] = [[0, 0], [5, 5], [5, 0], [-5, -5], [110, 110], [-110, 0], [15, -25], [0, 5]]  # on grid lines: ties
    target = bins.soft_encode(ab, centres).numpy()
    assert target.shape == (6, 40, count)
    distances = ((ab[..., np.newaxis, :] - centres) ** 2).sum(-1) + 1e-4 * np.arange(count)
    kept = min(bins.NEIGHBOURS, count)
    nearest = np.argsort(distances, axis=-1)[..., :kept]
    expected = np.zeros_like(target)
    weights = np.exp(-np.take_along_axis(distances, nearest, -1) / (2 * bins.SOFT_SIGMA**2))
    np.put_along_axis(expected, nearest, weights / weights.sum(-1, keepdims=True), -1)
    np.testing.assert_allclose(target, expected, atol=1e-5)
    # Exactly the nearest bins carry mass, wherever their Gaussian weights do not underflow.
    near = np.take_along_axis(distances, nearest, -1).max(-1) < 1000
    assert near.mean() > 0.9
    assert (np.count_nonzero(target, axis=-1)[near] == kept).all()


@pytest.mark.parametrize("centres_of", ["grid", "sparse", "few"])
def test_sparse_encoding_is_the_soft_encoding(centres_of) -> None:
    rng = np.random.default_rng(2)
    grid = bins.grid_centres()
    centres = {
        "grid": grid,
        "sparse": grid[rng.random(len(grid)) < 0.3],  # bins far apart: candidates from far cells
        "few": np.float32([[0, 0], [10, 0], [0, 10]]),
    }[centres_of]
    ab = rng.uniform(-127, 127, (5, 64, 2)).astype(np.float32)
    ab[0, :9] = [
        [0, 0],
        [5, 5],
        [5, 0],
        [-5, -5],
        [110, 110],
        [-110, 0],
        [15, -25],
        [0, 5],
        [127.9, -128],
    ]  # ties, edges
    indices, weights = (t.numpy() for t in bins.sparse_soft_encoder(centres)(ab))
    dense = bins.soft_encode(ab, centres).numpy()
    kept = min(bins.NEIGHBOURS, len(centres))
    assert indices.shape == weights.shape == (5, 64, kept)
    spread = np.zeros_like(dense)
    np.put_along_axis(spread, indices, weights, -1)
    np.testing.assert_allclose(spread, dense, atol=1e-5)
    # Nearest first: the argmax of the dense target, whose bin weighs each pixel in the loss.
    np.testing.assert_array_equal(indices[..., 0], np.argmax(dense, axis=-1))
    in_order = np.sort(indices, axis=-1)
    assert (in_order[..., 1:] != in_order[..., :-1]).all()  # k different bins at every pixel


def test_known_ab_map_encodes_and_decodes_back_within_a_bin_at_low_temperature() -> None:
    centres = bins.grid_centres()
    rng = np.random.default_rng(0)
    ab = rng.uniform(-90, 90, (16, 16, 2)).astype(np.float32)
    target = bins.soft_encode(ab, centres)
    logits = np.log(np.maximum(target.numpy(), 1e-12))  # a head that predicts the soft target exactly
    decoded_cold = bins.annealed_mean(logits, centres, 0.05).numpy()
    assert np.abs(decoded_cold - ab).max() <= bins.GRID / 2 * np.sqrt(2) + 1e-3
    decoded_mean = bins.annealed_mean(logits, centres, 1.0).numpy()
    assert np.abs(decoded_mean - ab).max() < bins.GRID  # the mean of the soft target is near the truth too


def test_lower_temperature_is_more_saturated() -> None:
    centres = np.array([[-60.0, 0.0], [0.0, 0.0], [80.0, 0.0]], np.float32)
    logits = np.log(np.array([[0.2, 0.3, 0.5]], np.float32))
    chroma = [abs(float(bins.annealed_mean(logits, centres, t)[0, 0])) for t in (1.0, 0.38, 0.1)]
    assert chroma[0] < chroma[1] < chroma[2] <= 80.0
    assert chroma[0] == pytest.approx(-60 * 0.2 + 80 * 0.5, abs=1e-3)
