"""examples/imagenet_folds.py: fold manifests, fold caches sharing the other sets' parts, the interpolation."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from imagenet_folds import SATURATIONS, at_saturation, fold_manifest_text, link_other_parts

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
