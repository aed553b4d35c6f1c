"""The color prior of the training data: which ab bins its chroma falls in, and how often (Zhang et al. 2016).

Both data sources feed :func:`estimate_color_prior` the target chroma of their first
examples; the classification head predicts over the bins it selects and its loss weighs
rare bins up by the rebalancing weights.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from hypercol.core import bins

__all__ = ["estimate_color_prior"]


def estimate_color_prior(
    chroma_samples: Iterable[np.ndarray], mix: float = bins.REBALANCE_LAMBDA
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(bin centres (Q, 2), empirical probabilities (Q,), rebalancing weights (Q,)) of ab arrays (..., 2)."""
    histogram = np.zeros(len(bins.grid_centres()), np.float64)
    for chroma in chroma_samples:
        histogram += bins.ab_histogram(np.asarray(chroma, np.float32))
    centres, probabilities = bins.select_bins(histogram)
    return centres, probabilities, bins.rebalancing_weights(centres, probabilities, mix)
