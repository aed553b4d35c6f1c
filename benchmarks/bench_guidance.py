"""What color hints and a reference photo add to a 512 x 512 colorize call.

Each guided call is timed against the automatic call of the same image, the two
alternating round by round (``measure(..., reference=...)``), so both see the same load.
"""

import numpy as np
import pytest
from cases import GUIDANCE_HINTS, GUIDANCE_ROUNDS, GUIDANCE_SIZE
from harness import gray_images


def _hints(size: int, count: int, seed: int = 0) -> np.ndarray:
    """(size, size, 4) uint8: ``count`` random 3 x 3 dots of random colors."""
    rng = np.random.default_rng(seed)
    hints = np.zeros((size, size, 4), np.uint8)
    for top, left in rng.integers(0, size - 3, (count, 2)):
        hints[top : top + 3, left : left + 3] = (*rng.integers(0, 256, 3), 255)
    return hints


def _color_photo(size: int, seed: int) -> np.ndarray:
    """A colorful (size, size, 3) uint8 stand-in photo: three differently shifted gray test images."""
    return np.stack([gray_images(None, size, seed + channel) for channel in range(3)], axis=-1)


@pytest.mark.parametrize("case", ["hints", "reference", "prepared reference"])
def test_guidance_vs_automatic(measure, colorizer, case):
    from hypercol.inference.guidance import prepare_reference

    image = gray_images(None, GUIDANCE_SIZE)
    references = iter([_color_photo(GUIDANCE_SIZE, seed) for seed in range(GUIDANCE_ROUNDS + 3)])
    prepared = prepare_reference(colorizer, next(references))
    hints = _hints(GUIDANCE_SIZE, GUIDANCE_HINTS)
    calls = {
        "hints": lambda: colorizer.colorize(image, hints=hints),
        "reference": lambda: colorizer.colorize(image, reference=next(references)),
        "prepared reference": lambda: colorizer.colorize(image, reference=prepared),
    }
    measure(
        calls[case],
        images=1,
        rounds=GUIDANCE_ROUNDS,
        group="guidance vs automatic",
        reference=lambda: colorizer.colorize(image),
        kind="guidance_vs_automatic",
        name=f"colorize with {case} vs automatic",
        case=case,
        size=GUIDANCE_SIZE,
        batch=1,
    )
