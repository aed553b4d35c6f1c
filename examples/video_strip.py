"""README strip for issue 25: twelve frames of one clip, each frame colorized on its own against video mode.

    python examples/video_strip.py --out docs/video_strip.jpg

The clip is a camera move over a validation photo (benchmarks/video_clips.py); rows: the
gray input, `colorize` of each frame, `colorize_video`, the true colors, and the |a*b* change|
since the previous frame along the true motion of each mode (white 0, black 6 or more; blue:
not in the previous frame).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from video_clips import changes, flicker, make_clip, validation_photos

from hypercol.inference.colorizer import get_colorizer
from hypercol.inference.video import colorize_frames

LABEL_WIDTH = 150
HEAT_SCALE = 6.0  # |a*b* change| shown black


def _heat(maps: list) -> list[np.ndarray]:
    """|a*b* change| maps -> uint8 RGB: white = 0, black = HEAT_SCALE or more, blue outside the previous frame."""
    images = []
    for change in maps:
        if change is None:
            change = np.zeros((180, 320), np.float32)
        gray = np.rint(255 * (1 - np.clip(np.nan_to_num(change), 0, HEAT_SCALE) / HEAT_SCALE)).astype(np.uint8)
        rgb = np.dstack([gray] * 3)
        rgb[np.isnan(change)] = (160, 190, 255)
        images.append(rgb)
    return images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/video_strip.jpg"))
    parser.add_argument("--sets", nargs="+", default=["scenes-corel", "scenes-urban", "scenes-osie"])
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--frames", type=int, default=24, help="frames of the clip; every other one is shown")
    args = parser.parse_args()

    colorizer = get_colorizer()
    clip = make_clip(validation_photos(tuple(args.sets), 1, seed=args.seed), (180, 320), args.frames, seed=args.seed)
    per_frame = [colorizer.colorize(frame) for frame in clip.gray]
    video = list(colorize_frames(colorizer, clip.gray))
    print(f"flicker: per frame {flicker(per_frame, clip):.2f}, video {flicker(video, clip):.2f}")
    rows = [
        ("gray input", [np.dstack([frame] * 3) for frame in clip.gray]),
        ("each frame", per_frame),
        ("video mode", video),
        ("true colors", clip.truth),
        ("change, each frame", _heat(changes(per_frame, clip))),
        ("change, video mode", _heat(changes(video, clip))),
    ]
    shown = range(0, args.frames, max(1, args.frames // 12))[:12]
    height, width = 90, 160
    strip = Image.new("RGB", (LABEL_WIDTH + len(shown) * width, len(rows) * height), "white")
    draw = ImageDraw.Draw(strip)
    for row, (label, frames) in enumerate(rows):
        draw.text((8, row * height + height // 2 - 6), label, fill="black")
        for column, index in enumerate(shown):
            thumbnail = Image.fromarray(frames[index]).resize((width, height), Image.LANCZOS)
            strip.paste(thumbnail, (LABEL_WIDTH + column * width, row * height))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    strip.save(args.out, quality=90)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
