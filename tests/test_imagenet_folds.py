"""examples/imagenet_folds.py: fold manifests, fold caches sharing the other sets' parts, the interpolation."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import imagenet_folds
from imagenet_folds import (
    SATURATIONS,
    at_saturation,
    curves_file,
    fold_colorizer,
    fold_manifest_text,
    link_other_parts,
    position_at_bar,
    prepare,
    report_difference,
    report_pattern,
)

from hypercol.training.cache import CACHE_FILE
from hypercol.training.sets import PhotoSets, manifest_text


def _entry(root: Path, files: list[str], validation_count: int) -> dict:
    items = [{"file": name, "sha256": name * 2} for name in files]
    return {
        "kind": "photos",
        "group": "scenes",
        "root": str(root),
        "crops_per_photo": 2,
        "centre_fraction": 1.0,
        "train": items[validation_count:],
        "validation": items[:validation_count],
    }


def _base(tmp_path: Path) -> PhotoSets:
    sets = {
        "imagenet": _entry(tmp_path, [f"n{i:08d}_thing.JPEG" for i in range(23)], 3),
        "people": _entry(tmp_path, [f"person{i}.jpg" for i in range(6)], 1),
    }
    (tmp_path / "sets.json").write_text(manifest_text(sets, generator="test"))
    return PhotoSets.read(tmp_path / "sets.json")


def test_the_folds_hold_out_each_photo_of_the_set_once_and_leave_the_other_sets_alone(tmp_path) -> None:
    base = _base(tmp_path)
    everything = {item["file"] for split in ("train", "validation") for item in base.sets["imagenet"][split]}
    held_out = []
    for fold in range(4):
        sets = json.loads(fold_manifest_text(base, "imagenet", 4, fold))["sets"]
        train = {item["file"] for item in sets["imagenet"]["train"]}
        validation = {item["file"] for item in sets["imagenet"]["validation"]}
        assert train | validation == everything and not train & validation
        assert all(item["sha256"] == item["file"] * 2 for item in sets["imagenet"]["validation"])
        assert sets["people"] == base.sets["people"]
        held_out += sorted(validation)
    assert sorted(held_out) == sorted(everything)  # 23 photos in 4 folds of 6: the last fold holds 5


def test_a_fold_cache_links_the_other_sets_parts_and_leaves_the_held_out_set_to_compute(tmp_path) -> None:
    base_cache = tmp_path / "cache"
    parts = {"imagenet": "train", "imagenet.validation": "validation", "people": "train"}
    for part in parts:
        (base_cache / part).mkdir(parents=True)
        np.save(base_cache / part / "chroma.npy", np.arange(4.0))
    meta = {"backbone": "b", "sets_manifest_sha256": "old", "parts": {p: {"split": s} for p, s in parts.items()}}
    (base_cache / CACHE_FILE).write_text(json.dumps(meta))
    out = tmp_path / "fold"
    link_other_parts(base_cache, out, "imagenet", "new")
    written = json.loads((out / CACHE_FILE).read_text())
    assert written["sets_manifest_sha256"] == "new" and list(written["parts"]) == ["people"]
    assert not (out / "imagenet").exists()
    linked = out / "people" / "chroma.npy"
    assert linked.stat().st_ino == (base_cache / "people" / "chroma.npy").stat().st_ino  # a hard link, no copy
    written["parts"]["imagenet"] = {"split": "train", "next": 3}  # a build under way is not started over
    (out / CACHE_FILE).write_text(json.dumps(written))
    link_other_parts(base_cache, out, "imagenet", "new")
    assert json.loads((out / CACHE_FILE).read_text())["parts"]["imagenet"]["next"] == 3


def test_values_are_interpolated_between_the_saturations() -> None:
    values = np.tile(np.asarray(SATURATIONS) * 2.0, (3, 1))
    np.testing.assert_allclose(at_saturation(values, 0.0), 2.0 * SATURATIONS[0])
    np.testing.assert_allclose(at_saturation(values, 1.5), SATURATIONS[1] + SATURATIONS[2])
    np.testing.assert_allclose(at_saturation(values, len(SATURATIONS) - 1.0), 2.0 * SATURATIONS[-1])


def test_each_photo_may_have_its_own_position_on_a_grid_of_any_length() -> None:
    values = np.array([[0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0], np.arange(7) * -1.0])
    np.testing.assert_allclose(at_saturation(values, np.array([1.5, 0.25])), [15.0, -0.25])
    np.testing.assert_allclose(at_saturation(values, np.array([0.0, 6.0])), [0.0, -6.0])  # the grid's ends
    np.testing.assert_allclose(at_saturation(values, 6.0), [60.0, -6.0])  # one position for all


def test_the_curves_of_a_pattern_are_stored_under_a_name_that_is_not_hidden_and_names_their_decoding(tmp_path) -> None:
    stored = curves_file(tmp_path, "../runs/folds-default-{fold}/head.weights.h5", 3)
    assert stored == tmp_path / "runs_folds-default-F_head-fold3.json"
    other = curves_file(tmp_path, "runs/folds-default-{fold}/head.weights.h5", 3)
    assert other == stored  # the same heads named from another folder share their curves
    on_a_canvas = curves_file(tmp_path, "runs/folds-default-{fold}/head.weights.h5", 3, 256)
    assert on_a_canvas == tmp_path / "runs_folds-default-F_head-canvas256-fold3.json"
    decoded = curves_file(tmp_path, "runs/d-{fold}/head.weights.h5", 0, 256, {"temperature": 0.6, "fallback": 0.0})
    assert decoded == tmp_path / "runs_d-F_head-canvas256-T0.6-fallback0-fold0.json"
    assert decoded != curves_file(
        tmp_path, "runs/d-{fold}/head.weights.h5", 0, 256, {"temperature": 0.45, "fallback": 0.0}
    )


def test_a_fold_head_runs_on_the_canvas_asked_for_or_its_cards(tiny_weights) -> None:
    assert fold_colorizer(tiny_weights, None).working_size == 64  # the card's
    larger = fold_colorizer(tiny_weights, 96)
    assert larger.working_size == 96
    photo = np.random.default_rng(0).integers(0, 256, (40, 52), dtype=np.uint8)
    assert larger.colorize(photo).shape == (40, 52, 3)


def _made_up_data(gain_per_saturation: float) -> dict:
    """Two folds of two ImageNet photos and one people photo; colorfulness 10 x the saturation, truth 25."""
    saturations = np.asarray(SATURATIONS)
    count = 6
    return {
        "set": np.array(["imagenet", "imagenet", "people-scenes"] * 2),
        "fold": np.array([0, 0, 0, 1, 1, 1]),
        "gain": np.tile(gain_per_saturation * saturations, (count, 1)) + np.arange(count)[:, None] * 0.1,
        "auc_gain": np.ones((count, len(SATURATIONS))),
        "colorfulness": np.tile(10.0 * saturations, (count, 1)),
        "truth_colorfulness": np.full(count, 25.0),
    }


def test_the_bar_is_met_at_the_interpolated_saturation_and_the_heads_are_compared_photo_by_photo(capsys) -> None:
    data = _made_up_data(-0.5)
    position = position_at_bar(data, "imagenet", 0.6)  # colorfulness 15 = 0.6 x 25: saturation 1.5
    assert SATURATIONS[round(position)] == 1.5 and abs(position - round(position)) < 1e-9
    assert position_at_bar(data, "imagenet", 1.5) is None  # 37.5 is past the strongest saturation's 25
    gain = report_pattern("a/{fold}", data, "imagenet", ["people-scenes"], 0.6)
    np.testing.assert_allclose(gain, -0.75 + np.arange(6) * 0.1)
    better = report_pattern("b/{fold}", _made_up_data(-0.1), "imagenet", ["people-scenes"], 0.6)
    report_difference("b/{fold}", better, gain, data, ["imagenet", "people-scenes"])
    printed = capsys.readouterr().out
    assert "saturation 1.50 for 0.6x" in printed
    assert "imagenet: -0.55 dB, AuC +1.00, beats gray 0% (4 photos; folds 0: -0.70 1: -0.40)" in printed
    assert "imagenet: +0.05 dB, AuC +1.00, beats gray 50%" in printed  # -0.15, -0.05, +0.15, +0.25
    assert "imagenet: +0.600 dB +- 0.000 (folds +0.60 +0.60)" in printed


def test_prepare_makes_one_fold_when_asked_and_every_fold_otherwise(tmp_path, monkeypatch) -> None:
    """One fold at a time keeps the disk to one held-out set's features (with two backbones' taps, five do not fit)."""
    base = _base(tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    settings = {"backbone": "b", "crop_size": 8, "output_stride": 4, "seed": 0, "paste_probability": 0.0}
    (cache / CACHE_FILE).write_text(json.dumps({**settings, "sets_manifest_sha256": base.sha256, "parts": {}}))
    built = []
    monkeypatch.setattr(imagenet_folds, "build_feature_cache", lambda manifest, out, **_: built.append(out.name))
    arguments = {"sets": tmp_path / "sets.json", "cache": cache, "folds": 4, "set": "imagenet"}
    prepare(argparse.Namespace(out=tmp_path / "one", fold=2, **arguments))
    assert built == ["cache-2"] and [f.name for f in (tmp_path / "one").glob("sets-*.json")] == ["sets-2.json"]
    prepare(argparse.Namespace(out=tmp_path / "all", fold=None, **arguments))
    assert built[1:] == ["cache-0", "cache-1", "cache-2", "cache-3"]
    assert (tmp_path / "one" / "sets-2.json").read_text() == (tmp_path / "all" / "sets-2.json").read_text()
