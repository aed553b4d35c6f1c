"""TensorFlow's log lines are hidden by default (``colorize`` and the command); the command's ``-v`` shows them.
So are the warnings Apache Beam writes on every run of ``colorize-beam``.

TensorFlow reads ``TF_CPP_MIN_LOG_LEVEL`` once, when it is imported, so the default is
set when this module is first imported (by the command, or by the first hypercol module
that needs TensorFlow; ``import hypercol`` does not), and only if the user has not set it
and TensorFlow is not loaded yet: their own setting, and an application that imported
TensorFlow itself, are left alone. A few lines are written while TensorFlow loads,
before it reads the variable; :func:`import_tensorflow_quietly` hides those.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile

__all__ = ["LEVEL_IS_OURS", "show_tensorflow_logs", "import_tensorflow_quietly", "beam_root_warnings_hidden"]

_LEVEL = "TF_CPP_MIN_LOG_LEVEL"
# 3 hides the C++ INFO, WARNING and ERROR lines (start-up, XLA, "no CUDA driver" notes);
# a real failure still raises a Python exception.
_QUIET = "3"
LEVEL_IS_OURS = _LEVEL not in os.environ and "tensorflow" not in sys.modules
if LEVEL_IS_OURS:
    os.environ[_LEVEL] = _QUIET


def show_tensorflow_logs() -> None:
    """Undoes our default (before TensorFlow is imported): TensorFlow logs as it would by itself."""
    if LEVEL_IS_OURS and os.environ.get(_LEVEL) == _QUIET:
        del os.environ[_LEVEL]


def _interrupted(error: BaseException) -> bool:
    """Whether ``error`` is, or comes of, a KeyboardInterrupt (Ctrl+C or the command's SIGTERM): a module whose
    initialisation it stopped raises ``ImportError: initialization failed`` from it."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return False


@contextlib.contextmanager
def _stderr_hidden_unless_failing():
    """Hides what C++ code writes to file descriptor 2 in the block; replays it if the block raises an Exception
    (but not one that a Ctrl+C became: the start-up was stopped, nothing went wrong)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (AttributeError, OSError, ValueError):  # no stderr to hide
        yield
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        except Exception as error:
            os.dup2(saved, 2)
            if not _interrupted(error):
                capture.seek(0)
                sys.stderr.write(capture.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow_quietly() -> None:
    """Imports TensorFlow without its start-up lines, and sets its Python loggers to errors only.

    Only while the log level is our default: with the user's own TF_CPP_MIN_LOG_LEVEL
    TensorFlow is imported as it is, and a TensorFlow already loaded is left as it is.
    """
    if not LEVEL_IS_OURS or os.environ.get(_LEVEL) != _QUIET:
        return
    if "tensorflow" in sys.modules:
        return
    with _stderr_hidden_unless_failing():
        import tensorflow  # noqa: F401
    for name in ("tensorflow", "absl", "keras"):
        logging.getLogger(name).setLevel(logging.ERROR)


class _BeamRootWarnings(logging.Filter):
    """Drops the records below ERROR that Apache Beam's own code logs on the root logger: the same notes on every
    run, whatever the job ("apitools not found", "Resource module is not available"). Its named loggers'
    records (a discarded pipeline option, say) reach the root's handlers without passing this filter."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or f"{os.sep}apache_beam{os.sep}" not in record.pathname


@contextlib.contextmanager
def beam_root_warnings_hidden():
    """Hides, in the block, what :class:`_BeamRootWarnings` drops (from before Beam is imported: it warns then)."""
    noise = _BeamRootWarnings()
    root = logging.getLogger()
    root.addFilter(noise)
    try:
        yield
    finally:
        root.removeFilter(noise)
