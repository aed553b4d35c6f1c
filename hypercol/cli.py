"""The ``hypercol`` command: ``colorize``, ``colorize-video``, ``colorize-beam``, ``cache``, ``train``,
``evaluate`` and ``backbones``.

Each subcommand is two functions, ``_add_NAME(subparsers)`` which declares its
arguments and ``_run_NAME(args) -> int``, and one entry in ``_SUBCOMMANDS``
(``colorize-video``'s are in :mod:`hypercol.cli_video`); what they share is in
:mod:`hypercol.command`.
Exit codes: 0 success, 1 some input failed, 2 usage error, 130 interrupted (Ctrl+C),
143 terminated (SIGTERM; the output being written is removed either way).
TensorFlow's log lines are hidden unless ``-v``.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import json
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from hypercol import cli_video
from hypercol.command import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_TERMINATED,
    EXIT_USAGE,
    Interrupts,
    Terminated,
    UsageError,
    add_head_and_knobs,
    check_option_files,
    load_colorizer,
    read_guidance,
    require_extra,
)
from hypercol.core.quiet import beam_root_warnings_hidden, import_tensorflow_quietly, show_tensorflow_logs
from hypercol.io.files import (
    IMAGE_SUFFIXES,
    ColorizedOutput,
    current_umask,
    is_image_name,
    not_regular,
    output_name,
    output_note,
    remove_stale_temporaries,
    unwritable_folder_reason,
    write_image_atomic,
)
from hypercol.models.card import check_head
from hypercol.models.shipped import DEFAULT_BACKBONE

__all__ = ["main"]


# --- colorize -------------------------------------------------------------


@dataclass
class _Job:
    source: Path
    target: Path
    named: bool = False  # named on the command line: colorized even if it is an output of an earlier run


def _add_colorize(subparsers) -> None:
    parser = subparsers.add_parser(
        "colorize",
        help="colorize images, folders or glob patterns into an output folder",
        description=(
            "Colorize grayscale images. INPUTs are image files, folders (searched recursively for "
            f"{', '.join(IMAGE_SUFFIXES)}; hidden files skipped) or glob patterns (quote them; ** recurses). "
            "Outputs are PNG files named <stem><suffix>.png in OUT, keeping the sub-folders of folder inputs. "
            "Input files are never overwritten."
        ),
    )
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image file, folder or glob pattern")
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT",
        help="output folder (created); for a single input file, may be an output file name like out.png",
    )
    _add_head_options(parser)
    parser.add_argument(
        "--hints",
        type=Path,
        metavar="PNG",
        help="color hints for a single INPUT: a transparent image of its size whose painted pixels give wanted colors",
    )
    parser.add_argument(
        "--reference", type=Path, metavar="PHOTO", help="a color photo to take colors from (any size), for every INPUT"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs (never inputs)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only the summary and problems")


def _add_head_options(parser) -> None:
    """--weights, --suffix and the knobs: what ``colorize`` and ``colorize-beam`` share."""
    parser.add_argument(
        "--weights",
        default=None,
        help="head weights (.weights.h5 with its .json card) or an ensemble card (.ensemble.json); default: the shipped head",
    )
    parser.add_argument(
        "--suffix",
        default="_color",
        help="added to each output's stem (default: %(default)s; write --suffix=-x for one starting with -)",
    )
    add_head_and_knobs(parser)


@dataclass
class _Found:
    """An image to colorize: its path, its path relative to its folder input (None for a file or glob
    input), and whether it was named on the command line itself."""

    path: Path
    relative: Path | None = None
    named: bool = False


def _walk_images(folder: Path, exclude: Path | None, odd: list[str]) -> list[Path]:
    """Image files under ``folder`` (recursive, sorted, hidden entries and ``exclude`` skipped).

    Entries with an image name that are no regular files (dangling symlinks, symlink loops,
    FIFOs, devices) are reported in ``odd`` and never opened.
    """
    found = []
    for root, dirs, files in os.walk(folder):
        root_path = Path(root)
        dirs[:] = sorted(
            d for d in dirs if not d.startswith(".") and (exclude is None or (root_path / d).resolve() != exclude)
        )
        found.extend(_regular_images((root_path / name for name in sorted(files)), odd))
    return found


def _regular_images(paths, odd: list[str]) -> list[Path]:
    """The regular files among ``paths`` with an image name; the others with an image name go to ``odd``."""
    regular = []
    for path in paths:
        if not is_image_name(path):
            continue
        what = not_regular(path)
        if what is None:
            regular.append(path)
        else:
            odd.append(f"{path}: {what}, not a regular file")
    return regular


def _has_wildcard(spec: str) -> bool:
    return any(ch in spec for ch in "*?[")


def _glob(pattern: str) -> list[str]:
    """``glob.glob(pattern, recursive=True)``, except that ``**`` never enters a symlinked folder (as the walk of
    a folder INPUT does not): two links to a parent folder would have it list paths without end."""
    parts = pattern.split(os.sep)
    if "**" not in parts:
        return glob.glob(pattern)
    index = parts.index("**")
    head = os.sep.join(parts[:index]) + os.sep if index else ""
    rest = os.sep.join(parts[index + 1 :])
    found = []
    for top in glob.glob(head) if _has_wildcard(head) else [head]:
        if not os.path.isdir(top or os.curdir):
            continue
        for root, dirs, files in os.walk(top or os.curdir):  # symlinked folders are listed in dirs, not entered
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))
            if not top:  # named as glob names them: "a/b", not "./a/b"
                root = "" if root == os.curdir else os.path.relpath(root)
            if rest:
                found.extend(_glob(os.path.join(glob.escape(root), rest)))
                continue
            if root:
                found.append(root)
            found.extend(os.path.join(root, name) for name in files if not name.startswith("."))
    return found


def _match(spec: str, exclude: Path | None, odd: list[str]) -> list[_Found]:
    """The images one INPUT names; raises UsageError for one that matches nothing."""
    path = Path(spec)
    if path.is_dir():
        return [_Found(image, image.relative_to(path)) for image in _walk_images(path, exclude, odd)]
    if os.path.lexists(path):
        what = not_regular(path)
        if what is not None:
            raise UsageError(f"{spec!r} is {what}, not a regular file")
        return [_Found(path, named=True)]
    if not _has_wildcard(spec):
        raise UsageError(f"{spec!r} does not exist")
    matches = []
    for match in map(Path, sorted(_glob(spec))):
        if match.is_dir():
            matches.extend(_Found(image, image.relative_to(match)) for image in _walk_images(match, exclude, odd))
        else:
            matches.extend(_Found(image) for image in _regular_images([match], odd))
    return matches


def _collect(inputs: list[str], out: Path) -> tuple[list[_Found], list[str]]:
    """(images, odd entries skipped: each without duplicates). Raises UsageError for an INPUT that matches no image."""
    exclude = out.resolve() if out.is_dir() else None
    collected: dict[Path, _Found] = {}
    odd: list[str] = []
    for spec in inputs:
        skipped_before = len(odd)
        matches = _match(spec, exclude, odd)
        if not matches and len(odd) == skipped_before:
            raise UsageError(f"no images match {spec!r}")
        for found in matches:
            _keep_once(collected, found, odd)
    return list(collected.values()), list(dict.fromkeys(odd))  # a ** glob lists a folder and its files


def _keep_once(collected: dict[Path, _Found], found: _Found, odd: list[str]) -> None:
    """Adds ``found`` unless its file is there already. A file reached under two paths (a symlink to it) is
    colorized once, under its own name rather than the link's, and the other path is reported."""
    key = found.path.resolve()
    kept = collected.setdefault(key, found)
    if kept is found or kept.path == found.path:  # new, or the same path named twice
        return
    if kept.path.is_symlink() and not found.path.is_symlink():
        collected[key], kept, found = found, found, kept
    odd.append(f"{found.path}: the same file as {kept.path}, colorized once")


def _target(found: _Found, out: Path, suffix: str, out_is_file: bool) -> Path:
    if out_is_file:
        return out
    folder = out / found.relative.parent if found.relative is not None else out
    return folder / output_name(found.path.name, suffix)


def _without_earlier_outputs(images: list[_Found], out: Path, suffix: str) -> list[_Found]:
    """``images`` less those that are the outputs of others (an earlier run into the input folder wrote them).

    With an empty suffix an output's name cannot tell it from a photo, so nothing is left out;
    files named on the command line are always kept.
    """
    if not suffix:
        return images
    outputs = {_target(found, out, suffix, False).resolve() for found in images}
    return [found for found in images if found.named or found.path.resolve() not in outputs]


def _plan(args) -> tuple[list[_Job], list[str], list[str]]:
    """Output path for each input: (jobs to run, skipped messages, refused messages)."""
    out = Path(args.output)
    images, skipped = _collect(args.inputs, out)
    if os.sep in args.suffix or (os.altsep and os.altsep in args.suffix):
        raise UsageError(f"--suffix must not contain a path separator, got {args.suffix!r}")
    single_file = len(args.inputs) == 1 and len(images) == 1 and images[0].named
    out_is_file = out.suffix.lower() in IMAGE_SUFFIXES and not out.is_dir()
    if out_is_file and not single_file:
        raise UsageError(f"OUT {str(out)!r} looks like a file name, but {len(images)} images are given: pass a folder")
    if not out_is_file and out.exists() and not out.is_dir():
        raise UsageError(f"OUT {str(out)!r} exists and is not a folder")
    if not out_is_file:
        images = _without_earlier_outputs(images, out, args.suffix)
    inputs = {found.path.resolve() for found in images}
    input_ids = {_file_id(found.path) for found in images}
    named = {found.path.resolve() for found in images if found.named}
    jobs, refused = [], []
    for found in images:  # inputs sharing an output all stay: the first one colorized takes it (_colorize_one)
        image, target = found.path, _target(found, out, args.suffix, out_is_file)
        resolved = target.resolve()
        is_input = resolved in inputs or (target.exists() and _file_id(target) in input_ids)
        # With an empty --suffix into the input folder, an earlier run's outputs are among the inputs:
        # each is its own target (skipped), and the target of its photo (an existing output).
        note = _earlier_output(target) if is_input and resolved not in named else None
        if is_input and note is None:
            refused.append(f"{image}: refusing to overwrite the input file {target} (change -o or --suffix)")
        elif note is not None and resolved == image.resolve():
            skipped.append(f"{image}: an output of an earlier run ({note}), not colorized again")
        elif target.exists() and not args.overwrite:
            skipped.append(f"{image}: {target} exists (use --overwrite to replace it)")
        else:
            jobs.append(_Job(image, target, found.named))
    return jobs, skipped, refused


def _check_output_folders(jobs: list[_Job]) -> None:
    """UsageError, before the model loads, if an output folder can be neither found nor made writable."""
    for folder in sorted({job.target.parent for job in jobs}):
        reason = unwritable_folder_reason(folder)
        if reason is not None:
            raise UsageError(f"cannot write the outputs into {folder}: {reason}")


def _earlier_output(path: Path) -> str | None:
    """The note of ``path`` if hypercol wrote it (None for a photo)."""
    from hypercol.io.images import output_note_of  # Pillow loads after the signal handlers

    return output_note_of(path)


def _file_id(path: Path) -> tuple[int, int]:
    stat = path.stat()
    return stat.st_dev, stat.st_ino


@dataclass
class _Colorizing:
    """What every job of a run shares: the command line, the colorizer and its guidance, the new files' mode bits,
    the note each output carries and, for each output written so far, its input."""

    args: argparse.Namespace
    colorizer: object
    guidance: dict
    mode_bits: int
    note: str
    claimed: dict[Path, Path]


def _colorize_one(job: _Job, run: _Colorizing) -> tuple[str, str]:
    """Reads, colorizes and writes one job: its outcome ("colorized", "skipped" or "failed") and why.

    Of several inputs with one output, the first that is colorized takes it and the later ones fail; one that
    fails before (a corrupt file) leaves it to the next. An output of an earlier run (its PNG tag) is skipped
    unless named on the command line.
    """
    resolved, args = job.target.resolve(), run.args
    if resolved in run.claimed:
        return "failed", f"its output {job.target} is already the output of {run.claimed[resolved]}"
    try:
        from hypercol.core.arrays import MAX_PIXELS  # numpy and Pillow load after the signal handlers
        from hypercol.io import images

        pixels = images.read_image(job.source, refuse_outputs=not job.named, max_pixels=MAX_PIXELS)
        rgb = run.colorizer.colorize(pixels, temperature=args.temperature, saturation=args.saturation, **run.guidance)
        done = write_image_atomic(rgb, job.target, overwrite=args.overwrite, mode_bits=run.mode_bits, note=run.note)
    except ColorizedOutput as error:
        return "skipped", str(error)
    except Exception as error:  # noqa: BLE001 -- one bad file must not stop the others
        return "failed", f"{type(error).__name__}: {error}"
    if not done:
        return "skipped", f"{job.target} exists"
    run.claimed[resolved] = job.source
    return "colorized", ""


def _run_colorize(args) -> int:
    from tqdm import tqdm

    check_option_files(args, ("weights", "hints", "reference"))
    jobs, skipped, refused = _plan(args)
    _check_output_folders(jobs)
    out = Path(args.output)
    for message in refused:
        print(f"hypercol: failed: {message}", file=sys.stderr)
    for message in skipped:
        print(f"hypercol: skipped: {message}", file=sys.stderr)
    counts = {"colorized": 0, "skipped": len(skipped), "failed": len(refused)}
    if jobs:
        colorizer = load_colorizer(args)
        Interrupts.check()
        remove_stale_temporaries({job.target.parent for job in jobs})
        guidance = read_guidance(args, colorizer, len(jobs))
        run = _Colorizing(args, colorizer, guidance, 0o666 & ~current_umask(), output_note(colorizer.weights), {})
        with tqdm(jobs, unit="image", desc="colorize", disable=None, file=sys.stderr) as progress:
            for job in progress:
                Interrupts.check()
                outcome, why = _colorize_one(job, run)
                counts[outcome] += 1
                if outcome != "colorized":
                    progress.write(f"hypercol: {outcome}: {job.source}: {why}", file=sys.stderr)
                elif not args.quiet:
                    progress.write(f"{job.source} -> {job.target}", file=sys.stdout)
    where = out if out.suffix.lower() not in IMAGE_SUFFIXES or out.is_dir() else out.parent
    print(
        f"hypercol: {counts['colorized']} colorized, {counts['skipped']} skipped, {counts['failed']} failed; "
        f"outputs in {where}"
    )
    return EXIT_FAILED if counts["failed"] else EXIT_OK


# --- colorize-beam ----------------------------------------------------------


def _add_colorize_beam(subparsers) -> None:
    parser = subparsers.add_parser(
        "colorize-beam",
        help="colorize an archive on Apache Beam (DirectRunner, Dataflow, Flink, Spark); pip install hypercol[beam]",
        description=(
            "Colorize every image INPUT_GLOB matches (a glob on any file system Beam supports, ** crosses "
            "folders, or a folder) into OUT/<relative folder>/<stem><suffix>.png with Apache Beam's RunInference, "
            "and write OUT/manifest.jsonl (input, output, size, status, error; one row per input). A rerun skips "
            "existing outputs and earlier failures (--retry-failed retries those). Arguments this command does "
            "not know are Beam's pipeline options, written --name=value (e.g. --direct_num_workers=2, --project=P). "
            "--weights must name the same file on every worker."
        ),
        allow_abbrev=False,  # a Beam option must never be taken for an abbreviation of one of ours
    )
    parser.add_argument("pattern", metavar="INPUT_GLOB", help="glob pattern (quote it) or folder")
    parser.add_argument("-o", "--output", required=True, metavar="OUT", help="output folder or prefix (gs://...)")
    parser.add_argument("--runner", default="DirectRunner", help="Beam runner (default: %(default)s)")
    parser.add_argument("--retry-failed", action="store_true", help="retry the inputs that failed in the last run")
    _add_head_options(parser)  # --weights: at the same path on every worker
    parser.set_defaults(accepts_extra_arguments=True)


def _run_colorize_beam(args) -> int:
    with contextlib.nullcontext() if args.verbose else beam_root_warnings_hidden():
        return _colorize_beam(args)


def _colorize_beam(args) -> int:
    try:
        from apache_beam.io.filesystems import FileSystems

        from hypercol.beam import ArchiveLayout, colorize_archive
    except ImportError as error:
        raise UsageError(f"colorize-beam needs Apache Beam: pip install 'hypercol[beam]' ({error})") from error
    from hypercol.core.precision import check_environment

    check_option_files(args, ("weights",))
    try:  # all checked here, before any worker starts; the model itself loads on the workers only
        check_environment()
        layout = ArchiveLayout(args.pattern, args.output, args.suffix)
        check_head(args.weights, args.head, args.temperature, args.saturation)
        matched = FileSystems.match([layout.pattern], limits=[1])[0].metadata_list
    except (ValueError, TypeError, OSError) as error:
        raise UsageError(str(error)) from error
    if not matched:
        raise UsageError(f"no files match {args.pattern!r}")
    summary = colorize_archive(
        args.pattern,
        args.output,
        options=[f"--runner={args.runner}", *args.extra_arguments],
        suffix=args.suffix,
        retry_failed=args.retry_failed,
        weights=args.weights,
        head=args.head,
        temperature=args.temperature,
        saturation=args.saturation,
    )
    print(
        f"hypercol: {summary['colorized']} colorized, {summary['skipped']} skipped, {summary['failed']} failed; "
        f"manifest {summary['manifest']}"
    )
    return EXIT_FAILED if summary["failed"] else EXIT_OK


# --- backbones --------------------------------------------------------------


def _add_backbones(subparsers) -> None:
    subparsers.add_parser(
        "backbones",
        help="list the registered backbones",
        description="List the registered backbones: handle, input convention, taps (channels, stride).",
    )


def _run_backbones(args) -> int:
    from hypercol.models.backbones import get_spec, list_backbones

    for name in list_backbones():
        spec = get_spec(name)
        handle = spec.handle if spec.handle is not None else "exported locally (into the TF Hub cache on first use)"
        print(name)
        if spec.description:
            print(f"  {spec.description}")
        print(f"  handle:     {handle}")
        print(f"  signature:  {spec.signature}")
        print(f"  input:      {spec.input_convention}")
        print("  taps:")
        width = max(len(tap.key) for tap in spec.taps)
        for tap in spec.taps:
            print(f"    {tap.key:<{width}}  {tap.channels:>5} channels  stride {tap.stride}")
        print(f"  total:      {spec.channels} channels")
    return EXIT_OK


# --- train ------------------------------------------------------------------


def _add_train(subparsers) -> None:
    from hypercol.training.config import DEFAULT_STEPS

    parser = subparsers.add_parser(
        "train",
        help="train a head on a folder of photos",
        description=(
            "Train a colorization head on photos (folders, recursive, or text files listing images). "
            "Writes OUT/head.weights.h5 and OUT/head.json (model card), checkpoints and TensorBoard logs. "
            "Under TF_CONFIG it trains with MultiWorkerMirroredStrategy; on several GPUs with MirroredStrategy."
        ),
    )
    parser.add_argument(
        "data",
        nargs="+",
        metavar="DATA",
        help="folder of photos, text file listing images, or feature caches (several: built with different seeds)",
    )
    parser.add_argument("--out", required=True, type=Path, help="run folder")
    parser.add_argument(
        "--backbone", default=DEFAULT_BACKBONE, help="registered backbone name or TF Hub handle (default: %(default)s)"
    )
    parser.add_argument("--taps", nargs="+", help="tap keys (required for an unregistered handle)")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--crop-size", type=int, default=224)
    parser.add_argument("--working-size", type=int, default=256, help="inference working size written to the card")
    _add_optimizer_options(parser)
    parser.add_argument("--head", choices=("regression", "classification"), default="regression")
    parser.add_argument("--loss", choices=("dahl", "l2"), default="dahl", help="regression head loss")
    parser.add_argument(
        "--set-weights",
        type=_per_set_numbers,
        metavar="SET=W,...",
        help="feature cache: sampling weight of each photo set (default: uniform over examples; unlisted sets: 0)",
    )
    parser.add_argument(
        "--every-nth-photo",
        type=int,
        default=1,
        metavar="N",
        help="feature cache: train on the crops of every N-th photo of each set only, counted among the photos the cache "
        "kept (a learning curve; default: all)",
    )
    parser.add_argument(
        "--teacher",
        nargs=2,
        action="append",
        metavar=("WEIGHTS", "CACHE"),
        help="feature cache, classification: distil a trained head (its .weights.h5, read on CACHE, its backbone's "
        "cache of the same crops) into this one; repeat for several, their distributions are averaged",
    )
    parser.add_argument(
        "--teacher-weight",
        type=float,
        default=0.5,
        help="with --teacher: the teachers' share of the target, the truth's is the rest (default: %(default)s)",
    )
    _add_head_shape(parser)
    parser.add_argument(
        "--rebalance-lambda",
        type=float,
        help="classification: uniform mix of the class rebalancing (1 = no rebalancing; default: Zhang et al.'s)",
    )
    parser.add_argument("--checkpoint-every", type=int, default=200)
    parser.add_argument("--validate-every", type=int, default=200)
    parser.add_argument("--resume", action="store_true", help="continue the run in OUT from its last checkpoint")
    parser.add_argument("--time-limit", type=float, help="stop (with a checkpoint) after this many minutes")
    parser.add_argument("--stop-at", type=int, help="stop (with a checkpoint) at this step; --resume continues")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", default="", help="description of the photos, for the model card")


def _add_optimizer_options(parser) -> None:
    """The optimizer's options of ``hypercol train``."""
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument(
        "--weight-decay",
        type=float,
        default=0.0,
        help="AdamW's decoupled weight decay of the kernels (default: 0, Adam)",
    )
    parser.add_argument(
        "--ema-momentum",
        type=float,
        metavar="M",
        help="keep an exponential moving average of the head's weights (e.g. 0.995); validation measures it, "
        "the run exports it (default: none, the last weights)",
    )


def _add_head_shape(parser) -> None:
    """The head's shape options of ``hypercol train`` (read back by :func:`_head_config`)."""
    parser.add_argument("--global-context", action="store_true", help="add the image-wide feature mean to the head")
    parser.add_argument(
        "--base-width", type=int, help="channels of the head's deepest level, halved at each finer tap (default: 256)"
    )
    parser.add_argument(
        "--context-blocks",
        type=int,
        default=0,
        help="residual pairs of 3x3 convs on the head's deepest level (default: 0)",
    )
    parser.add_argument(
        "--output-kernel",
        type=int,
        choices=(1, 3),
        default=3,
        help="size of the head's last convolution (1: 9x cheaper for the classification head's bins; default: 3)",
    )
    parser.add_argument(
        "--deep-dropout",
        type=float,
        default=0.0,
        help="fraction of the deepest tap's channels dropped in training, a regulariser (default: 0)",
    )
    parser.add_argument(
        "--set-deep-dropout",
        type=_per_set_numbers,
        metavar="SET=RATE[,SET=RATE...]",
        help="feature caches: these sets' examples lose RATE of the deepest tap's maps in all, "
        "--deep-dropout included (at least it; default: every set --deep-dropout)",
    )
    parser.add_argument(
        "--deep-dropout-taps",
        type=int,
        default=1,
        help="how many of the deepest taps --deep-dropout drops channels of (default: %(default)s)",
    )
    parser.add_argument(
        "--output-stride",
        type=int,
        choices=(4, 8),
        default=4,
        help="classification: working pixels per logit cell (8: a cheaper training step; default: %(default)s)",
    )


def _per_set_numbers(text: str) -> dict[str, float]:
    """'imagenet=2,faces-lfw=0.5' -> {'imagenet': 2.0, 'faces-lfw': 0.5}."""
    numbers = {}
    for item in text.split(","):
        name, sep, value = item.partition("=")
        try:
            numbers[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep or not name.strip():
            raise argparse.ArgumentTypeError(f"expected SET=NUMBER[,SET=NUMBER...], got {item!r}")
    return numbers


def _head_config(args) -> dict:
    """The head options of `hypercol train` that differ from build_head's defaults."""
    config = {"global_context": True} if args.global_context else {}
    if args.context_blocks:
        config["context_blocks"] = args.context_blocks
    if args.base_width:
        config["base_width"] = args.base_width
    if args.output_kernel != 3:
        config["output_kernel"] = args.output_kernel
    if args.deep_dropout:
        config["deep_dropout"] = args.deep_dropout
    if args.deep_dropout_taps != 1:
        config["deep_dropout_taps"] = args.deep_dropout_taps
    if args.output_stride != 4:  # checked against the head type by train()
        config["output_stride"] = args.output_stride
    return config


def _run_train(args) -> int:
    require_extra("train", "hypercol train")
    from hypercol.training.data import TrainingDataError
    from hypercol.training.train import train

    try:
        result = train(
            args.data,
            out=args.out,
            backbone=args.backbone,
            taps=args.taps,
            head_type=args.head,
            steps=args.steps,
            batch_size=args.batch_size,
            crop_size=args.crop_size,
            working_size=args.working_size,
            learning_rate=args.learning_rate,
            weight_decay=args.weight_decay,
            ema_momentum=args.ema_momentum,
            loss=args.loss,
            set_weights=args.set_weights,
            every_nth_photo=args.every_nth_photo,
            set_deep_dropout=args.set_deep_dropout,
            rebalance_mix=args.rebalance_lambda,
            teachers=[tuple(pair) for pair in args.teacher or ()],
            teacher_weight=args.teacher_weight,
            head_config=_head_config(args),
            checkpoint_every=args.checkpoint_every,
            validate_every=args.validate_every,
            resume=args.resume,
            time_limit_minutes=args.time_limit or None,
            stop_at=args.stop_at,
            seed=args.seed,
            corpus=args.corpus,
        )
    except ValueError as error:
        raise UsageError(str(error)) from error
    except TrainingDataError as error:  # after work began: the checkpoints so far stay, for --resume
        print(f"hypercol train: error: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"head weights: {result.weights}")
    print(f"model card:   {result.card}")
    return EXIT_OK


# --- cache --------------------------------------------------------------------


def _add_cache(subparsers) -> None:
    from hypercol.training.config import CROP_SCALES_OF

    parser = subparsers.add_parser(
        "cache",
        help="compute the backbone's taps for fixed training crops once",
        description=(
            "Build (or resume building) a feature cache from a photo-set manifest "
            "(examples/build_photo_sets.py): fixed random crops of every training photo, with cut-out photos "
            "pasted onto some, their backbone taps (float16) and target chroma. `hypercol train CACHE` "
            "then trains a head (classification or regression, both ending at stride 4) without running the backbone."
        ),
    )
    parser.add_argument("sets", type=Path, metavar="SETS_JSON", help="photo-set manifest")
    parser.add_argument("--out", required=True, type=Path, help="cache folder")
    parser.add_argument("--backbone", default=DEFAULT_BACKBONE, help="registered backbone (default: %(default)s)")
    parser.add_argument("--crop-size", type=int, default=224)
    parser.add_argument("--only", nargs="+", metavar="SET", help="cache only these sets")
    parser.add_argument("--paste-probability", type=float, default=0.3, help="share of crops with pasted cut-outs")
    parser.add_argument(
        "--crop-scale-of",
        choices=CROP_SCALES_OF,
        default="short",
        help="training crops span 0.5-1 of each photo's short side, or 0.7-1 of its long side "
        "(the working canvas's scale, edge-padded like it) (default: %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=0)


def _run_cache(args) -> int:
    require_extra("train", "hypercol cache")
    from hypercol.training.cache import build_feature_cache

    if not args.sets.is_file():
        raise UsageError(f"{str(args.sets)!r} is not a file")
    try:
        cache = build_feature_cache(
            args.sets,
            args.out,
            backbone=args.backbone,
            crop_size=args.crop_size,
            sets=args.only,
            seed=args.seed,
            paste_probability=args.paste_probability,
            crop_scale_of=args.crop_scale_of,
        )
    except (ValueError, KeyError, json.JSONDecodeError) as error:
        raise UsageError(f"{type(error).__name__}: {error}") from error
    for name, count in sorted(cache.parts("train").items()):
        print(f"{name}: {count} training crops")
    print(f"feature cache: {cache.folder}")
    return EXIT_OK


# --- evaluate -----------------------------------------------------------------


def _add_evaluate(subparsers) -> None:
    parser = subparsers.add_parser(
        "evaluate",
        help="measure a head on a folder of color photos",
        description=(
            "Colorize the gray version of every photo in DIR and print PSNR, SSIM, AuC and colorfulness "
            "for the model and the gray baseline (a = b = 0), with the truth's colorfulness."
        ),
    )
    parser.add_argument("folder", type=Path, metavar="DIR")
    parser.add_argument("--weights", type=Path, help="head .weights.h5 (default: the shipped head)")
    add_head_and_knobs(parser)
    parser.add_argument("--json", action="store_true", help="print the full result (per image too) as JSON")


def _run_evaluate(args) -> int:
    require_extra("eval", "hypercol evaluate")
    from hypercol.evaluation.evaluate import evaluate_folder, format_table

    if not args.folder.is_dir():
        raise UsageError(f"{str(args.folder)!r} is not a folder")
    check_option_files(args, ("weights",))
    try:
        result = evaluate_folder(
            args.folder, args.weights, head=args.head, temperature=args.temperature, saturation=args.saturation
        )
    except ValueError as error:
        raise UsageError(str(error)) from error
    print(json.dumps(_finite(result), indent=2) if args.json else format_table(result))
    for row in result["skipped"]:
        print(f"hypercol evaluate: skipped {row['image']!r}: {row['error']}", file=sys.stderr)
    return EXIT_FAILED if result["skipped"] else EXIT_OK


def _finite(value):
    """``value`` with infinite and NaN floats as None: strict JSON has no Infinity (a PSNR of identical images)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    return value


# --- entry point --------------------------------------------------------------

# (name, add parser, run): the order is the order of --help.
_SUBCOMMANDS = [
    ("colorize", _add_colorize, _run_colorize),
    ("colorize-video", cli_video.add_parser, cli_video.run),
    ("colorize-beam", _add_colorize_beam, _run_colorize_beam),
    ("cache", _add_cache, _run_cache),
    ("train", _add_train, _run_train),
    ("evaluate", _add_evaluate, _run_evaluate),
    ("backbones", _add_backbones, _run_backbones),
]


def build_parser() -> argparse.ArgumentParser:
    from hypercol import __version__

    parser = argparse.ArgumentParser(prog="hypercol", description="Colorize grayscale photographs with hypercolumns.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, add, run in _SUBCOMMANDS:
        add(subparsers)
        subparser = subparsers.choices[name]
        subparser.add_argument(
            "-v", "--verbose", action="store_true", help="show TensorFlow's log lines (hidden by default)"
        )
        subparser.set_defaults(run=run)
    return parser


@contextlib.contextmanager
def _escaping_output():
    """While the command runs, characters that stdout/stderr cannot encode (a file name under
    PYTHONIOENCODING=ascii) are printed as backslash escapes instead of stopping the run."""
    changed = []
    for stream in (sys.stdout, sys.stderr):
        errors = getattr(stream, "errors", None)
        if errors in ("strict", "surrogateescape") and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
            changed.append((stream, errors))
    try:
        yield
    finally:
        for stream, errors in changed:
            stream.reconfigure(errors=errors)


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args, extra = parser.parse_known_args(argv)
        if extra and not getattr(args, "accepts_extra_arguments", False):
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    except SystemExit as exit_:  # argparse exits on --help (0) and usage errors (2)
        return exit_.code if isinstance(exit_.code, int) else EXIT_USAGE
    args.extra_arguments = extra
    if args.verbose:
        show_tensorflow_logs()
    else:
        import_tensorflow_quietly()
    Interrupts.check()
    try:
        return args.run(args)
    except UsageError as error:
        print(f"hypercol {args.command}: error: {error}", file=sys.stderr)
        return EXIT_USAGE


def main(argv: list[str] | None = None) -> int:
    """Runs the ``hypercol`` command; returns the exit code (see the module's docstring).

    Without ``argv`` (the command itself: the process's arguments), Ctrl+C and SIGTERM are ignored once it
    returns, so that one arriving while the interpreter shuts down changes neither the exit code nor the output.
    """
    with Interrupts.handled(restore=argv is not None), _escaping_output():
        try:
            try:
                code = _run(argv)
                Interrupts.check()
            finally:
                Interrupts.ending = True  # from here on a signal is only remembered
        except BaseException:  # a signal, whatever it became on its way (KeyboardInterrupt, ImportError, ...)
            if Interrupts.received is None:
                raise
        if Interrupts.received is None:
            return code
        terminated = Interrupts.received is Terminated
        print(f"hypercol: interrupted{' (SIGTERM)' if terminated else ''}", file=sys.stderr)  # no traceback
        return EXIT_TERMINATED if terminated else EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
