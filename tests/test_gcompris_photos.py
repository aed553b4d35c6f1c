"""examples/build_gcompris_photos.py: its reader of Qt resource bundles and its choice of photos, on bundles written here."""

from __future__ import annotations

import io
import json
import struct
import sys
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import build_gcompris_photos
from build_gcompris_photos import qt_resources


def _bundle(tree: dict, version: int) -> bytes:
    """A Qt resource bundle of ``tree`` ({name: bytes, or ("zlib", bytes), or a sub-tree}), laid out as rcc does."""
    names, data, nodes = bytearray(), bytearray(), []

    def add_name(name: str) -> int:
        offset = len(names)
        encoded = name.encode("utf-16-be")
        names.extend(struct.pack(">HI", len(name), 0) + encoded)
        return offset

    def add_data(value) -> tuple[int, int]:
        offset, flags = len(data), 0
        if isinstance(value, tuple):
            value, flags = struct.pack(">I", len(value[1])) + zlib.compress(value[1]), 0x01
        data.extend(struct.pack(">I", len(value)) + value)
        return offset, flags

    # Breadth first, as rcc writes it: a directory's children are consecutive nodes.
    nodes.append([0, 0x02, 0, 1])
    queue = [(0, tree)]
    while queue:
        index, folder = queue.pop(0)
        nodes[index][2], nodes[index][3] = len(folder), len(nodes)
        for name, value in folder.items():
            if isinstance(value, dict):
                nodes.append([add_name(name), 0x02, 0, 0])
                queue.append((len(nodes) - 1, value))
            else:
                offset, flags = add_data(value)
                nodes.append([add_name(name), flags, "file", offset])
    tree_bytes = bytearray()
    for name, flags, kind, value in nodes:
        tail = struct.pack(">HHI", 0, 0, value) if kind == "file" else struct.pack(">II", kind, value)
        tree_bytes.extend(struct.pack(">IH", name, flags) + tail + (b"\0" * 8 if version > 1 else b""))
    header = 20 if version < 3 else 24
    tree_at, data_at = header, header + len(tree_bytes)
    names_at = data_at + len(data)
    head = b"qres" + struct.pack(">IIII", version, tree_at, data_at, names_at) + (b"\0" * 4 if version == 3 else b"")
    return head + bytes(tree_bytes) + bytes(data) + bytes(names)


TREE = {
    "gcompris": {
        "images": {"fish1.webp": b"first picture", "fish2.webp": ("zlib", b"second picture " * 20)},
        "ActivityInfo.qml": b"import QtQuick",
    },
    "top.txt": b"",
}


@pytest.mark.parametrize("version", [1, 2, 3])
def test_every_file_comes_back_with_its_path_and_contents(version: int) -> None:
    files = dict(qt_resources(_bundle(TREE, version)))
    assert files == {
        "gcompris/images/fish1.webp": b"first picture",
        "gcompris/images/fish2.webp": b"second picture " * 20,
        "gcompris/ActivityInfo.qml": b"import QtQuick",
        "top.txt": b"",
    }


def test_a_file_that_is_no_bundle_is_refused() -> None:
    with pytest.raises(ValueError, match="not a Qt resource bundle"):
        list(qt_resources(b"\x89PNG\r\n\x1a\n" + b"\0" * 32))


def test_a_truncated_bundle_is_a_clear_error() -> None:
    blob = _bundle(TREE, 2)
    with pytest.raises(ValueError, match="truncated or corrupt"):
        list(qt_resources(blob[: len(blob) // 2]))


def test_a_newer_format_is_refused() -> None:
    blob = bytearray(_bundle(TREE, 2))
    blob[4:8] = struct.pack(">I", 9)
    with pytest.raises(ValueError, match="version 9"):
        list(qt_resources(bytes(blob)))


def _picture(seed: int, size: tuple[int, int]) -> bytes:
    rng = np.random.default_rng(seed)
    smooth = rng.normal(size=(size[1] // 8 + 1, size[0] // 8 + 1, 3)).repeat(8, 0).repeat(8, 1)
    pixels = np.clip(128 + 60 * smooth[: size[1], : size[0]], 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "WEBP", quality=95)
    return buffer.getvalue()


def test_build_keeps_readable_photos_once_and_says_why_the_others_are_left_out(tmp_path, monkeypatch) -> None:
    photo = _picture(1, (320, 240))
    folder = tmp_path / "extract" / build_gcompris_photos.RESOURCE_FOLDER
    folder.mkdir(parents=True)
    pictures = {
        "fish1.webp": photo,
        "fish2.webp": photo,  # the same photo again
        "pencil.webp": _picture(2, (320, 120)),
        "broken.webp": b"RIFF....WEBPVP8 not really",
        "ActivityInfo.qml": b"import QtQuick",
    }
    for activity in build_gcompris_photos.PHOTO_ACTIVITIES:
        images = {"other.webp": _picture(3 + len(activity), (400, 300))} if activity != "categorization" else pictures
        (folder / f"{activity}.rcc").write_bytes(_bundle({"gcompris": {"images": images}}, 2))
    monkeypatch.setattr(build_gcompris_photos, "fetch_deb", lambda package, debs: Path(f"{package}_1.0-1_all.deb"))
    monkeypatch.setattr(build_gcompris_photos, "deb_field", lambda deb, name: deb.name.split("_")[1])
    monkeypatch.setattr(build_gcompris_photos, "extract_deb", lambda deb, package, version, root: tmp_path / "extract")
    out = tmp_path / "photos"
    manifest = build_gcompris_photos.build(out, tmp_path / "work")
    written = json.loads((out / "manifest.json").read_text())
    kept = [entry["file"] for entry in written["photos"]]
    assert kept[0] == "categorization__images_fish1.jpg"
    assert len(kept) == 5 and sorted(path.name for path in out.glob("*.jpg")) == sorted(kept)
    assert written["skipped"] == {
        "categorization__images_fish2.jpg": "a near-duplicate of an earlier photo",
        "categorization__images_pencil.jpg": "too narrow (320x120)",
        "categorization__images_broken.jpg": "not a readable picture",
    }
    assert manifest["source"] == "Debian gcompris-qt-data 1.0-1"
    with Image.open(out / kept[0]) as written_photo:
        assert written_photo.size == (320, 240)
