"""Build the hypercol colorization training corpus from Debian wallpaper packages.

The corpus consists of real colour photographs only; it is built offline from
Debian packages (the only image source reachable from the build machines).

Pipeline
--------
1. ``apt-get download`` every package of ``--packages`` into ``WORK/debs``
   (a ``.deb`` already there for the candidate version is reused) and unpack
   it with ``dpkg-deb -x`` into ``WORK/extract/<package>_<version>``.
   ``apt-get update`` must have been run once on the machine.
2. Walk the unpacked trees for ``.jpg``/``.jpeg``/``.png``/``.webp`` files
   (SVG and every other format is ignored; symlinks are aliases and skipped).
3. Deduplicate.  Two files are the same picture when their perceptual hashes
   (64-bit DCT hash of a 32x32 grey thumbnail) differ in at most
   ``PHASH_MAX_DISTANCE`` bits and their aspect ratios agree, or when they
   belong to the same Plasma wallpaper bundle (``<Name>/contents/images*``:
   resolutions, portrait crops, dark variants and the preview screenshot).
   The largest file of each group is kept.
4. Classify each remaining picture as photograph or artwork with the
   deterministic heuristic of :func:`judge` (thresholds in the constants
   below, tuned by looking at every candidate), then apply the explicit,
   documented :data:`OVERRIDES` for the few pictures it gets wrong.
5. Trim letterbox bars, downscale so the long side is at most ``MAX_SIDE``
   and write ``<package>__<stem>.jpg`` plus ``manifest.json`` into ``--out``.

Every file is written to a temporary name and renamed into place, unchanged
files are not rewritten, and the only files ever deleted are photos listed in
the previous ``manifest.json`` of ``--out`` that are no longer selected.

Never feed this script the sample images of scikit-image, scikit-learn,
matplotlib or imgaug: they are reserved for evaluation.

Usage::

    .venv/bin/python examples/build_corpus.py [--out DIR] [--work DIR]
        [--packages PKG [PKG ...]]
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageCms, ImageOps
from scipy import fft, ndimage
from skimage import color

from hypercol.io.files import write_atomically

REPO_ROOT = Path(__file__).resolve().parents[1]

#: Packages verified (by eye) to ship genuine colour photographs.  The GNOME
#: 43 set ships only renders; it stays in the list as a negative control.
DEFAULT_PACKAGES: tuple[str, ...] = (
    "mate-backgrounds",
    "gnome-backgrounds",
    "plasma-workspace-wallpapers",
    "lomiri-wallpapers-16.04",
    "lomiri-wallpapers-20.04",
    "lxqt-themes",
    "palapeli-data",
    "tuxpaint-data",
)

# The formats photos come in, of hypercol.io.files.IMAGE_SUFFIXES: packages ship icons and
# diagrams as BMP, GIF and TIFF, which the corpus leaves out.
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp"})

#: Trees holding documentation screenshots and icons, never photographs.
SKIPPED_TREES = ("usr/share/doc/", "usr/share/help/", "usr/share/icons/")

MAX_SIDE = 1600
JPEG_QUALITY = 95

#: Pictures smaller than this are icons, tiles or previews, not photographs.
MIN_LONG_SIDE = 600
MIN_SHORT_SIDE = 400

PHASH_MAX_DISTANCE = 8
FLAT_HASH_STD = 2.0
ASPECT_TOLERANCE = 0.03

#: Long side of the analysis image used by most features.
ANALYSIS_SIDE = 768
#: Long side of the coarse image used by the structure feature.
COARSE_SIDE = 256
#: Side of the native-resolution crops used by the noise feature.
NOISE_CROP = 512

# Heuristic thresholds, see judge().
MAX_TRANSPARENT_FRACTION = 0.001
MIN_CHROMA_P95 = 8.0
MIN_UNIQUE_COLOURS = 1000
MAX_FLAT_FRACTION = 0.45
FLAT_L_RANGE = 0.5
MIN_NOISE_SIGMA = 0.015
MIN_STRUCTURE = 0.12
STRUCTURE_GRADIENT = 1.0

#: Letterbox bars: constant near-black edge rows/columns (grey levels 0-255).
BAR_MAX_RANGE = 4
BAR_DARK = 16
BAR_MAX_FRACTION = 0.2

#: Explicit decisions for pictures the heuristic misjudges, keyed by
#: (package, glob on the path inside the package).  Value: (keep, reason).
#: Every entry was checked by looking at the picture.
OVERRIDES: dict[tuple[str, str], tuple[bool, str]] = {
    # Renders/illustrations with added film grain or painterly texture: they
    # have the noise, colour count and fine detail of a photograph.
    ("gnome-backgrounds", "*/grid-d.webp"): (False, "render: tiled 3D grid"),
    ("gnome-backgrounds", "*/licorice-?.webp"): (False, "render: tiled pattern"),
    ("gnome-backgrounds", "*/pixels-?.webp"): (False, "render: icons on grain"),
    ("lomiri-wallpapers-20.04", "*/Infinite-Sea_by_Aury88.jpg"): (False, "digital painting of a night sea"),
    ("mate-backgrounds", "*/abstract/Elephants*.jpg"): (False, "painting"),
    ("mate-backgrounds", "*/desktop/Float-into-MATE.png"): (False, "logo artwork"),
    ("mate-backgrounds", "*/desktop/Ubuntu-Mate-*-no-logo.png"): (False, "abstract blur artwork"),
    ("plasma-workspace-wallpapers", "*/Autumn/*"): (False, "digital painting"),
    ("plasma-workspace-wallpapers", "*/Canopee/*"): (False, "vector artwork"),
    ("plasma-workspace-wallpapers", "*/Honeywave/*"): (False, "vector artwork"),
    ("plasma-workspace-wallpapers", "*/Patak/*"): (False, "3D render"),
    ("plasma-workspace-wallpapers", "*/SafeLanding/*"): (False, "illustration"),
    ("plasma-workspace-wallpapers", "*/Shell/*"): (False, "vector artwork"),
    ("plasma-workspace-wallpapers", "*/Volna/*"): (False, "vector artwork"),
    # Real photographs the heuristic rejects: macro shots whose bokeh
    # backgrounds were denoised to perfectly smooth gradients, and a
    # near-monochrome fog scene with few distinct colours.
    ("lxqt-themes", "*/appleflower.png"): (True, "macro photo, smooth bokeh"),
    ("lxqt-themes", "*/butterfly.png"): (True, "macro photo, smooth bokeh"),
    ("lxqt-themes", "*/Butterfly-Kenneth-Wimer.jpg"): (True, "macro photo, bokeh"),
    ("lxqt-themes", "*/drop.png"): (True, "macro photo, smooth bokeh"),
    ("plasma-workspace-wallpapers", "*/DarkestHour/*"): (True, "fog photo"),
}

PLASMA_BUNDLE = re.compile(r"/wallpapers/(?P<name>[^/]+)/contents/")


@dataclass
class Candidate:
    """One image file found in an unpacked package."""

    package: str
    version: str
    rel_path: str
    path: Path
    size: tuple[int, int]
    phash: int | None

    @property
    def label(self) -> str:
        """Return ``package:/path`` for log lines and the manifest."""
        return f"{self.package}:/{self.rel_path}"

    @property
    def stem(self) -> str:
        """Return a file-name stem naming the picture inside its package."""
        bundle = PLASMA_BUNDLE.search("/" + self.rel_path)
        stem = bundle["name"] if bundle else Path(self.rel_path).stem
        return re.sub(r"[^A-Za-z0-9._-]+", "_", stem)


@dataclass
class Features:
    """Image statistics used by :func:`judge`."""

    transparent_fraction: float
    chroma_p95: float
    unique_colours: int
    flat_fraction: float
    noise_sigma: float
    structure: float

    def as_dict(self) -> dict[str, float]:
        """Return the features rounded for logging and the manifest."""
        return {name: round(float(value), 4) for name, value in vars(self).items()}


@dataclass
class PackageReport:
    """Per-package bookkeeping for the manifest summary."""

    version: str
    deb_sha256: str
    kept: int = 0
    rejected: int = 0
    skipped: int = 0
    rejections: list[dict[str, str]] = field(default_factory=list)


# --------------------------------------------------------------------------
# Debian packages
# --------------------------------------------------------------------------


def run(cmd: Sequence[str], cwd: Path | None = None) -> str:
    """Run a command and return its stdout; raise with its stderr on failure."""
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        msg = f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stderr.strip()}"
        raise RuntimeError(msg)
    return proc.stdout


def deb_field(deb: Path, name: str) -> str:
    """Return one control field of a ``.deb`` file."""
    return run(["dpkg-deb", "--field", str(deb), name]).strip()


def candidate_version(package: str) -> str | None:
    """Return the version apt would download, or None if apt does not know."""
    try:
        out = run(["apt-cache", "show", "--no-all-versions", package])
    except RuntimeError:
        return None
    match = re.search(r"^Version: (\S+)$", out, re.MULTILINE)
    return match[1] if match else None


def fetch_deb(package: str, debs: Path) -> Path:
    """Return the ``.deb`` of ``package`` in ``debs``, downloading it if needed."""
    debs.mkdir(parents=True, exist_ok=True)
    wanted = candidate_version(package)
    cached = {deb_field(p, "Version"): p for p in sorted(debs.glob(f"{package}_*.deb"))}
    if wanted in cached:
        return cached[wanted]
    if wanted is None:
        if len(cached) == 1:
            return next(iter(cached.values()))
        msg = f"apt does not know {package!r}: check the name or run 'apt-get update'"
        raise RuntimeError(msg)
    run(["apt-get", "download", f"{package}={wanted}"], cwd=debs)
    for deb in sorted(debs.glob(f"{package}_*.deb")):
        if deb_field(deb, "Version") == wanted:
            return deb
    msg = f"apt-get download {package} left no .deb of version {wanted}"
    raise RuntimeError(msg)


def extract_deb(deb: Path, package: str, version: str, root: Path) -> Path:
    """Unpack ``deb`` once into ``root/<package>_<version>`` and return it."""
    dest = root / f"{package}_{version.replace(':', '%3a')}"
    if dest.is_dir():
        return dest
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{package}-", dir=root))
    try:
        run(["dpkg-deb", "-x", str(deb), str(tmp)])
        tmp.rename(dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dest


def sha256_file(path: Path) -> str:
    """Return the hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --------------------------------------------------------------------------
# Image loading and hashing
# --------------------------------------------------------------------------


def iter_image_files(root: Path) -> Iterator[Path]:
    """Yield the image files under ``root`` in sorted order."""
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames.sort()
        for name in sorted(filenames):
            if Path(name).suffix.lower() in PHOTO_SUFFIXES:
                yield Path(dirpath) / name


def to_rgb(img: Image.Image) -> tuple[Image.Image, float]:
    """Convert to RGB; also return the fraction of (partly) transparent pixels."""
    if not img.has_transparency_data:
        return img.convert("RGB"), 0.0
    rgba = img.convert("RGBA")
    alpha = np.asarray(rgba)[..., 3]
    return rgba.convert("RGB"), float((alpha < 250).mean())


def load_rgb(path: Path) -> tuple[Image.Image, float]:
    """Load an image as upright sRGB RGB; also return its transparent fraction."""
    with Image.open(path) as img:
        icc = img.info.get("icc_profile")
        rgb, transparent = to_rgb(ImageOps.exif_transpose(img))
    if icc:
        try:
            source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = ImageCms.createProfile("sRGB")
            converted = ImageCms.profileToProfile(rgb, source, srgb, outputMode="RGB")
        except ImageCms.PyCMSError:
            converted = None  # unusable embedded profile: keep the stored pixels
        if converted is not None:
            rgb = converted
    return rgb, transparent


def perceptual_hash(img: Image.Image) -> int | None:
    """Return the 64-bit DCT hash of a 32x32 grey thumbnail.

    Near-uniform pictures have no stable hash and get None (never duplicates).
    """
    grey = np.asarray(img.convert("L").resize((32, 32), Image.Resampling.LANCZOS))
    if grey.std() < FLAT_HASH_STD:
        return None
    low = fft.dctn(grey.astype(np.float64), norm="ortho")[:8, :8].ravel()
    bits = low > np.median(low[1:])
    return int("".join("1" if b else "0" for b in bits), 2)


def same_picture(a: Candidate, b: Candidate) -> bool:
    """Tell whether two candidates look like the same picture (by hash)."""
    if a.phash is None or b.phash is None:
        return False
    aspect_a, aspect_b = a.size[0] / a.size[1], b.size[0] / b.size[1]
    if abs(aspect_a / aspect_b - 1) > ASPECT_TOLERANCE:
        return False
    return (a.phash ^ b.phash).bit_count() <= PHASH_MAX_DISTANCE


def group_duplicates(cands: list[Candidate]) -> list[list[Candidate]]:
    """Group candidates showing the same picture; the largest comes first."""
    parent = list(range(len(cands)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    bundles: dict[tuple[str, str], int] = {}
    for i, cand in enumerate(cands):
        bundle = PLASMA_BUNDLE.search("/" + cand.rel_path)
        if bundle:
            first = bundles.setdefault((cand.package, bundle["name"]), i)
            parent[find(i)] = find(first)
    for i, a in enumerate(cands):
        for j in range(i + 1, len(cands)):
            if same_picture(a, cands[j]):
                parent[find(j)] = find(i)
    groups: dict[int, list[Candidate]] = {}
    for i, cand in enumerate(cands):
        groups.setdefault(find(i), []).append(cand)
    ordered = [sorted(g, key=lambda c: (-c.size[0] * c.size[1], c.package, c.rel_path)) for g in groups.values()]
    return sorted(ordered, key=lambda g: (g[0].package, g[0].rel_path))


# --------------------------------------------------------------------------
# Photograph heuristic
# --------------------------------------------------------------------------


def trim_bars(img: Image.Image) -> tuple[Image.Image, tuple[int, int, int, int] | None]:
    """Crop letterbox bars (constant near-black edge lines), if any."""
    grey = np.asarray(img.convert("L")).astype(np.int16)

    def bar_lines(lines: np.ndarray) -> np.ndarray:
        spread = lines.max(axis=1) - lines.min(axis=1)
        mean = lines.mean(axis=1)
        mask: np.ndarray = (spread <= BAR_MAX_RANGE) & (mean <= BAR_DARK)
        return mask

    def leading(mask: np.ndarray) -> int:
        count = int(np.argmin(mask)) if not mask.all() else len(mask)
        return count if count <= BAR_MAX_FRACTION * len(mask) else 0

    rows, cols = bar_lines(grey), bar_lines(grey.T)
    top, bottom = leading(rows), leading(rows[::-1])
    left, right = leading(cols), leading(cols[::-1])
    if top == bottom == left == right == 0:
        return img, None
    box = (left, top, img.width - right, img.height - bottom)
    return img.crop(box), box


def resized(img: Image.Image, long_side: int, method: Image.Resampling) -> Image.Image:
    """Return a copy no larger than ``long_side`` (never upscaled)."""
    small = img.copy()
    small.thumbnail((long_side, long_side), method)
    return small


def noise_sigma(img: Image.Image) -> float:
    """Estimate sensor noise (L units) at native resolution.

    Immerkaer's Laplacian-difference operator is applied to five crops
    (centre and quadrant centres); the median absolute response, scaled to a
    Gaussian sigma, is robust to edges.  Clean renders score ~0.
    """
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float64)
    w, h = img.size
    half = min(NOISE_CROP, w // 2, h // 2) // 2
    centres = [(w // 2, h // 2), (w // 4, h // 4), (3 * w // 4, h // 4)]
    centres += [(w // 4, 3 * h // 4), (3 * w // 4, 3 * h // 4)]
    sigmas = []
    for cx, cy in centres:
        crop = img.crop((cx - half, cy - half, cx + half, cy + half))
        lum = color.rgb2lab(np.asarray(crop))[..., 0]
        response = np.abs(ndimage.convolve(lum, kernel))
        sigmas.append(np.median(response) / (6 * 0.6745))
    return float(np.median(sigmas))


def measure(img: Image.Image, transparent: float) -> Features:
    """Compute the :class:`Features` of an RGB image."""
    small = resized(img, ANALYSIS_SIDE, Image.Resampling.LANCZOS)
    pixels = np.asarray(small)
    lab = color.rgb2lab(pixels)
    lum = lab[..., 0]
    chroma = np.hypot(lab[..., 1], lab[..., 2])
    q = (pixels >> 2).astype(np.int32)
    unique = np.unique((q[..., 0] << 12) | (q[..., 1] << 6) | q[..., 2]).size
    local_range = ndimage.maximum_filter(lum, 3) - ndimage.minimum_filter(lum, 3)

    coarse = resized(img, COARSE_SIDE, Image.Resampling.BOX)
    coarse_lum = color.rgb2lab(np.asarray(coarse))[..., 0]
    grad = np.hypot(ndimage.sobel(coarse_lum, 0), ndimage.sobel(coarse_lum, 1)) / 8

    return Features(
        transparent_fraction=transparent,
        chroma_p95=float(np.percentile(chroma, 95)),
        unique_colours=int(unique),
        flat_fraction=float((local_range < FLAT_L_RANGE).mean()),
        noise_sigma=noise_sigma(img),
        structure=float((grad > STRUCTURE_GRADIENT).mean()),
    )


def judge(feat: Features) -> list[str]:
    """Return why a picture looks like artwork; empty for a photograph.

    Rules (CIELAB units, analysis image of long side ``ANALYSIS_SIDE``):

    * transparency: photographs are opaque; alpha marks cut-outs and overlays;
    * near-grayscale: 95th percentile chroma below ``MIN_CHROMA_P95``;
    * few colours: under ``MIN_UNIQUE_COLOURS`` distinct 6-bit RGB colours
      (flat fills, posterised gradients, logos);
    * flat regions: over ``MAX_FLAT_FRACTION`` of pixels whose 3x3
      neighbourhood varies by less than ``FLAT_L_RANGE`` in L;
    * no sensor noise: native-resolution noise sigma below ``MIN_NOISE_SIGMA``
      (vector or rendered art is mathematically clean);
    * no structure: under ``MIN_STRUCTURE`` of the pixels of a
      ``COARSE_SIDE`` thumbnail have an L gradient above
      ``STRUCTURE_GRADIENT`` per pixel (smooth gradients with grain on top).
    """
    reasons = []
    if feat.transparent_fraction > MAX_TRANSPARENT_FRACTION:
        reasons.append(f"transparent ({feat.transparent_fraction:.1%})")
    if feat.chroma_p95 < MIN_CHROMA_P95:
        reasons.append(f"near-grayscale (chroma p95 {feat.chroma_p95:.1f})")
    if feat.unique_colours < MIN_UNIQUE_COLOURS:
        reasons.append(f"few colours ({feat.unique_colours})")
    if feat.flat_fraction > MAX_FLAT_FRACTION:
        reasons.append(f"flat regions ({feat.flat_fraction:.0%})")
    if feat.noise_sigma < MIN_NOISE_SIGMA:
        reasons.append(f"no sensor noise (sigma {feat.noise_sigma:.3f})")
    if feat.structure < MIN_STRUCTURE:
        reasons.append(f"no coarse structure ({feat.structure:.0%})")
    return reasons


def override_for(cand: Candidate) -> tuple[bool, str] | None:
    """Return the explicit decision for a candidate, if there is one."""
    for (package, pattern), decision in OVERRIDES.items():
        if package == cand.package and fnmatch.fnmatch(cand.rel_path, pattern):
            return decision
    return None


# --------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------


def write_atomic(dest: Path, data: bytes) -> bool:
    """Write ``data`` to ``dest`` via a temp file; return False if unchanged."""
    if dest.is_file() and dest.read_bytes() == data:
        return False
    write_atomically(dest, lambda temporary: temporary.write_bytes(data))
    return True


def encode_jpeg(img: Image.Image) -> bytes:
    """Downscale to ``MAX_SIDE`` and encode as high-quality 4:4:4 JPEG."""
    small = resized(img, MAX_SIDE, Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    small.save(buf, "JPEG", quality=JPEG_QUALITY, subsampling=0, optimize=True)
    return buf.getvalue()


def remove_stale(out: Path, manifest_path: Path, keep: set[str]) -> None:
    """Delete photos of the previous manifest that are no longer selected."""
    if not manifest_path.is_file():
        return
    previous = json.loads(manifest_path.read_text())
    for entry in previous.get("photos", []):
        name = entry.get("file", "")
        if name and name == Path(name).name and name not in keep:
            stale = out / name
            if stale.is_file():
                stale.unlink()
                print(f"removed stale {name}")


# --------------------------------------------------------------------------
# Main
# --------------------------------------------------------------------------


def collect(packages: Sequence[str], work: Path) -> tuple[list[Candidate], dict[str, PackageReport]]:
    """Download, unpack and scan the packages; return candidates and reports."""
    cands: list[Candidate] = []
    reports: dict[str, PackageReport] = {}
    for package in dict.fromkeys(packages):
        deb = fetch_deb(package, work / "debs")
        version = deb_field(deb, "Version")
        report = reports[package] = PackageReport(version, sha256_file(deb))
        root = extract_deb(deb, package, version, work / "extract")
        print(f"== {package} {version}: {deb.name}")
        for path in iter_image_files(root):
            rel = path.relative_to(root).as_posix()
            skip = None
            if rel.startswith(SKIPPED_TREES):
                skip = "documentation or icon tree"
            elif path.is_symlink():
                skip = f"symlink to {path.readlink()}"
            else:
                try:
                    with Image.open(path) as img:
                        size = img.size
                        img.draft("RGB", (256, 256))
                        phash = perceptual_hash(to_rgb(img)[0])
                except (OSError, ValueError) as err:
                    skip = f"unreadable ({err})"
            if skip:
                print(f"SKIP   {package}:/{rel}: {skip}")
                report.skipped += 1
                continue
            cands.append(Candidate(package, version, rel, path, size, phash))
    return cands, reports


def reject(report: PackageReport, cand: Candidate, reason: str) -> None:
    """Log and record one rejected file."""
    print(f"REJECT {cand.label}: {reason}")
    report.rejected += 1
    report.rejections.append({"source_path": "/" + cand.rel_path, "reason": reason})


def build(packages: Sequence[str], out: Path, work: Path) -> dict[str, Any]:
    """Build the corpus in ``out`` and return the manifest."""
    cands, reports = collect(packages, work)
    out.mkdir(parents=True, exist_ok=True)
    photos: list[dict[str, Any]] = []
    names: set[str] = set()
    for group in group_duplicates(cands):
        best, dups = group[0], group[1:]
        report = reports[best.package]
        for dup in dups:
            reject(reports[dup.package], dup, f"duplicate of {best.label}")
        w, h = best.size
        if max(w, h) < MIN_LONG_SIDE or min(w, h) < MIN_SHORT_SIDE:
            reject(report, best, f"too small ({w}x{h})")
            continue
        img, transparent = load_rgb(best.path)
        img, box = trim_bars(img)
        feat = measure(img, transparent)
        reasons = judge(feat)
        decision = "heuristic"
        override = override_for(best)
        if override is not None and override[0] != bool(reasons):
            print(f"NOTE   {best.label}: heuristic already agrees with override")
        elif override is not None:
            decision = f"override: {override[1]}"
            reasons = [] if override[0] else [f"artwork by override ({override[1]})"]
        metrics = " ".join(f"{k}={v:g}" for k, v in feat.as_dict().items())
        if reasons:
            reject(report, best, f"{'; '.join(reasons)} [{metrics}]")
            continue
        name = f"{best.package}__{best.stem}.jpg"
        if name in names:
            msg = f"two kept pictures map to {name}"
            raise RuntimeError(msg)
        names.add(name)
        data = encode_jpeg(img)
        changed = write_atomic(out / name, data)
        with Image.open(io.BytesIO(data)) as written:
            out_size = written.size
        print(f"KEEP   {best.label} -> {name} ({decision}) [{metrics}]")
        if not changed:
            print(f"       {name} unchanged")
        report.kept += 1
        photos.append(
            {
                "file": name,
                "package": best.package,
                "version": best.version,
                "source_path": "/" + best.rel_path,
                "original_size": [w, h],
                "trim_box": list(box) if box else None,
                "size": list(out_size),
                "sha256": hashlib.sha256(data).hexdigest(),
                "decision": decision,
                "features": feat.as_dict(),
            }
        )
    manifest_path = out / "manifest.json"
    remove_stale(out, manifest_path, names)
    manifest: dict[str, Any] = {
        "generator": "examples/build_corpus.py",
        "max_side": MAX_SIDE,
        "jpeg_quality": JPEG_QUALITY,
        "summary": {
            "kept": sum(r.kept for r in reports.values()),
            "rejected": sum(r.rejected for r in reports.values()),
            "skipped": sum(r.skipped for r in reports.values()),
            "packages": {
                pkg: {
                    "version": r.version,
                    "deb_sha256": r.deb_sha256,
                    "kept": r.kept,
                    "rejected": r.rejected,
                    "skipped": r.skipped,
                }
                for pkg, r in reports.items()
            },
        },
        "photos": photos,
        "rejected": {pkg: r.rejections for pkg, r in reports.items()},
    }
    text = json.dumps(manifest, indent=2) + "\n"
    write_atomic(manifest_path, text.encode())
    return manifest


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out",
        type=Path,
        default=REPO_ROOT / "data" / "corpus",
        help="corpus folder (default: %(default)s)",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=REPO_ROOT / "data" / "corpus-work",
        help="folder for downloaded and unpacked packages (default: %(default)s)",
    )
    parser.add_argument(
        "--packages",
        nargs="+",
        default=list(DEFAULT_PACKAGES),
        metavar="PKG",
        help="Debian packages to take photos from (default: %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: build the corpus and print a per-package summary."""
    args = parse_args(argv)
    start = time.monotonic()
    manifest = build(args.packages, args.out.resolve(), args.work.resolve())
    summary = manifest["summary"]
    print()
    for pkg, info in summary["packages"].items():
        counts = ", ".join(f"{k} {info[k]}" for k in ("kept", "rejected", "skipped"))
        print(f"{pkg} {info['version']}: {counts}")
    counts = ", ".join(f"{k} {summary[k]}" for k in ("kept", "rejected", "skipped"))
    print(f"total: {counts}")
    print(f"done in {time.monotonic() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
