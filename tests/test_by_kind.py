"""examples/imagenet_by_kind.py: the kinds of ImageNet class, and the two-level saturation choice, on made-up rows."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from imagenet_by_kind import KINDS, SATURATIONS, choose_two_level, kind_of, summary


def test_the_kinds_cover_every_class_once() -> None:
    covered = sorted(index for classes in KINDS.values() for index in classes)
    assert covered == list(range(1000))
    assert (kind_of(0), kind_of(398), kind_of(999)) == ("animals", "man-made objects", "food, plants, landscapes")


def _row(man_made: float, gains: list[float], colorfulness: list[float]) -> dict:
    return {
        "man_made": man_made,
        "gray_psnr": 20.0,
        "truth_colorfulness": 40.0,
        "psnr": [20.0 + gain for gain in gains],
        "colorfulness": colorfulness,
    }


LEVELS = len(SATURATIONS)
COLORFUL = [4.0 * (index + 1) for index in range(LEVELS)]  # 0.1x ... 0.7x the truth's 40


def test_summary_is_the_mean_gain_the_colorfulness_ratio_and_the_share_beating_gray() -> None:
    rows = [_row(0.0, [1.0] * LEVELS, COLORFUL), _row(0.0, [-0.5] * LEVELS, COLORFUL)]
    gain, colorful, beats = summary(rows, lambda row: 2)
    assert (gain, round(colorful, 6), beats) == (0.25, 0.3, 0.5)


def test_fading_the_man_made_photos_wins_when_it_costs_the_others_nothing() -> None:
    # Man-made photos lose with every step of saturation, the others gain up to the last one.
    man_made = _row(0.9, [0.5 - 0.5 * index for index in range(LEVELS)], COLORFUL)
    other = _row(0.1, [0.2 * index for index in range(LEVELS)], COLORFUL)
    sets = {"imagenet": [man_made, other], "people-scenes": [other], "people-sport": [other]}
    best = choose_two_level(sets, flat=LEVELS - 1, min_colorfulness=0.35)
    mean, _threshold, man_made_saturation, other_saturation, results = best[0]
    assert (man_made_saturation, other_saturation) == (SATURATIONS[0], SATURATIONS[-1])
    assert results["imagenet"][1] >= 0.35
    assert mean > summary(sets["imagenet"] + [other, other], lambda row: LEVELS - 1)[0]


def test_the_faces_floor_refuses_a_choice_that_costs_them() -> None:
    flat = 3
    face = _row(0.9, [1.0 if index == flat else 0.0 for index in range(LEVELS)], COLORFUL)  # best at the flat one
    man_made = _row(0.9, [0.5 - 0.5 * index for index in range(LEVELS)], COLORFUL)
    other = _row(0.1, [0.2 * index for index in range(LEVELS)], COLORFUL)
    sets = {"imagenet": [man_made, other], "people-scenes": [other], "people-sport": [other], "faces-lfw": [face]}
    for _, _threshold, man_made_saturation, _, results in choose_two_level(sets, flat, min_colorfulness=0.0):
        assert man_made_saturation == SATURATIONS[flat]  # the faces are taken for man-made
        assert results["faces-lfw"][0] >= 1.0 - 0.05
