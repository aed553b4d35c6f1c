"""File-system care for the command: only regular files are read."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

__all__ = ["not_regular", "open_regular"]


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
