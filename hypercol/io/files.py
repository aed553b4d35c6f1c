"""File-system care for the command: only regular files are read, and temporaries never outlive a run.

The command writes each output through a temporary beside it, named
``.hypercol-PID-XXXXXXXX.NAME.tmp``. A run that is killed (SIGKILL, a power cut) cannot
remove its own; the next run into the same folder removes those whose process is gone,
and never touches any other file.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "IMAGE_SUFFIXES",
    "is_image_name",
    "output_name",
    "write_atomically",
    "OUTPUT_KEY",
    "ColorizedOutput",
    "output_note",
    "not_regular",
    "open_regular",
    "make_temporary",
    "temporary_affixes",
    "remove_stale_temporaries",
    "unwritable_folder_reason",
    "current_umask",
    "save_image",
    "write_image_atomic",
]

# What hypercol reads as an image, everywhere: the command, Beam, training and the photo sets.
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
# The PNG text chunk that every output carries (saying which head colorized it): an output found
# among the inputs of a later run, whatever its name, is never colorized again.
OUTPUT_KEY = "hypercol"
_TEMPORARY_PREFIX = ".hypercol-"
# mkstemp's 8 characters; write_atomically's temporaries end in the target's own suffixes after ".tmp"
_TEMPORARY_NAME = re.compile(r"\.hypercol-(?P<pid>\d+)-[a-z0-9_]{8}\..*\.tmp(\.[^.]+){0,2}", re.DOTALL)
# The output's name inside a temporary's is cut to this: the temporary's own name must
# fit the file system's limit (usually 255 bytes) whenever the output's does.
_NAME_BYTES_IN_TEMPORARY = 100


class ColorizedOutput(ValueError):
    """An image that hypercol wrote (its PNG text chunk :data:`OUTPUT_KEY` says so), found among the inputs."""


def output_note(weights: Path) -> str:
    """The text an output carries under :data:`OUTPUT_KEY`: the version and the head (weights file) that made it."""
    from hypercol import __version__

    return f"colorized by hypercol {__version__} with the head {Path(weights).name}"


def _kind(mode: int) -> str | None:
    """What a file of this ``st_mode`` is when it is not a regular file ('a FIFO', ...); None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    kinds = [(stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISSOCK, "a socket")]
    kinds += [(stat.S_ISCHR, "a device"), (stat.S_ISBLK, "a device")]
    return next((what for test, what in kinds if test(mode)), "a special file")


def not_regular(path: Path) -> str | None:
    """What ``path`` is when it is not a regular file, following symlinks ('a dangling symlink', ...);
    None for a regular file (or a symlink to one)."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "a dangling symlink" if path.is_symlink() else "missing"
    except OSError as error:
        return "a symlink loop" if error.errno == errno.ELOOP else f"unreadable ({error.strerror})"
    return _kind(mode)


def open_regular(path: Path):
    """``path`` opened for binary reading; ValueError, without ever blocking, unless it is a regular file.

    The check is made on the opened file (a FIFO opens at once with O_NONBLOCK), so a
    file swapped for a FIFO after it was listed is refused too.
    """
    descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        what = _kind(os.fstat(descriptor).st_mode)
        if what is not None:
            msg = f"{what}, not a regular file"
            raise ValueError(msg)
    except BaseException:
        os.close(descriptor)
        raise
    return os.fdopen(descriptor, "rb")


def temporary_affixes(name: str) -> tuple[str, str]:
    """(prefix, suffix) of a temporary for an output named ``name``: ``.hypercol-PID-`` and ``.NAME.tmp``.

    Eight random characters go between them (``[a-z0-9_]``, as mkstemp's), so that
    :func:`remove_stale_temporaries` knows the temporary and the process that made it.
    """
    while len(os.fsencode(name)) > _NAME_BYTES_IN_TEMPORARY:
        name = name[:-1]
    return f"{_TEMPORARY_PREFIX}{os.getpid()}-", f".{name}.tmp"


def make_temporary(target: Path, *, keep_suffixes: bool = False) -> tuple[int, str]:
    """A new temporary beside ``target`` (``.hypercol-PID-XXXXXXXX.NAME.tmp``): (open descriptor, path).

    ``keep_suffixes``: the name ends in ``target``'s last two suffixes too, for writers that go by them.
    """
    prefix, suffix = temporary_affixes(target.name)
    if keep_suffixes:
        suffix += "".join(target.suffixes[-2:])
    return tempfile.mkstemp(dir=target.parent, prefix=prefix, suffix=suffix)


def write_atomically(path: Path, write) -> None:
    """Calls ``write(temporary path)`` beside ``path``, then renames it over ``path``; the temporary never stays.
    The file gets the mode that ``open(path, "w")`` would give it (0o666 less the umask).

    The temporary keeps ``path``'s last two suffixes (Keras wants ``.weights.h5``) and is
    one that :func:`remove_stale_temporaries` knows.
    """
    path = Path(path)
    descriptor, temporary = make_temporary(path, keep_suffixes=True)
    os.close(descriptor)
    try:
        write(Path(temporary))
        os.chmod(temporary, 0o666 & ~current_umask())  # as open() would create it (mkstemp's is private)
        os.replace(temporary, path)
    finally:
        if os.path.lexists(temporary):
            os.unlink(temporary)


def output_name(input_name: str, suffix: str) -> str:
    """The file name of an input's colorized output: its stem, ``suffix`` and ``.png`` (the command's and Beam's)."""
    return f"{Path(input_name).stem}{suffix}.png"


def is_image_name(name: str) -> bool:
    """Whether a file of this name is read as an image: one of :data:`IMAGE_SUFFIXES`, not hidden."""
    return Path(name).suffix.lower() in IMAGE_SUFFIXES and not Path(name).name.startswith(".")


def _process_exists(pid: int) -> bool:
    if pid == os.getpid() or os.name == "nt":  # Windows' os.kill(pid, 0) would end the process
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):
        return False
    except OSError:  # PermissionError: it exists, as another user's
        return True
    return True


def remove_stale_temporaries(folders: Iterable[Path]) -> list[Path]:
    """Removes the temporaries in ``folders`` whose run is gone (killed mid-write); returns them."""
    removed = []
    for folder in folders:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            match = _TEMPORARY_NAME.fullmatch(entry.name)
            if match and entry.is_file(follow_symlinks=False) and not _process_exists(int(match["pid"])):
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)
                    removed.append(Path(entry.path))
    return removed


def unwritable_folder_reason(folder: Path) -> str | None:
    """Why files cannot be created in ``folder`` (made as needed), or None if they can be: the nearest
    existing part of the path must be a folder that this process may write into."""
    existing = folder
    while not os.path.lexists(existing) and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"no permission to write in {existing}"
    return None


def current_umask() -> int:
    """The process's file-mode creation mask (read without changing it for good)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


def save_image(pixels, stream, name: str, note: str | None = None) -> None:
    """Encodes ``pixels`` ((H, W[, 3 or 4]) uint8 array) into the binary ``stream``, in the format
    that ``name``'s suffix names (PNG for an unknown one); a JPEG drops the alpha channel.
    A PNG carries ``note`` (:func:`output_note`) under :data:`OUTPUT_KEY`."""
    from PIL import Image, PngImagePlugin

    image = Image.fromarray(pixels)
    file_format = Image.registered_extensions().get(Path(name).suffix.lower(), "PNG")
    if file_format == "JPEG" and image.mode == "RGBA":
        image = image.convert("RGB")
    options = {}
    if file_format == "PNG" and note is not None:
        options["pnginfo"] = PngImagePlugin.PngInfo()
        options["pnginfo"].add_text(OUTPUT_KEY, note)
    image.save(stream, format=file_format, **options)


def write_image_atomic(pixels, target: Path, *, overwrite: bool, mode_bits: int, note: str | None = None) -> bool:
    """Writes ``pixels`` to ``target`` (with ``note``, see :func:`save_image`) through a temp file in the same
    folder; False if it exists and not overwrite."""
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temp = make_temporary(target)
    try:
        with os.fdopen(descriptor, "wb") as stream:
            save_image(pixels, stream, target.name, note)
        os.chmod(temp, mode_bits)
        if overwrite:
            os.replace(temp, target)
            return True
        try:
            os.link(temp, target)  # atomic, and fails if someone created the target meanwhile
        except FileExistsError:
            return False
        except OSError:  # no hard links on this file system
            if target.exists():
                return False
            os.replace(temp, target)
        return True
    finally:
        if os.path.lexists(temp):
            os.unlink(temp)
