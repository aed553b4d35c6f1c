"""Lists the training photo sets, with their validation splits, in one manifest (nothing is copied).

    python examples/build_photo_sets.py --photos ../shared/photos --corpus data/corpus \
        --stamps data/stamps [--gcompris data/gcompris] --out data/sets.json

Each set names its folder (given on the command line, read in place), its files with
their sha256, and a validation split chosen by a fixed hash of the file name
(:func:`hypercol.training.photos.split_validation`): validation photos are never trained on.
Cut-out stamps (photos with alpha from Debian's ``tuxpaint-stamps-default``) have no
validation split: they are pasted onto training crops (copy-paste augmentation).

``--stamps DIR`` is the unpacked package's ``usr/share/tuxpaint/stamps``; with
``--fetch-stamps`` the package is fetched with ``apt-get download`` into ``data/``.
The sample photos of scikit-image, scikit-learn, matplotlib and imgaug are reserved
for evaluation and must never be listed here.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import subprocess
from pathlib import Path

import numpy as np
from PIL import Image

from hypercol.io.files import IMAGE_SUFFIXES, write_atomically
from hypercol.training.photos import split_validation
from hypercol.training.sets import manifest_text

REPO_ROOT = Path(__file__).resolve().parents[1]

# name -> (folder under --photos, validation fraction, crops per training photo, centre fraction, group)
# The centre fraction crops LFW's black, tilted alignment borders (the centre 150 of 250 px).
PHOTO_SETS = {
    "imagenet": ("imagenet-samples", 0.11, 4, 1.0, "scenes"),
    "coco": ("coco-samples", 0.1, 4, 1.0, "scenes"),
    "people-scenes": ("people-scenes", 0.1, 4, 1.0, "people"),
    "people-sport": ("people-sport", 0.1, 3, 1.0, "people"),
    "faces-lfw": ("faces-lfw", 0.1, 1, 0.6, "people"),
    "faces-celeba": ("faces-celeba", 0.1, 1, 1.0, "people"),
    "scenes-corel": ("scenes-corel", 0.1, 2, 1.0, "scenes"),
    "scenes-osie": ("scenes-osie", 0.1, 2, 1.0, "scenes"),
    "scenes-bsds": ("scenes-bsds", 0.1, 2, 1.0, "scenes"),
    "scenes-urban": ("scenes-urban", 0.1, 3, 1.0, "scenes"),
}
DEBIAN_SET = ("debian", 0.1, 10, 1.0, "scenes")
GCOMPRIS_SET = ("gcompris", 0.1, 4, 1.0, "scenes")

# Stamps that are drawings, signs or symbols rather than photographs (checked by eye
# on contact sheets); everything else must also pass the flat-area test below.
STAMP_EXCLUDES = (
    "symbols/*",
    "*/cartoon/*",
    "town/roadsigns/*",
    "town/flags/*",
    "seasonal/easter/*",
    "seasonal/newyears/party-hat*",
    "seasonal/christmas/stocking*",
    "seasonal/christmas/German_Christmas_toy*",
    "clothes/button*",
)
# Drawings have large areas of identical neighbouring pixels; photos almost none.
MAX_STAMP_FLAT_FRACTION = 0.22
MIN_STAMP_PIXELS = 400


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())


def photo_set(folder: Path, validation_fraction: float, crops: int, centre: float, group: str) -> dict:
    files = [str(p.relative_to(folder)) for p in image_files(folder)]
    if not files:
        msg = f"no photos in {folder}"
        raise SystemExit(msg)
    train, validation = split_validation(files, validation_fraction)
    entry = lambda name: {"file": name, "sha256": sha256(folder / name)}
    return {
        "kind": "photos",
        "group": group,
        "root": str(folder.resolve()),
        "crops_per_photo": crops,
        "centre_fraction": centre,
        "train": [entry(name) for name in train],
        "validation": [entry(name) for name in validation],
    }


def flat_fraction(image: Image.Image) -> tuple[float, int]:
    """Fraction of horizontally neighbouring opaque pixel pairs with identical gray, and the opaque pixel count."""
    rgba = np.asarray(image.convert("RGBA"))
    opaque = rgba[..., 3] > 128
    gray = np.asarray(image.convert("L"), np.int16)
    pairs = opaque[:, 1:] & opaque[:, :-1]
    if not pairs.any():
        return 1.0, 0
    return float((np.diff(gray, axis=1)[pairs] == 0).mean()), int(opaque.sum())


def stamp_set(folder: Path) -> dict:
    kept, rejected = [], {}
    for path in sorted(folder.rglob("*.png")):
        name = str(path.relative_to(folder))
        if any(fnmatch.fnmatch(name, pattern) for pattern in STAMP_EXCLUDES):
            rejected[name] = "excluded folder or drawing"
            continue
        with Image.open(path) as image:
            if "A" not in image.getbands() and "transparency" not in image.info:
                rejected[name] = "no alpha"
                continue
            flat, pixels = flat_fraction(image)
        if pixels < MIN_STAMP_PIXELS or flat > MAX_STAMP_FLAT_FRACTION:
            rejected[name] = f"drawing or tiny (flat fraction {flat:.2f}, {pixels} px)"
            continue
        kept.append({"file": name, "sha256": sha256(path)})
    return {
        "kind": "cutouts",
        "group": "stamps",
        "root": str(folder.resolve()),
        "source": "Debian tuxpaint-stamps-default",
        "train": kept,
        "validation": [],
        "rejected": rejected,
    }


def fetch_stamps(work: Path) -> Path:
    """apt-get download + dpkg-deb -x of tuxpaint-stamps-default into ``work``; returns the stamps folder."""
    work.mkdir(parents=True, exist_ok=True)
    stamps = work / "extract" / "usr" / "share" / "tuxpaint" / "stamps"
    if not stamps.is_dir():
        subprocess.run(["apt-get", "download", "tuxpaint-stamps-default"], cwd=work, check=True)
        deb = max(work.glob("tuxpaint-stamps-default_*.deb"))
        subprocess.run(["dpkg-deb", "-x", str(deb), str(work / "extract")], check=True)
    return stamps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=Path, required=True, help="folder holding the photo set folders")
    parser.add_argument("--corpus", type=Path, help="the Debian corpus of examples/build_corpus.py")
    parser.add_argument("--gcompris", type=Path, help="the photos of examples/build_gcompris_photos.py")
    parser.add_argument("--stamps", type=Path, help="the unpacked tuxpaint stamps folder")
    parser.add_argument("--fetch-stamps", action="store_true", help="fetch tuxpaint-stamps-default into data/stamps")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "data" / "sets.json")
    args = parser.parse_args()

    sets = {}
    for name, (folder, *rest) in PHOTO_SETS.items():
        if (args.photos / folder).is_dir():
            sets[name] = photo_set(args.photos / folder, *rest)
    if args.corpus:
        sets["debian"] = photo_set(args.corpus, *DEBIAN_SET[1:])
    stamps = fetch_stamps(REPO_ROOT / "data" / "stamps") if args.fetch_stamps else args.stamps
    if stamps:
        sets["stamps"] = stamp_set(stamps)
    if args.gcompris:
        sets["gcompris"] = photo_set(args.gcompris, *GCOMPRIS_SET[1:])
    for name, entry in sets.items():
        print(f"{name}: {len(entry['train'])} train, {len(entry['validation'])} validation")
    text = manifest_text(sets, generator="examples/build_photo_sets.py")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(args.out, lambda p: p.write_text(text))
    print(args.out, hashlib.sha256(text.encode()).hexdigest())


if __name__ == "__main__":
    main()
