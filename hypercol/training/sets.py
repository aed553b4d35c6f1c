"""The photo-set manifest: which photos train and which validate, per named set (nothing is copied).

A manifest is JSON ``{"generator": ..., "sets": {name: entry}}``. An entry is
``{"kind": "photos" | "cutouts", "root": folder, "train": [item], "validation": [item], ...}``
where an item is ``{"file": path under root, "sha256": ...}``; a photo set may add
``crops_per_photo`` (random training crops of each photo, default 1), ``centre_fraction``
(the share of each side kept before cropping, default 1) and ``group``. Cut-out sets
(photos with alpha, pasted onto training crops) have no validation photos.

``examples/build_photo_sets.py`` writes manifests with :func:`manifest_text`; the feature
cache, evaluation and the examples read them with :class:`PhotoSets`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = ["KINDS", "SPLITS", "PhotoSets", "entry_paths", "manifest_text"]

KINDS = ("photos", "cutouts")
SPLITS = ("train", "validation")
_REQUIRED = ("kind", "root", *SPLITS)


def _check_entry(name: str, entry) -> None:
    if not isinstance(entry, dict):
        msg = f"set {name!r} is not an object"
        raise ValueError(msg)  # noqa: TRY004 -- a malformed file, like the other checks
    missing = [key for key in _REQUIRED if key not in entry]
    if missing:
        msg = f"set {name!r} lacks {missing}"
        raise ValueError(msg)
    if entry["kind"] not in KINDS:
        msg = f"set {name!r} is of kind {entry['kind']!r}, not one of {KINDS}"
        raise ValueError(msg)
    for split in SPLITS:
        if not isinstance(entry[split], list) or any("file" not in item for item in entry[split]):
            msg = f"set {name!r}: {split!r} must be a list of {{'file': ...}} items"
            raise ValueError(msg)


def manifest_text(sets: dict[str, dict], generator: str) -> str:
    """The manifest (checked) of ``sets`` {name: entry} as the JSON text to write."""
    for name, entry in sets.items():
        _check_entry(name, entry)
    return json.dumps({"generator": generator, "sets": sets}, indent=1) + "\n"


@dataclass(frozen=True)
class PhotoSets:
    """A read (and checked) manifest; ``text`` is the file's text, whose sha256 names it in caches and cards."""

    path: Path
    text: str
    sets: dict[str, dict]

    @classmethod
    def read(cls, path: str | Path) -> PhotoSets:
        path = Path(path)
        text = path.read_text()
        document = json.loads(text)
        sets = document.get("sets") if isinstance(document, dict) else None
        if not isinstance(sets, dict):
            msg = f"{str(path)!r} is not a photo-set manifest (no 'sets' object)"
            raise ValueError(msg)  # noqa: TRY004 -- a malformed file, like the other checks
        for name, entry in sets.items():
            _check_entry(name, entry)
        return cls(path, text, sets)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    def photo_sets(self, only: Sequence[str] | None = None) -> dict[str, dict]:
        """{name: entry} of the sets of kind "photos" (of those named in ``only``, if given)."""
        return {n: e for n, e in self.sets.items() if e["kind"] == "photos" and (only is None or n in only)}

    def cutouts(self) -> dict | None:
        """The first set of kind "cutouts", or None."""
        return next((entry for entry in self.sets.values() if entry["kind"] == "cutouts"), None)

    def _named(self, names: Sequence[str]) -> list[dict]:
        unknown = [name for name in names if name not in self.sets]
        if unknown:
            msg = f"the manifest {str(self.path)!r} has no sets {unknown}; it has {sorted(self.sets)}"
            raise ValueError(msg)
        return [self.sets[name] for name in names]

    def paths(self, names: Sequence[str], split: str) -> list[Path]:
        """The photos of ``split`` ("train" or "validation") of the named sets, set after set, in manifest order."""
        return [path for entry in self._named(names) for path in entry_paths(entry, split)]


def entry_paths(entry: dict, split: str) -> list[Path]:
    """The photos of one split of one set's entry."""
    root = Path(entry["root"])
    return [root / item["file"] for item in entry[split]]
