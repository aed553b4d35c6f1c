"""colorize_video against colorizing each frame on its own (`colorize`).

Quality: flicker (mean |a*b* change| between consecutive frames along the true motion) and
PSNR against the true frames, on clips made at run time from validation photos
(video_clips.py); whether each cut resets the colors (the video frame at a cut is exactly
the per-frame one) and how often a shot is reset where there is no cut. Speed: frames per
second at 640x360 and 1280x720, the two modes alternating round by round.
"""

import time

import numpy as np
import pytest
from cases import (
    VIDEO_CLIP_SIZE,
    VIDEO_CLIPS,
    VIDEO_FRAMES_PER_SHOT,
    VIDEO_SETS,
    VIDEO_SHOTS,
    VIDEO_SPEED,
    VIDEO_SPEED_FRAMES,
)
from video_clips import PHOTOS, flicker, make_clip, validation_photos

from hypercol.core.metrics import psnr

pytestmark = pytest.mark.skipif(not PHOTOS.is_dir(), reason=f"no photo sets at {PHOTOS} (set HYPERCOL_PHOTOS)")


def _clips():
    photos = validation_photos(VIDEO_SETS, VIDEO_CLIPS * VIDEO_SHOTS)
    return [
        make_clip(photos[k * VIDEO_SHOTS : (k + 1) * VIDEO_SHOTS], VIDEO_CLIP_SIZE, VIDEO_FRAMES_PER_SHOT, seed=k)
        for k in range(VIDEO_CLIPS)
    ]


def _evaluate(colorizer, clips) -> dict:
    from hypercol.inference.video import colorize_frames

    result = {name: {"flicker": [], "psnr": [], "seconds": 0.0} for name in ("per_frame", "video", "truth")}
    cuts_reset, false_resets, frames_within = 0, 0, 0
    for clip in clips:
        start = time.perf_counter()
        per_frame = [colorizer.colorize(frame) for frame in clip.gray]
        result["per_frame"]["seconds"] += time.perf_counter() - start
        start = time.perf_counter()
        video = list(colorize_frames(colorizer, clip.gray))
        result["video"]["seconds"] += time.perf_counter() - start
        for name, frames in (("per_frame", per_frame), ("video", video), ("truth", clip.truth)):
            result[name]["flicker"].append(flicker(frames, clip))
            result[name]["psnr"].append(float(np.mean([psnr(a, b) for a, b in zip(clip.truth, frames)])))
        reset = [np.array_equal(a, b) for a, b in zip(video, per_frame)]
        cuts_reset += sum(reset[index] for index in clip.cuts)
        within = [index for index in range(1, len(video)) if index not in clip.cuts]
        false_resets += sum(reset[index] for index in within)
        frames_within += len(within)
    summary = {
        f"{name}_{key}": float(np.mean(values[key])) for name, values in result.items() for key in ("flicker", "psnr")
    }
    summary.update({f"{name}_clip_flicker": values["flicker"] for name, values in result.items()})
    frames = sum(len(clip.gray) for clip in clips)
    summary.update(
        frames=frames,
        per_frame_s=result["per_frame"]["seconds"] / frames,
        video_s=result["video"]["seconds"] / frames,
        cuts=sum(len(clip.cuts) for clip in clips),
        cuts_reset=int(cuts_reset),
        false_resets=int(false_resets),
        frames_within_shots=frames_within,
        photos=[str(path.relative_to(PHOTOS)) for path in validation_photos(VIDEO_SETS, VIDEO_CLIPS * VIDEO_SHOTS)],
    )
    return summary


def test_video_quality(benchmark, colorizer):
    clips = _clips()
    benchmark.group = "video"
    summary = benchmark.pedantic(_evaluate, args=(colorizer, clips), rounds=1, iterations=1)
    benchmark.extra_info.update(
        kind="video_quality",
        clips=len(clips),
        shots_per_clip=VIDEO_SHOTS,
        frames_per_shot=VIDEO_FRAMES_PER_SHOT,
        size=f"{VIDEO_CLIP_SIZE[1]}x{VIDEO_CLIP_SIZE[0]}",
        path=colorizer.description,
        **summary,
    )


@pytest.mark.parametrize("size", list(VIDEO_SPEED), ids=[f"{w}x{h}" for h, w in VIDEO_SPEED])
def test_video_speed(measure, colorizer, size):
    from hypercol.inference.video import colorize_frames

    photo = validation_photos(VIDEO_SETS, 1, seed=5)
    clip = make_clip(photo, size, VIDEO_SPEED_FRAMES)
    measure(
        lambda: sum(1 for _ in colorize_frames(colorizer, clip.gray)),
        images=VIDEO_SPEED_FRAMES,
        rounds=VIDEO_SPEED[size],
        group="video",
        reference=lambda: [colorizer.colorize(frame) for frame in clip.gray],
        kind="video_speed",
        name="colorize_video vs colorize of each frame",
        size=f"{size[1]}x{size[0]}",
        path=colorizer.description,
    )
