"""Images/s of the Beam pipeline on the DirectRunner with 2 workers (2 processes with a
model each, or 2 threads sharing one) against the plain command line, on the same folder of real
photos (scikit-image's), with the shipped default head.

Both sides run as fresh processes, end to end (start-up, model loading, reading, colorizing,
writing), each round into a new output folder; the command line is timed right before every
pipeline round (``measure(..., reference=...)``), so both see the same load.
"""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cases import BEAM_LONG_SIDE, BEAM_PHOTOS, BEAM_ROUNDS, BEAM_RUNNING_MODES
from PIL import Image

HYPERCOL = [sys.executable, "-m", "hypercol"]
SOURCES = ["astronaut", "camera", "coffee", "chelsea", "rocket", "moon", "coins", "clock"]
SOURCES += ["hubble_deep_field", "immunohistochemistry", "retina", "cell"]


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory) -> Path:
    """BEAM_PHOTOS gray photos (each source twice, once mirrored), long side BEAM_LONG_SIDE."""
    from PIL import ImageOps
    from skimage import data

    folder = tmp_path_factory.mktemp("beam_photos")
    for index in range(BEAM_PHOTOS):
        image = Image.fromarray(getattr(data, SOURCES[index % len(SOURCES)])()).convert("L")
        scale = BEAM_LONG_SIDE / max(image.size)
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.BILINEAR)
        (ImageOps.mirror(image) if index >= len(SOURCES) else image).save(folder / f"photo_{index:02d}.png")
    return folder


def _run(*argv: str) -> None:
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    done = subprocess.run([*HYPERCOL, *argv], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.parametrize("mode", BEAM_RUNNING_MODES)
def test_beam_vs_command_line(measure, photo_folder, tmp_path, mode):
    options = ("--direct_num_workers=2", f"--direct_running_mode={mode}")
    outputs = iter(range(1000))
    _run("colorize", str(photo_folder / "photo_00.png"), "-o", str(tmp_path / "warm.png"))  # hub export, caches

    def command_line():
        _run("colorize", str(photo_folder), "-o", str(tmp_path / f"cli_{next(outputs)}"), "-q")

    def beam():
        _run("colorize-beam", str(photo_folder), "-o", str(tmp_path / f"beam_{next(outputs)}"), *options)

    measure(
        beam,
        images=BEAM_PHOTOS,
        rounds=BEAM_ROUNDS,
        warmup_rounds=0,
        group="beam vs command line",
        reference=command_line,
        kind="beam_vs_command_line",
        name=f"hypercol colorize-beam (DirectRunner, 2 workers, {mode}) vs hypercol colorize",
        size=BEAM_LONG_SIDE,
        batch=1,
        options=" ".join(options),
    )
    first_beam = min(tmp_path.glob("beam_*"))
    first_cli = min(tmp_path.glob("cli_*"))
    for path in sorted(first_cli.glob("*.png")):  # same pictures, whichever way they were made
        with Image.open(path) as ours, Image.open(first_beam / path.name) as theirs:
            assert np.array_equal(np.asarray(ours), np.asarray(theirs)), path.name
