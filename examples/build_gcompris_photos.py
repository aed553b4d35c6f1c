"""Collect the real photographs bundled in Debian's ``gcompris-qt-data`` as a training set.

GCompris, the educational suite, ships its pictures inside Qt resource bundles
(``usr/share/gcompris-qt/rcc/<activity>.rcc``). Most are drawings; the activities in
:data:`PHOTO_ACTIVITIES` hold photographs from Wikimedia Commons (checked by eye on
contact sheets): objects and tools, fish, monuments, windmills, solar panels, wild and
farm animals: 239 of them, at 320x240 to 1024 px, once narrow strips (6) and
near-duplicates (3) are left out.

    python examples/build_gcompris_photos.py --out data/gcompris

Then ``build_photo_sets.py --gcompris data/gcompris`` lists them as the set "gcompris".
The package is fetched with ``apt-get download`` into ``--work`` (``apt-get update``
must have run once). Photos are written as JPEG via a temporary name (an unchanged one is
not rewritten), with ``manifest.json`` listing what was kept and what was left out and why;
photos of an earlier manifest that are no longer kept are removed, no other file.
"""

from __future__ import annotations

import argparse
import io
import json
import struct
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

from build_corpus import (
    PHASH_MAX_DISTANCE,
    PHOTO_SUFFIXES,
    deb_field,
    encode_jpeg,
    extract_deb,
    fetch_deb,
    load_rgb,
    perceptual_hash,
    remove_stale,
    write_atomic,
)
from PIL import Image

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "gcompris-qt-data"
RESOURCE_FOLDER = Path("usr/share/gcompris-qt/rcc")

#: The activities whose pictures are photographs (all others are drawings, paintings or symbols).
PHOTO_ACTIVITIES = (
    "categorization",
    "erase",
    "explore_monuments",
    "explore_world_animals",
    "explore_farm_animals",
)
#: Strips narrower than this (a pencil, a pair of tweezers on white) make no training crop.
MIN_SHORT_SIDE = 150

_COMPRESSED, _DIRECTORY, _COMPRESSED_ZSTD = 0x01, 0x02, 0x04


def qt_resources(blob: bytes) -> Iterator[tuple[str, bytes]]:
    """(path, contents) of every file in a Qt resource bundle (``rcc`` binary, format versions 1-3).

    The bundle starts with ``qres``, the format version and the offsets of its tree, data
    and names. A tree node is 14 bytes (22 from version 2, with a modification time):
    name offset, flags, then a directory's child count and first child, or a file's
    locale and data offset. Data is a 4-byte length and the bytes, zlib-compressed
    behind a 4-byte length when the node says so; names are a 2-byte length, a 4-byte
    hash and UTF-16BE.
    """
    if blob[:4] != b"qres" or len(blob) < 20:
        msg = "not a Qt resource bundle (no 'qres' header)"
        raise ValueError(msg)
    version, tree, data, names = struct.unpack_from(">IIII", blob, 4)
    if version not in (1, 2, 3):
        msg = f"Qt resource format version {version} is not supported"
        raise ValueError(msg)
    node_size = 14 if version == 1 else 22

    def name_at(offset: int) -> str:
        (length,) = struct.unpack_from(">H", blob, names + offset)
        start = names + offset + 6
        return blob[start : start + 2 * length].decode("utf-16-be")

    def walk(node: int, prefix: str, depth: int) -> Iterator[tuple[str, bytes]]:
        if depth > 64:
            msg = "Qt resource tree nested deeper than 64 levels (a corrupt bundle?)"
            raise ValueError(msg)
        name_offset, flags = struct.unpack_from(">IH", blob, tree + node * node_size)
        path = f"{prefix}/{name_at(name_offset)}" if node else ""
        if flags & _DIRECTORY:
            count, first = struct.unpack_from(">II", blob, tree + node * node_size + 6)
            for child in range(first, first + count):
                yield from walk(child, path, depth + 1)
            return
        (offset,) = struct.unpack_from(">I", blob, tree + node * node_size + 10)
        (length,) = struct.unpack_from(">I", blob, data + offset)
        payload = blob[data + offset + 4 : data + offset + 4 + length]
        if flags & _COMPRESSED_ZSTD:
            msg = f"{path}: zstd-compressed resources are not supported"
            raise ValueError(msg)
        yield path.lstrip("/"), zlib.decompress(payload[4:]) if flags & _COMPRESSED else payload

    try:
        yield from walk(0, "", 0)
    except (struct.error, zlib.error, UnicodeDecodeError) as error:
        msg = f"truncated or corrupt Qt resource bundle: {error}"
        raise ValueError(msg) from error


def activity_photos(bundle: Path) -> Iterator[tuple[str, Image.Image | None]]:
    """(file name to write, RGB photo, or None for a picture that cannot be read) of the pictures in one
    activity's bundle, in bundle order."""
    for path, contents in qt_resources(bundle.read_bytes()):
        if Path(path).suffix.lower() not in PHOTO_SUFFIXES:
            continue
        parts = Path(path).with_suffix("").parts
        try:
            photo, _ = load_rgb(io.BytesIO(contents))  # upright sRGB, like the Debian corpus
        except (OSError, ValueError):
            photo = None
        yield f"{bundle.stem}__{'_'.join(parts[-2:])}.jpg", photo


def build(out: Path, work: Path) -> dict:
    """Writes the photos of :data:`PHOTO_ACTIVITIES` into ``out``; returns the manifest written beside them."""
    deb = fetch_deb(PACKAGE, work / "debs")
    version = deb_field(deb, "Version")
    root = extract_deb(deb, PACKAGE, version, work / "extract")
    out.mkdir(parents=True, exist_ok=True)
    kept, skipped, hashes = {}, {}, []
    for activity in PHOTO_ACTIVITIES:
        for name, photo in activity_photos(root / RESOURCE_FOLDER / f"{activity}.rcc"):
            if photo is None:
                skipped[name] = "not a readable picture"
                continue
            if min(photo.size) < MIN_SHORT_SIDE:
                skipped[name] = f"too narrow ({photo.size[0]}x{photo.size[1]})"
                continue
            digest = perceptual_hash(photo)  # near-duplicates by the Debian corpus's hash and distance
            if digest is not None and any((digest ^ other).bit_count() <= PHASH_MAX_DISTANCE for other in hashes):
                skipped[name] = "a near-duplicate of an earlier photo"
            else:
                hashes += [digest] if digest is not None else []
                kept[name] = f"{photo.size[0]}x{photo.size[1]}"
                write_atomic(out / name, encode_jpeg(photo))
    remove_stale(out, out / "manifest.json", set(kept))
    photos = [{"file": name, "size": size} for name, size in kept.items()]
    manifest = {"source": f"Debian {PACKAGE} {version}", "activities": PHOTO_ACTIVITIES, "photos": photos}
    write_atomic(out / "manifest.json", (json.dumps({**manifest, "skipped": skipped}, indent=1) + "\n").encode())
    return manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "data" / "gcompris")
    parser.add_argument("--work", type=Path, default=REPO_ROOT / "data" / "corpus-work")
    args = parser.parse_args(argv)
    manifest = build(args.out, args.work)
    print(f"{len(manifest['photos'])} photos from {manifest['source']} in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
