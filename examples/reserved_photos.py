"""Writes the reserved evaluation photos as 256x256 centre crops (PNG) into a folder.

These photos ship with scikit-image, scikit-learn, matplotlib and imgaug. They are
never used for training; `hypercol evaluate FOLDER` measures the model on them.

    python examples/reserved_photos.py data/reserved
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

SIZE = 256


def _skimage(name: str) -> np.ndarray:
    from skimage import data

    return getattr(data, name)()


def _sklearn(name: str) -> np.ndarray:
    from sklearn.datasets import load_sample_image

    return load_sample_image(name)


def _matplotlib(name: str) -> np.ndarray:
    import matplotlib.cbook

    with matplotlib.cbook.get_sample_data(name) as handle:
        return np.asarray(Image.open(handle).convert("RGB"))


def _imgaug_quokka() -> np.ndarray:
    import importlib.util

    # imgaug's package imports break on NumPy 2; its quokka file does not need them.
    spec = importlib.util.find_spec("imgaug")
    folder = Path(spec.submodule_search_locations[0])
    return np.asarray(Image.open(folder / "quokka.jpg").convert("RGB"))


RESERVED = {
    "astronaut": lambda: _skimage("astronaut"),
    "chelsea": lambda: _skimage("chelsea"),
    "coffee": lambda: _skimage("coffee"),
    "rocket": lambda: _skimage("rocket"),
    "motorcycle_left": lambda: _skimage("stereo_motorcycle")[0],
    "china": lambda: _sklearn("china.jpg"),
    "flower": lambda: _sklearn("flower.jpg"),
    "grace_hopper": lambda: _matplotlib("grace_hopper.jpg"),
    "quokka": _imgaug_quokka,
}


def centre_crop(rgb: np.ndarray, size: int = SIZE) -> np.ndarray:
    """The centred square of the short side, resized to ``size`` x ``size``."""
    image = Image.fromarray(rgb)
    side = min(image.size)
    left, top = (image.width - side) // 2, (image.height - side) // 2
    return np.asarray(image.resize((size, size), Image.LANCZOS, box=(left, top, left + side, top + side)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for name, load in RESERVED.items():
        path = args.out / f"{name}.png"
        Image.fromarray(centre_crop(load())).save(path)
        print(path)


if __name__ == "__main__":
    main()
