"""colorize_video and ``hypercol colorize-video`` on the tiny backbone + random head, with tiny clips."""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import imageio_ffmpeg
import numpy as np
import pytest
from skimage import color as skcolor

import hypercol
from hypercol import colorize_video
from hypercol.cli import main
from hypercol.inference.video import TemporalSettings, colorize_frames
from hypercol.io.video_files import Video, first_size_change, open_video

PER_FRAME = TemporalSettings(carry=0.0)
ROOT = Path(hypercol.__file__).resolve().parents[1]
HEIGHT, WIDTH = 48, 64


def texture(seed: int, shape=(120, 200)) -> np.ndarray:
    """A smooth uint8 gray texture: blurred noise at three scales."""
    rng = np.random.default_rng(seed)
    total = np.zeros(shape, np.float32)
    for sigma in (2.0, 6.0, 16.0):
        total += cv2.GaussianBlur(rng.normal(0, 1, shape).astype(np.float32), (0, 0), sigma) * sigma
    total = (total - total.min()) / np.ptp(total)
    return np.rint(30 + 200 * total).astype(np.uint8)


def pan(image: np.ndarray, frames: int, step: int = 3, top: int = 20) -> list[np.ndarray]:
    """A camera moving right by ``step`` pixels a frame over ``image``: (HEIGHT, WIDTH) windows."""
    return [np.ascontiguousarray(image[top : top + HEIGHT, k * step : k * step + WIDTH]) for k in range(frames)]


def chroma(rgb: np.ndarray) -> np.ndarray:
    return skcolor.rgb2lab(rgb)[..., 1:]


def flicker(frames: list[np.ndarray], step: int = 3, margin: int = 8) -> float:
    """Mean |ab change| between consecutive frames of a pan, along the true motion, ``margin`` pixels from the
    frame's border (where the tiny random head's chroma swings as the content moves)."""
    inner = slice(margin, -margin)
    changes = [
        np.hypot(
            *(chroma(now)[inner, inner] - chroma(before)[inner, margin + step : -margin + step]).transpose(2, 0, 1)
        )
        for before, now in itertools.pairwise(frames)
    ]
    return float(np.mean(changes))


# --- the API ------------------------------------------------------------------------------------


def test_per_frame_settings_give_colorize_of_each_frame_in_order(tiny_colorizer) -> None:
    frames = pan(texture(0), 6) + pan(texture(1), 3)
    outputs = list(colorize_frames(tiny_colorizer, iter(frames), settings=PER_FRAME))
    assert len(outputs) == len(frames)
    for frame, output in zip(frames, outputs):
        np.testing.assert_array_equal(output, tiny_colorizer.colorize(frame))


@pytest.mark.parametrize("shape", [(12, 64), (9, 100), (5, 64), (64, 3)])  # working size 64: kept as they are
def test_frames_too_thin_to_follow_are_colored_one_by_one(tiny_colorizer, shape) -> None:
    """OpenCV's flow refuses frames under 8 pixels a side and crashed the process on 12 x 64 and 9 x 100."""
    frames = [np.ascontiguousarray(texture(6, (80, 200))[k : k + shape[0], k : k + shape[1]]) for k in range(3)]
    for frame, output in zip(frames, colorize_frames(tiny_colorizer, frames)):
        np.testing.assert_array_equal(output, tiny_colorizer.colorize(frame))


@pytest.mark.parametrize(
    ("convert", "dtype"),
    [
        (lambda gray: gray, np.uint8),
        (lambda gray: gray[..., np.newaxis], np.uint8),
        (lambda gray: np.dstack([gray] * 3), np.uint8),
        (lambda gray: gray.astype(np.uint16) * 257, np.uint8),
        (lambda gray: gray.astype(np.float32) / 255, np.float32),
    ],
)
def test_frame_forms_keep_size_and_lightness(tiny_weights, convert, dtype) -> None:
    frames = [convert(frame) for frame in pan(texture(2), 4)]
    outputs = list(colorize_video(frames, weights=tiny_weights))
    assert len(outputs) == 4
    for frame, output in zip(frames, outputs):
        assert output.shape == (HEIGHT, WIDTH, 3) and output.dtype == dtype
        gray = frame.reshape(HEIGHT, WIDTH, -1)[..., 0]
        gray = gray / 65535.0 if gray.dtype == np.uint16 else gray
        truth = skcolor.rgb2lab(np.dstack([gray] * 3))[..., 0]
        assert np.abs(skcolor.rgb2lab(output)[..., 0] - truth).max() <= 1.0


def test_first_frame_is_colorize_and_later_frames_flicker_less(tiny_colorizer) -> None:
    frames = pan(texture(3), 12)
    video = list(colorize_frames(tiny_colorizer, frames))
    per_frame = list(colorize_frames(tiny_colorizer, frames, settings=PER_FRAME))
    np.testing.assert_array_equal(video[0], per_frame[0])
    assert not any(np.array_equal(a, b) for a, b in zip(video[1:], per_frame[1:]))  # blended, never reset
    assert flicker(video) < 0.5 * flicker(per_frame)


def test_a_cut_resets_the_colors(tiny_colorizer) -> None:
    first, second = pan(texture(4), 6), pan(texture(5), 6)
    video = list(colorize_frames(tiny_colorizer, first + second))
    per_frame = list(colorize_frames(tiny_colorizer, first + second, settings=PER_FRAME))
    cut = len(first)
    np.testing.assert_array_equal(video[cut], per_frame[cut])  # nothing of the first shot in it
    assert not any(np.array_equal(video[k], per_frame[k]) for k in (*range(1, cut), *range(cut + 1, len(video))))


def test_frames_are_read_only_as_they_are_asked_for(tiny_colorizer) -> None:
    read = []

    def frames():
        for index, frame in enumerate(pan(texture(6), 30, step=1)):
            read.append(index)
            yield frame

    outputs = colorize_frames(tiny_colorizer, frames())
    assert read == []  # nothing read before the first frame is asked for
    for index, _ in enumerate(outputs):
        assert len(read) == index + 1  # one frame in, one frame out: no look-ahead, nothing held
    assert len(read) == 30


def test_hints_of_a_key_frame_follow_the_motion_until_the_cut(tiny_colorizer) -> None:
    frames = pan(texture(7), 8) + pan(texture(8), 2)
    hints = np.zeros((HEIGHT, WIDTH, 4), np.uint8)
    hints[20:28, 40:48] = (255, 0, 0, 255)  # red on the first frame
    hinted = list(colorize_frames(tiny_colorizer, frames, hints=hints))
    plain = list(colorize_frames(tiny_colorizer, frames))
    np.testing.assert_allclose(hinted[0], tiny_colorizer.colorize(frames[0], hints=hints), atol=1)
    for index in (3, 7):  # the hinted place moved left by 3 pixels a frame
        left = 40 - 3 * index
        redness = lambda rgb, left=left: chroma(rgb[20:28, left : left + 8])[..., 0].mean()
        assert redness(hinted[index]) > redness(plain[index]) + 10
    np.testing.assert_array_equal(hinted[8], plain[8])  # after the cut: no hint left


def test_reference_steers_every_frame(tiny_colorizer) -> None:
    frames = pan(texture(9), 3)
    reference = np.zeros((40, 40, 3), np.uint8)
    reference[...] = (40, 160, 60)
    outputs = list(colorize_frames(tiny_colorizer, frames, reference=reference, settings=PER_FRAME))
    for frame, output in zip(frames, outputs):
        np.testing.assert_allclose(output, tiny_colorizer.colorize(frame, reference=reference), atol=1)


def test_frames_of_another_size_are_refused_when_reached(tiny_colorizer) -> None:
    frames = [*pan(texture(10), 3), np.zeros((HEIGHT, WIDTH + 2), np.uint8)]
    outputs = colorize_frames(tiny_colorizer, frames)
    assert len([next(outputs) for _ in range(3)]) == 3
    with pytest.raises(ValueError, match=r"frame 3 is 66x48, but the first frame is 64x48"):
        next(outputs)


@pytest.mark.parametrize(
    ("frame", "error", "match"),
    [
        (np.zeros((HEIGHT, WIDTH, 4), np.uint8), ValueError, r"frame 0 has shape .*allowed: \(H, W\)"),
        (np.zeros((2, HEIGHT, WIDTH, 1), np.uint8), ValueError, r"frame 0 has shape"),
        (np.zeros((HEIGHT, WIDTH), np.int32), TypeError, r"frame 0 has dtype int32"),
    ],
)
def test_bad_frames(tiny_colorizer, frame, error, match) -> None:
    with pytest.raises(error, match=match):
        next(colorize_frames(tiny_colorizer, [frame]))


def test_knobs_and_hints_are_checked_at_the_call(tiny_weights) -> None:
    with pytest.raises(ValueError, match="saturation"):
        colorize_video([], weights=tiny_weights, saturation=-1.0)
    with pytest.raises(ValueError, match="frame indices"):
        colorize_video([], weights=tiny_weights, hints={-1: np.zeros((HEIGHT, WIDTH, 4), np.uint8)})
    with pytest.raises(TypeError):
        colorize_video(3, weights=tiny_weights)
    assert list(colorize_video([], weights=tiny_weights)) == []


def test_a_later_key_frame_s_bad_hints_fail_at_the_first_frame(tiny_colorizer) -> None:
    """Checked before any work rather than after 120 frames colored for nothing."""
    frames = pan(texture(3), 4)
    wrong_size = np.zeros((HEIGHT, WIDTH + 1, 4), np.uint8)
    with pytest.raises(ValueError, match=r"hints of frame 120: hints must match the image"):
        next(
            colorize_frames(tiny_colorizer, frames, hints={0: np.zeros((HEIGHT, WIDTH, 4), np.uint8), 120: wrong_size})
        )
    with pytest.raises(ValueError, match=r"hints of frame 2: hints must be RGBA"):
        next(colorize_frames(tiny_colorizer, frames, hints={2: np.zeros((HEIGHT, WIDTH, 3), np.uint8)}))


def test_hints_for_frames_past_the_end_are_reported(tiny_colorizer) -> None:
    frames = pan(texture(3), 3)
    hints = np.zeros((HEIGHT, WIDTH, 4), np.uint8)
    hints[20:28, 40:48] = (255, 0, 0, 255)
    with pytest.warns(UserWarning, match=r"hints for frames \[5, 99\] not used: the video has 3 frame\(s\)"):
        colored = list(colorize_frames(tiny_colorizer, frames, hints={1: hints, 5: hints, 99: hints}))
    assert len(colored) == 3
    with pytest.warns(UserWarning, match=r"hints for frames \[0\] not used: the video has 0 frame"):
        assert list(colorize_frames(tiny_colorizer, [], hints=hints)) == []


# --- the command --------------------------------------------------------------------------------


def make_video(path: Path, *, size: str = "64x48", rate: int = 10, seconds: float = 1.0, audio: bool = True) -> Path:
    """A gray test video made by ffmpeg (imageio-ffmpeg's): a moving test pattern, with a tone if ``audio``."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", f"testsrc=size={size}:rate={rate}"]
    if audio:
        command += ["-f", "lavfi", "-i", "sine=frequency=440"]
    command += ["-t", str(seconds), "-vf", "hue=s=0", str(path)]
    subprocess.run(command, check=True, timeout=60)
    return path


def probe(path: Path) -> tuple[Video, list[np.ndarray]]:
    """The video at ``path`` (closed) and its frames."""
    video = open_video(path)
    try:
        return video, list(video.frames())
    finally:
        video.close()


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(map(str, argv)))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize(
    ("suffix", "size", "audio"),
    [(".mp4", "64x48", True), (".mov", "63x47", True), (".avi", "64x48", True), (".webm", "64x48", True),
     (".mkv", "64x48", False), (".gif", "64x48", False)],
)  # fmt: skip
def test_command_keeps_frame_rate_size_and_audio(tmp_path, tiny_weights, capsys, suffix, size, audio) -> None:
    source = make_video(tmp_path / f"in{'.mp4' if suffix == '.gif' else suffix}", size=size, rate=8, audio=audio)
    count = len(probe(source)[1])
    out = tmp_path / "out" / f"colored{suffix}"
    code, stdout, _ = _run(capsys, "colorize-video", source, "-o", out, "--weights", tiny_weights)
    assert code == 0 and f"{count} frames colorized at 8 fps -> {out}" in stdout
    video, frames = probe(out)
    width, height = map(int, size.split("x"))
    exact = 0.05 if suffix == ".gif" else 0.01  # a GIF stores delays in 1/100 s: 1/8 s becomes 0.12 s
    assert video.fps == pytest.approx(8, rel=exact) and video.size == (width, height)
    assert len(frames) == count
    assert video.has_audio == audio
    assert np.abs(frames[4][..., 0].astype(int) - frames[4][..., 2]).mean() > 5  # colored, not gray
    assert sorted(path.name for path in out.parent.iterdir()) == [out.name]  # no temporary left


def test_gif_input(tmp_path, tiny_weights, capsys) -> None:
    source = make_video(tmp_path / "in.gif", rate=5, audio=False)
    code, stdout, _ = _run(capsys, "colorize-video", source, "-o", tmp_path / "out.mp4", "--weights", tiny_weights)
    assert code == 0 and "5 frames colorized at 5 fps" in stdout


def test_unreadable_input_fails_clearly(tmp_path, tiny_weights, capsys) -> None:
    source = tmp_path / "notes.mp4"
    source.write_text("not a video")
    code, _, stderr = _run(capsys, "colorize-video", source, "-o", tmp_path / "out.mp4", "--weights", tiny_weights)
    assert code == 1 and "could not be read as a video" in stderr and str(source) in stderr
    assert "(ffmpeg: " in stderr and "configuration:" not in stderr  # ffmpeg's reason, not its banner
    assert len(stderr.strip().splitlines()) == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.mp4"]


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        (["-o", "{tmp}/out.png"], "must end in one of .mp4"),
        (["-o", "{tmp}/in.mp4"], "refusing to overwrite the input"),
        (["-o", "{tmp}/old.mp4"], "exists (use --overwrite"),
        (["{tmp}/missing.mp4", "-o", "{tmp}/out.mp4"], "missing.mp4' does not exist"),
    ],
)
def test_usage_errors(tmp_path, tiny_weights, capsys, argv, match) -> None:
    source = make_video(tmp_path / "in.mp4", seconds=0.3)
    (tmp_path / "old.mp4").write_bytes(b"old")
    argv = [arg.format(tmp=tmp_path) for arg in argv]
    argv = argv if len(argv) == 3 else [source, *argv]
    code, _, stderr = _run(capsys, "colorize-video", *argv, "--weights", tiny_weights)
    assert code == 2 and match in stderr
    assert (tmp_path / "old.mp4").read_bytes() == b"old"


def test_overwrite_replaces_the_output(tmp_path, tiny_weights, capsys) -> None:
    source = make_video(tmp_path / "in.mp4", seconds=0.3, audio=False)
    (tmp_path / "old.mp4").write_bytes(b"old")
    code, _, _ = _run(
        capsys, "colorize-video", source, "-o", tmp_path / "old.mp4", "--overwrite", "--weights", tiny_weights
    )
    assert code == 0 and len(probe(tmp_path / "old.mp4")[1]) == 3


def test_interrupted_run_leaves_no_file(tmp_path, tiny_weights, capsys, monkeypatch) -> None:
    from hypercol.io import video_files as _video_files

    source = make_video(tmp_path / "in.mp4", seconds=2.0)
    written = []

    def append(self, frame) -> None:
        if len(written) == 5:
            signal.raise_signal(signal.SIGINT)  # Ctrl+C while frame 6 is written
        written.append(frame)
        self.writer.append_data(frame)

    monkeypatch.setattr(_video_files.VideoWriter, "append", append)
    code, _, stderr = _run(
        capsys, "colorize-video", source, "-o", tmp_path / "out" / "out.mp4", "--weights", tiny_weights
    )
    assert code == 130 and "interrupted" in stderr
    assert list((tmp_path / "out").iterdir()) == []  # neither the output nor a temporary


def test_a_file_whose_frames_change_size_is_refused_before_any_work(tmp_path, tiny_weights, capsys) -> None:
    """ffmpeg would scale the later frames to the first one's size without a word: the command says so instead."""
    parts = []
    for name, size in (("a.ts", "64x48"), ("b.ts", "80x40")):
        command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i", f"testsrc=size={size}:rate=10"]
        subprocess.run([*command, "-t", "1", "-c:v", "mpeg2video", str(tmp_path / name)], check=True, timeout=60)
        parts.append((tmp_path / name).read_bytes())
    source = tmp_path / "changes.ts"
    source.write_bytes(b"".join(parts))  # MPEG-TS streams concatenate: the size changes after the first second
    code, _, stderr = _run(capsys, "colorize-video", source, "-o", tmp_path / "out.mp4", "--weights", tiny_weights)
    assert code == 1 and re.search(r"frame \d+ is 80x40, but the first frame is 64x48", stderr)
    assert not (tmp_path / "out.mp4").exists()
    assert first_size_change(make_video(tmp_path / "steady.mp4", audio=False)) is None


def test_variable_size_frames_fail_clearly(tmp_path, tiny_weights, capsys, monkeypatch) -> None:
    from hypercol.io import video_files as _video_files

    source = make_video(tmp_path / "in.mp4", seconds=0.5, audio=False)
    frames = [np.zeros((48, 64, 3), np.uint8)] * 2 + [np.zeros((40, 64, 3), np.uint8)]
    monkeypatch.setattr(_video_files.Video, "frames", lambda self: iter(frames))
    code, _, stderr = _run(capsys, "colorize-video", source, "-o", tmp_path / "out.mp4", "--weights", tiny_weights)
    assert code == 1 and "frame 2 is 64x40, but the first frame is 64x48" in stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.mp4"]


def test_ctrl_c_in_a_real_process_leaves_no_file(tmp_path, weights_by_handle) -> None:
    source = make_video(tmp_path / "in.mp4", size="160x120", rate=25, seconds=60)
    out = tmp_path / "out"
    out.mkdir()
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    command = [sys.executable, "-m", "hypercol", "colorize-video", source, "-o", out / "colored.mp4"]
    process = subprocess.Popen(
        [*map(str, command), "--weights", str(weights_by_handle)], env=environment, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 120
        while not list(out.iterdir()) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # until the temporary output exists: frames are being written
        time.sleep(0.5)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        process.kill()
    assert process.returncode == 130 and "interrupted" in stderr
    assert list(out.iterdir()) == []
