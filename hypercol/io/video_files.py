"""Video files in and out (for ``hypercol colorize-video``, :mod:`hypercol.cli_video`) through imageio's ffmpeg plugin.

imageio-ffmpeg brings its own ffmpeg binary. The output is encoded into a temporary beside
it (named as :mod:`hypercol.io.files` names them, so a killed run's temporary is removed by
the next run) and renamed into place only when every frame is written: an interrupted run
leaves no partial file. The frame rate, the size and (except for GIF) the audio track of
the input are kept.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from hypercol.io.files import current_umask, make_temporary, not_regular

__all__ = ["VIDEO_EXTENSIONS", "Encoding", "encoding_for", "open_video", "VideoWriter", "first_size_change"]

# Each decoded frame once: ffmpeg would otherwise repeat frames to fill a longer audio track.
PASSTHROUGH = ["-fps_mode", "passthrough"]
# A line of ffmpeg's showinfo filter, one per decoded frame: "... n:  12 pts: ... s:640x360 ...".
_SHOWN_FRAME = re.compile(r"\bn:\s*\d+\s.*?\bs:(\d+)x(\d+)")
_X264 = ("-crf", "18", "-preset", "veryfast")


@dataclass(frozen=True)
class Encoding:
    """How one container is written: ffmpeg muxer, video codec, audio codec (None: no audio), codec options."""

    muxer: str
    codec: str
    audio_codec: str | None
    options: tuple[str, ...]


_ENCODINGS = {
    ".mp4": Encoding("mp4", "libx264", "aac", (*_X264, "-movflags", "+faststart")),
    ".m4v": Encoding("mp4", "libx264", "aac", (*_X264, "-movflags", "+faststart")),
    ".mov": Encoding("mov", "libx264", "aac", _X264),
    ".mkv": Encoding("matroska", "libx264", "aac", _X264),
    ".avi": Encoding("avi", "libx264", "libmp3lame", _X264),
    ".webm": Encoding(
        "webm", "libvpx-vp9", "libopus", ("-crf", "32", "-b:v", "0", "-deadline", "realtime", "-cpu-used", "8")
    ),
    # One palette for the whole clip, from all its frames (ffmpeg holds them until the end).
    ".gif": Encoding("gif", "gif", None, ("-filter_complex", "split[a][b];[a]palettegen[p];[b][p]paletteuse")),
}
VIDEO_EXTENSIONS = tuple(_ENCODINGS)


def encoding_for(path: Path) -> Encoding:
    """The encoding the output file name's extension asks for; ValueError for another extension."""
    encoding = _ENCODINGS.get(path.suffix.lower())
    if encoding is None:
        msg = f"output {str(path)!r} must end in one of {', '.join(VIDEO_EXTENSIONS)}"
        raise ValueError(msg)
    return encoding


@dataclass
class Video:
    """An open input video: its frames ((H, W, 3) uint8, lazily), frame rate, size (W, H), audio, frame estimate."""

    reader: object
    fps: float
    size: tuple[int, int]
    has_audio: bool
    frames_estimate: int | None

    def frames(self):
        return iter(self.reader)

    def close(self) -> None:
        self.reader.close()


def _ffmpeg(path: Path, mode: str):
    """imageio's ffmpeg plugin on ``path`` whatever its name: ffmpeg probes what it reads, and is told the
    container it writes (``-f``), so the plugin's check of the name's extension is passed with ".mp4"."""
    import imageio.v3 as imageio

    return imageio.imopen(path, mode, plugin="FFMPEG", extension=".mp4", legacy_mode=True)


def first_size_change(path: Path) -> tuple[int, tuple[int, int], tuple[int, int]] | None:
    """(index, (W, H), first frame's (W, H)) of the first frame of another size than the first; None if all agree.

    ffmpeg scales such frames to the first one's size without a word; one decoding pass of its
    showinfo filter (no colorization: hundreds of frames a second) reads each frame's size.
    """
    import imageio_ffmpeg

    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", "-i", str(path)]
    command += ["-map", "0:v:0", "-vf", "showinfo", "-f", "null", "-"]
    first, index = None, 0
    with subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, errors="replace"
    ) as ffmpeg:
        try:
            for line in ffmpeg.stderr:
                shown = _SHOWN_FRAME.search(line)
                if shown is None:
                    continue
                size = (int(shown.group(1)), int(shown.group(2)))
                first = first or size
                if size != first:
                    return index, size, first
                index += 1
        finally:
            ffmpeg.kill()
    return None


def _reason(error: Exception) -> str:
    """An ffmpeg error in a few words: imageio's first line and ffmpeg's last one, without ffmpeg's banner
    and build configuration (some 40 lines of its stderr)."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if "=== stderr ===" not in lines:
        return " ".join(lines)
    ffmpeg = lines[lines.index("=== stderr ===") + 1 :]
    return f"{lines[0]} (ffmpeg: {ffmpeg[-1]})" if ffmpeg else lines[0]


def open_video(path: Path) -> Video:
    """Opens a video file (anything ffmpeg reads); ValueError, saying why, for one that cannot be read or whose
    frames change size."""
    what = not_regular(path)
    if what is not None:
        msg = f"{str(path)!r} is {what}, not a regular file"
        raise ValueError(msg)
    try:
        reader = _ffmpeg(path, "rI").legacy_get_reader(pixelformat="rgb24", output_params=PASSTHROUGH)
        meta = reader.get_meta_data()
    except Exception as error:  # imageio and imageio-ffmpeg raise OSError, RuntimeError, IndexError ...
        msg = f"{str(path)!r} could not be read as a video: {_reason(error)}"
        raise ValueError(msg) from error
    fps, duration = float(meta.get("fps") or 0.0), float(meta.get("duration") or 0.0)
    if not fps > 0:
        reader.close()
        msg = f"{str(path)!r} has no frame rate: it is not a video ffmpeg can read"
        raise ValueError(msg)
    estimate = round(fps * duration) if duration > 0 else None
    change = first_size_change(path)
    if change is not None:
        reader.close()
        index, (width, height), (first_width, first_height) = change
        msg = (
            f"{str(path)!r}: frame {index} is {width}x{height}, but the first frame is {first_width}x{first_height}; "
            "the frames of a video must all have one size"
        )
        raise ValueError(msg)
    return Video(reader, fps, tuple(meta["size"]), "audio_codec" in meta, estimate)


class VideoWriter:
    """Writes frames into a temporary beside ``target``; :meth:`publish` renames it into place, :meth:`discard`
    removes it. ``audio_from``: a file whose first audio track is copied (re-encoded for the container)."""

    def __init__(self, target: Path, fps: float, size: tuple[int, int], audio_from: Path | None = None) -> None:
        self.encoding = encoding_for(target)
        self.target = target
        descriptor, self.temporary = make_temporary(target)
        os.close(descriptor)
        self.writer = None
        odd = size[0] % 2 or size[1] % 2  # 4:2:0 chroma needs even sides
        audio, ends = {}, []
        if audio_from is not None and self.encoding.audio_codec is not None:
            audio = {"audio_path": str(audio_from), "audio_codec": self.encoding.audio_codec}
            ends = ["-shortest"]  # the sound stops with the last frame (which is not held to the sound's end)
        try:
            self.writer = _ffmpeg(self.temporary, "wI").legacy_get_writer(
                fps=fps,
                codec=self.encoding.codec,
                pixelformat=("pal8" if self.encoding.codec == "gif" else "yuv444p" if odd else "yuv420p"),
                quality=None,
                macro_block_size=1,  # never resized
                ffmpeg_log_level="error",
                output_params=[*self.encoding.options, *ends, "-f", self.encoding.muxer],
                **audio,
            )
        except BaseException:
            self.discard()
            raise

    def append(self, frame) -> None:
        self.writer.append_data(frame)

    def publish(self, *, overwrite: bool) -> bool:
        """Finishes the file and moves it to the target; False (and nothing written) if the target appeared
        meanwhile and not ``overwrite``."""
        try:
            self.writer.close()
            os.chmod(self.temporary, 0o666 & ~current_umask())
            if overwrite:
                os.replace(self.temporary, self.target)
                return True
            try:
                os.link(self.temporary, self.target)  # atomic, and fails if the target exists
            except FileExistsError:
                return False
            except OSError:  # no hard links on this file system
                if self.target.exists():
                    return False
                os.replace(self.temporary, self.target)
            return True
        finally:
            self.discard()

    def discard(self) -> None:
        if self.writer is not None:
            with contextlib.suppress(Exception):  # ffmpeg may have failed already; the file goes either way
                self.writer.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.temporary)
