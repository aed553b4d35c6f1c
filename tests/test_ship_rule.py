"""The rule examples/ship_head.py chooses a shipped head's knobs by, on made-up sweeps."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from ship_head import Rule, choose, defaults_of, training_photos
from sweep_frontier import best_at, by_set, knees_apart, same_photos

from hypercol.training.sets import manifest_text


def _row(saturation: float, psnr: list[float], colorfulness: list[float]) -> dict:
    return {
        "working_size": 224,
        "temperature": 0.5,
        "saturation": saturation,
        "fallback": 0.0,
        "psnr": sum(psnr) / len(psnr),
        "psnr_per_image": psnr,
        "colorfulness": sum(colorfulness) / len(colorfulness),
        "colorfulness_per_image": colorfulness,
    }


# Two objects photos (truth colorfulness 40) and two people photos (truth 40); gray PSNR 20 everywhere.
GRAY = {
    "photo_sets": ["objects", "objects", "people", "people"],
    "psnr_per_image": [20.0] * 4,
    "truth_colorfulness": 40.0,
    "truth_colorfulness_per_image": [40.0] * 4,
}
# More saturation: objects more colorful than people, PSNR falls.
ROWS = [
    _row(1.0, [21.0] * 4, [20.0, 20.0, 12.0, 12.0]),  # 0.4x overall, 0.5x on objects
    _row(1.5, [20.8] * 4, [26.0, 26.0, 16.0, 16.0]),  # 0.525x overall, 0.65x on objects
    _row(2.0, [20.2] * 4, [30.0, 30.0, 22.0, 22.0]),  # 0.65x overall
]
FACES_GRAY = {"photo_sets": ["lfw", "celeba"], "psnr_per_image": [20.0, 20.0]}
FACES = (
    FACES_GRAY,
    [
        {**ROWS[0], "psnr_per_image": [23.0, 26.0]},
        {**ROWS[1], "psnr_per_image": [22.5, 25.0]},
        {**ROWS[2], "psnr_per_image": [21.0, 23.0]},
    ],
)


def test_the_colorfulness_bar_on_all_photos_or_on_named_sets() -> None:
    assert choose(ROWS, GRAY, Rule(0.6))["saturation"] == 2.0
    assert choose(ROWS, GRAY, Rule(0.6, colorfulness_on=["objects"]))["saturation"] == 1.5
    assert Rule(0.6, colorfulness_on=["people"]).colorfulness(ROWS[1], GRAY) == pytest.approx(0.4)


def test_floors_exclude_settings_that_cost_a_set_too_much() -> None:
    rule = Rule(0.6, floors={"lfw": 2.4, "celeba": 4.5}, floor_sweep=FACES)
    assert rule.floor_gains(ROWS[1]) == {"lfw": 2.5, "celeba": 5.0}
    assert rule.best(ROWS, GRAY) is None  # the only colorful-enough setting costs the faces too much
    assert choose(ROWS, GRAY, rule)["saturation"] == 1.5  # then the most colorful that keeps the floors
    assert rule.describe_choice(ROWS[1], ROWS, GRAY).endswith("the most colorful that keeps the floors (0.525 x truth)")
    both = Rule(0.6, colorfulness_on=["objects"], floors={"lfw": 2.4}, floor_sweep=FACES)
    assert both.best(ROWS, GRAY)["saturation"] == 1.5
    assert "objects" in both.describe() and "lfw >= gray +2.40 dB" in both.describe()
    assert Rule(0.9).describe_choice(ROWS[2], ROWS, GRAY).endswith("so the most colorful (0.650 x truth)")  # no floors
    assert both.describe_choice(ROWS[1], ROWS, GRAY) == both.describe()  # the rule's own pick: nothing to add


def test_a_knee_lets_the_rule_pass_where_one_saturation_for_all_costs_the_faces() -> None:
    """Rows that differ only in their knee are told apart, here and in the floor sweep: the kneed setting at
    saturation 2 is colorful enough and, sparing the faces' already colorful photos, keeps their floors."""
    kneed = {**ROWS[2], "knee": 20.0, "psnr_per_image": [20.4] * 4}
    faces_kneed = {**FACES[1][2], "knee": 20.0, "psnr_per_image": [22.6, 24.8]}
    rule = Rule(0.6, floors={"lfw": 2.4, "celeba": 4.5}, floor_sweep=(FACES_GRAY, [*FACES[1], faces_kneed]))
    assert rule.floor_gains(ROWS[2]) == {"lfw": 1.0, "celeba": 3.0}
    assert rule.floor_gains(kneed) == {"lfw": pytest.approx(2.6), "celeba": pytest.approx(4.8)}
    assert rule.best([*ROWS, kneed], GRAY) is kneed
    assert defaults_of(kneed)["saturation_knee"] == 20.0 and defaults_of(ROWS[2])["saturation_knee"] is None


def test_the_frontier_sets_kneed_settings_apart_on_request() -> None:
    kneed = {**ROWS[2], "knee": 20.0, "psnr_per_image": [20.4] * 4, "psnr": 20.4}
    names, split = knees_apart([Path("a.json")], [(GRAY, [*ROWS, kneed])])
    assert names == ["a.json (one saturation)", "a.json (knee)"]
    assert split[0][1] == ROWS and split[1][1] == [kneed]
    assert best_at(split[0][1], GRAY, 0.6) is ROWS[2] and best_at(split[1][1], GRAY, 0.6) is kneed


def test_a_sweep_without_photo_sets_cannot_measure_a_set() -> None:
    with pytest.raises(SystemExit, match="name each photo's set"):
        Rule(0.6, colorfulness_on=["objects"]).colorfulness(ROWS[0], {**GRAY, "photo_sets": None})
    with pytest.raises(SystemExit, match="no photos of"):
        Rule(0.6, colorfulness_on=["faces"]).colorfulness(ROWS[0], GRAY)


def test_the_frontier_measures_the_bar_where_the_rule_does_and_reports_each_set() -> None:
    assert best_at(ROWS, GRAY, 0.6)["saturation"] == 2.0
    assert best_at(ROWS, GRAY, 0.6, colorfulness_on=["objects"])["saturation"] == 1.5
    assert best_at(ROWS, GRAY, 0.9, colorfulness_on=["objects"]) is None
    figures = by_set({**ROWS[1], "psnr_per_image": [21.0, 19.0, 20.5, 20.5]}, GRAY)
    assert list(figures) == ["objects", "people"]
    assert figures["objects"] == pytest.approx((0.0, 0.65, 0.5))
    assert figures["people"] == pytest.approx((0.5, 0.4, 1.0))


def test_sweeps_of_the_same_photos_agree_up_to_rounding() -> None:
    gray = {"psnr_per_image": [22.5, 19.25, 30.0]}
    assert same_photos([gray, {"psnr_per_image": [22.502, 19.249, 30.0]}])  # another machine's rounding
    assert not same_photos([gray, {"psnr_per_image": [22.5, 19.25, 30.2]}])  # another photo
    assert not same_photos([gray, {"psnr_per_image": [22.5, 19.25]}])


def test_the_training_photos_sweep_knows_each_photos_set(tmp_path) -> None:
    """As many training photos of each set as its validation split, the first by the hash of the file name, gray
    ones left out, each named by its set: so that sweep_frontier --by-set reads a training sweep too."""
    rng = np.random.default_rng(0)

    def photo(name: str, gray: bool = False) -> dict:
        pixels = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
        Image.fromarray(pixels[..., :1].repeat(3, axis=-1) if gray else pixels).save(tmp_path / name)
        return {"file": name, "sha256": "0" * 64}

    def entry(train: list[dict], validation: list[dict]) -> dict:
        return {"kind": "photos", "root": str(tmp_path), "crops_per_photo": 1, "train": train, "validation": validation}

    objects = [photo(f"object{i}.png", gray=i == 0) for i in range(6)]
    people = [photo(f"person{i}.png") for i in range(3)]
    sets = {"objects": entry(objects[:5], objects[5:] * 3), "people": entry(people[:2], people[2:])}
    (tmp_path / "sets.json").write_text(manifest_text(sets, generator="test"))

    photos, names = training_photos(tmp_path / "sets.json", ["objects", "people"])

    def first_by_hash(files: list[str], count: int) -> list[str]:
        return sorted(files, key=lambda name: hashlib.sha256(name.encode()).hexdigest())[:count]

    first_objects = first_by_hash([f"object{i}.png" for i in range(5)], 3)
    assert "object0.png" in first_objects  # the gray photo is among those chosen, and must be left out
    chosen = [name for name in first_objects if name != "object0.png"]
    chosen += first_by_hash(["person0.png", "person1.png"], 1)
    assert names == ["objects"] * (len(chosen) - 1) + ["people"]
    expected = [np.asarray(Image.open(tmp_path / name).convert("RGB")) for name in chosen]
    assert len(photos) == len(expected)
    assert all(np.array_equal(got, want) for got, want in zip(photos, expected))
