"""examples/build_photo_sets.py: the manifest it writes from photo folders, with and without GCompris's photos."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import build_photo_sets


def _photos(folder: Path, count: int) -> list[str]:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(len(str(folder)))
    for index in range(count):
        Image.fromarray(rng.integers(0, 256, (24, 32, 3), dtype=np.uint8)).save(folder / f"photo{index:02d}.jpg")
    return sorted(f"photo{index:02d}.jpg" for index in range(count))


def _manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *extra: str) -> dict:
    out = tmp_path / "sets.json"
    argv = ["build_photo_sets.py", "--photos", str(tmp_path / "photos"), "--out", str(out), *extra]
    monkeypatch.setattr(sys, "argv", argv)
    build_photo_sets.main()
    return json.loads(out.read_text())["sets"]


def test_gcompris_photos_become_a_set_of_their_own_with_a_validation_split(tmp_path, monkeypatch) -> None:
    imagenet = _photos(tmp_path / "photos" / "imagenet-samples", 12)
    gcompris = _photos(tmp_path / "gcompris", 30)
    sets = _manifest(tmp_path, monkeypatch, "--gcompris", str(tmp_path / "gcompris"))
    assert sorted(sets) == ["gcompris", "imagenet"]
    entry = sets["gcompris"]
    train = [item["file"] for item in entry["train"]]
    validation = [item["file"] for item in entry["validation"]]
    assert sorted(train + validation) == gcompris
    assert train and validation and not set(train) & set(validation)
    assert entry["root"] == str((tmp_path / "gcompris").resolve())
    assert (entry["group"], entry["crops_per_photo"]) == ("scenes", 4)
    assert sorted(item["file"] for split in ("train", "validation") for item in sets["imagenet"][split]) == imagenet


def test_without_the_option_no_gcompris_set_is_listed(tmp_path, monkeypatch) -> None:
    _photos(tmp_path / "photos" / "imagenet-samples", 5)
    _photos(tmp_path / "gcompris", 5)
    assert sorted(_manifest(tmp_path, monkeypatch)) == ["imagenet"]
