"""The README demo: colorize a real black-and-white photograph with the shipped head.

The photo is scikit-image's "camera" (a 512x512 gray photograph of a cameraman),
written to out/cameraman.png and colorized by the `hypercol` command like any file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from PIL import Image
from skimage import data

OUT = Path(__file__).resolve().parents[1] / "out"


def main() -> int:
    OUT.mkdir(exist_ok=True)
    gray = OUT / "cameraman.png"
    Image.fromarray(data.camera()).save(gray)
    command = [sys.executable, "-m", "hypercol", "colorize", str(gray), "-o", str(OUT), "--overwrite"]
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
