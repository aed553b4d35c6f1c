"""``hypercol colorize-video``: one video file colorized into another (:mod:`hypercol.inference.video`,
with the files of :mod:`hypercol.io.video_files`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from hypercol.command import (
    EXIT_FAILED,
    EXIT_OK,
    Interrupts,
    UsageError,
    add_head_and_knobs,
    load_colorizer,
    read_guidance,
)
from hypercol.io.files import remove_stale_temporaries
from hypercol.io.video_files import VIDEO_EXTENSIONS, VideoWriter, encoding_for, open_video

__all__ = ["add_parser", "run"]


def add_parser(subparsers) -> None:
    """``hypercol colorize-video IN -o OUT``."""
    parser = subparsers.add_parser(
        "colorize-video",
        help="colorize a video file without flicker (MP4, MOV, MKV, AVI, WebM, GIF)",
        description=(
            "Colorize a black-and-white video: colors are carried along the motion from frame to frame and "
            "reset at cuts. IN is any video ffmpeg reads; OUT's extension picks the container "
            f"({', '.join(VIDEO_EXTENSIONS)}). The frame rate, the size and the audio track (not in a GIF) are kept. "
            "OUT appears only when it is complete."
        ),
    )
    parser.add_argument("input", type=Path, metavar="IN", help="video file")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="OUT", help="output video file")
    parser.add_argument(
        "--weights", default=None, help="head weights (.weights.h5 with its .json card); default: the shipped head"
    )
    add_head_and_knobs(parser)
    parser.add_argument(
        "--hints", type=Path, metavar="PNG", help="color hints for the first frame (a transparent image of its size)"
    )
    parser.add_argument("--reference", type=Path, metavar="PHOTO", help="a color photo to take colors from")
    parser.add_argument("--overwrite", action="store_true", help="replace OUT if it exists (never IN)")


def _check_paths(args) -> None:
    if not os.path.lexists(args.input):
        raise UsageError(f"{str(args.input)!r} does not exist")
    try:
        encoding_for(args.output)
    except ValueError as error:
        raise UsageError(str(error)) from error
    if args.output.exists() and args.input.exists() and args.output.samefile(args.input):
        raise UsageError(f"refusing to overwrite the input {str(args.input)!r}: choose another OUT")
    if args.output.exists() and not args.overwrite:
        raise UsageError(f"{str(args.output)!r} exists (use --overwrite to replace it)")
    if args.output.is_dir():
        raise UsageError(f"OUT {str(args.output)!r} is a folder: give a file name such as out.mp4")


def run(args) -> int:
    """Runs ``hypercol colorize-video``: exit 0, 1 (the video could not be read or written), 2 (usage)."""
    from tqdm import tqdm

    from hypercol.inference.video import colorize_frames

    _check_paths(args)
    try:
        video = open_video(args.input)
    except ValueError as error:
        print(f"hypercol colorize-video: failed: {error}", file=sys.stderr)
        return EXIT_FAILED
    writer = None
    try:
        colorizer = load_colorizer(args)
        guidance = read_guidance(args, colorizer, 1)
        Interrupts.check()
        args.output.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries([args.output.parent])
        writer = VideoWriter(args.output, video.fps, video.size, args.input if video.has_audio else None)
        frames = colorize_frames(
            colorizer, video.frames(), temperature=args.temperature, saturation=args.saturation, **guidance
        )
        count = 0
        with tqdm(
            total=video.frames_estimate, unit="frame", desc="colorize-video", disable=None, file=sys.stderr
        ) as bar:
            for frame in frames:
                Interrupts.check()
                writer.append(frame)
                count += 1
                bar.update()
        if count == 0:
            raise ValueError(f"{str(args.input)!r} has no frames")
        Interrupts.check()
        if not writer.publish(overwrite=args.overwrite):
            raise UsageError(f"{str(args.output)!r} appeared while colorizing (use --overwrite to replace it)")
    except (ValueError, OSError, RuntimeError) as error:
        print(f"hypercol colorize-video: failed: {args.input}: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        video.close()
        if writer is not None:
            writer.discard()
    print(f"hypercol: {count} frames colorized at {video.fps:g} fps -> {args.output}")
    return EXIT_OK
