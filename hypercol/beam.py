"""Colorize archives larger than one machine: Apache Beam's RunInference (``pip install 'hypercol[beam]'``).

The same pipeline runs locally on the DirectRunner and unchanged on Dataflow, Flink or
Spark, over any file system Beam supports (local folders, ``gs://``, ``s3://``, ...)::

    from hypercol.beam import colorize_archive
    summary = colorize_archive("scans/**/*.tif", "colored", options=["--direct_num_workers=2"])

    with beam.Pipeline() as pipeline:               # or as one step of your own pipeline
        rows = pipeline | ColorizeArchive("gs://b/scans/**", "gs://b/colored")

Steps: match the input pattern (image names only; hidden entries and anything under the
output prefix are left out) -> plan each output (``<relative folder>/<stem><suffix>.png``
under the output prefix) and join, by output path, with the outputs that already exist
and the previous run's manifest (one shuffle, which also spreads the work over the
workers) -> read and decode (the command line's decoding: first frame, EXIF orientation)
-> :class:`ColorizeModelHandler` in ``RunInference`` (the colorizer loads once per worker
process) -> write each PNG atomically (a temporary beside it, then a rename) -> one
manifest row per input, written to ``OUT/manifest.jsonl``.

A manifest row is ``{"input", "output", "size": [width, height] or null, "status":
"colorized" | "skipped" | "failed", "error": str or null}``; every matched input has one,
dangling symlinks too (skipped, as FIFOs and other files that are no regular files, with
the reason in "error"). A rerun skips an input whose
output exists (its row says "skipped", with the size the earlier manifest recorded) and
does not retry an input that failed in the previous run (its row and error are carried
over) unless ``retry_failed``; a run never overwrites an output.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import threading
from pathlib import Path
from typing import Any, NamedTuple

import apache_beam as beam
import numpy as np
from apache_beam.io import fileio
from apache_beam.io.filesystem import CompressionTypes
from apache_beam.io.filesystems import FileSystems
from apache_beam.metrics import Metrics
from apache_beam.metrics.metric import MetricsFilter
from apache_beam.ml.inference.base import ModelHandler, RunInference
from apache_beam.options.pipeline_options import PipelineOptions

from hypercol.io.files import (
    ColorizedOutput,
    current_umask,
    is_image_name,
    not_regular,
    output_name,
    output_note,
    remove_stale_temporaries,
    save_image,
    temporary_affixes,
    write_image_atomic,
)
from hypercol.io.images import decode_image, read_image
from hypercol.models.card import check_head, resolve_weights

__all__ = [
    "colorize_archive",
    "ColorizeArchive",
    "ColorizeModelHandler",
    "ArchiveLayout",
    "Task",
    "Decoded",
    "Colorized",
    "MANIFEST_NAME",
    "STATUSES",
]

MANIFEST_NAME = "manifest.jsonl"
COLORIZED, SKIPPED, FAILED = "colorized", "skipped", "failed"
STATUSES = (COLORIZED, SKIPPED, FAILED)
_NAMESPACE = "hypercol"
# One colorize call at a time in a process: two threads of one Beam worker process calling
# the colorizer at once crashed it (SIGSEGV inside the XLA color kernel of
# colorizer.compose, about once in 15 runs of 24 photos). TensorFlow spreads each call over
# the cores anyway; reading, decoding and writing still overlap in the other threads.
_COLORIZE_LOCK = threading.Lock()


class Task(NamedTuple):
    """One input and the output it will be colorized into (paths as Beam's file systems name them)."""

    source: str
    target: str


class Decoded(NamedTuple):
    """An example for the model handler: ``pixels`` is what ``colorize`` takes, (H, W) or (H, W, 3 or 4)
    uint8, or (H, W) uint16 (the command line's decoding)."""

    task: Task
    pixels: np.ndarray


class Colorized(NamedTuple):
    """A prediction: ``pixels`` (H, W, 3 or 4) uint8, or None and ``error`` (``'TypeName: message'``)."""

    task: Task
    pixels: np.ndarray | None
    error: str | None = None


def _is_local(path: str) -> bool:
    return FileSystems.get_scheme(path) is None


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


def _row(task: Task, status: str, *, size=None, error: str | None = None) -> dict:
    """A manifest row; ``size`` is [width, height]."""
    return {"input": task.source, "output": task.target, "size": size, "status": status, "error": error}


class ArchiveLayout:
    """Where each input's output goes: the input pattern, its fixed base, the output prefix.

    ``pattern``: a glob (``*``, ``?``, ``[...]``; ``**`` crosses folders), a folder (all
    its images, recursively) or one file; local paths are made absolute. An input's output
    is ``output/<its folder relative to the pattern's base>/<stem><suffix>.png``, the
    base being the pattern's folder before its first wildcard.
    """

    def __init__(self, pattern: str, output: str, suffix: str = "_color") -> None:
        if "/" in suffix or (os.altsep and os.altsep in suffix):
            msg = f"suffix must not contain a path separator, got {suffix!r}"
            raise ValueError(msg)
        if _is_local(pattern):
            pattern = os.path.abspath(pattern)
            if os.path.isdir(pattern):
                pattern = os.path.join(pattern, "**")
        output = os.path.abspath(output) if _is_local(output) else output.rstrip("/")
        wildcard = min((pattern.index(ch) for ch in "*?[" if ch in pattern), default=len(pattern))
        self.base = pattern[: pattern.rfind("/", 0, wildcard) + 1]
        if (self.base + "/").startswith(output.rstrip("/") + "/"):
            msg = f"the output prefix {output!r} holds the inputs ({pattern!r}): choose one outside {self.base!r}"
            raise ValueError(msg)
        self.pattern, self.output, self.suffix = pattern, output, suffix

    @property
    def manifest(self) -> str:
        return f"{self.output}/{MANIFEST_NAME}"

    def outputs_pattern(self) -> str:
        return f"{self.output}/**"

    def is_input(self, path: str) -> bool:
        """An image name under the base, none of its parts hidden, not under the output prefix."""
        relative = path[len(self.base) :] if path.startswith(self.base) else None
        if relative is None or path.startswith(self.output + "/"):
            return False
        parts = relative.split("/")
        return not any(part.startswith(".") for part in parts) and is_image_name(parts[-1])

    def target(self, source: str) -> str:
        folder, _, name = source[len(self.base) :].rpartition("/")
        return "/".join(part for part in (self.output, folder, output_name(name, self.suffix)) if part)

    def keyed_input(self, metadata) -> list[tuple[str, tuple[str, Any]]]:
        """A matched file -> [(its output, ("input", its path))], or [] for no input."""
        return self.keyed_path(metadata.path)

    def keyed_path(self, path: str) -> list[tuple[str, tuple[str, Any]]]:
        """A matched path -> [(its output, ("input", path))], or [] for no input."""
        return [(self.target(path), ("input", path))] if self.is_input(path) else []

    def keyed_output(self, metadata) -> list[tuple[str, tuple[str, Any]]]:
        """A file under the output prefix -> [(its path, ("exists", True))] for a finished output."""
        name = metadata.path.rsplit("/", 1)[-1]
        done = name.endswith(f"{self.suffix}.png") and not name.startswith(".")
        return [(metadata.path, ("exists", True))] if done else []


def _broken_links(pattern: str) -> list[str]:
    """The symlinks that lead nowhere (dangling, loops) among the local paths ``pattern`` matches: Beam's match
    leaves them out (they have no size), the manifest lists them as skipped."""
    if not _is_local(pattern) or not any(ch in pattern for ch in "*?["):
        return []
    matches = re.compile(FileSystems.get_filesystem(pattern).translate_pattern(pattern)).match
    folder = os.path.dirname(re.match(r"[^[*?]*", pattern).group(0))  # where Beam's match lists
    broken = []
    for root, _, names in os.walk(folder):  # as Beam's: symlinked folders are not entered
        paths = (os.path.join(root, name) for name in names)
        broken.extend(path for path in paths if os.path.islink(path) and not os.path.exists(path) and matches(path))
    return broken


def _keyed_previous(line: str) -> list[tuple[str, tuple[str, Any]]]:
    """A line of the previous manifest -> [(its output, ("previous", row))]; [] for a line that is no row."""
    try:
        row = json.loads(line)
    except json.JSONDecodeError:
        return []
    if not isinstance(row, dict) or not isinstance(row.get("output"), str):
        return []
    return [(row["output"], ("previous", row))]


def _clash(task: Task, owner: str) -> dict:
    return _row(task, FAILED, error=f"its output {task.target} is already the output of {owner}")


def _colorized_before(row: dict | None) -> bool:
    return row is not None and row.get("status") in (COLORIZED, SKIPPED)


class _Decide(beam.DoFn):
    """(output, [("input", path) | ("exists", True) | ("previous", row)]) -> the tuple of Tasks to try for that
    output, in sort order (:class:`_Decode` takes the first it can decode), or rows on "rows".

    An existing output is skipped, in the row of the input the previous manifest gave it to (else the first);
    an input that failed in the previous run keeps its row unless ``retry_failed``.
    """

    def __init__(self, retry_failed: bool) -> None:
        self.retry_failed = retry_failed

    def process(self, element):
        target, values = element
        tasks = [Task(source, target) for source in sorted({value for kind, value in values if kind == "input"})]
        if not tasks:
            return
        previous = {row.get("input"): row for kind, row in values if kind == "previous"}
        kept = {  # failed in the previous run, not retried
            task: previous[task.source]
            for task in tasks
            if not self.retry_failed and previous.get(task.source, {}).get("status") == FAILED
        }
        owner = None
        if any(kind == "exists" for kind, _ in values):
            owner = next((task for task in tasks if _colorized_before(previous.get(task.source))), tasks[0])
            size = previous[owner.source].get("size") if _colorized_before(previous.get(owner.source)) else None
            yield beam.pvalue.TaggedOutput("rows", _row(owner, SKIPPED, size=size))
        for task in tasks:
            if task in kept and task != owner:
                yield beam.pvalue.TaggedOutput("rows", _row(task, FAILED, error=kept[task].get("error")))
            elif owner is not None and task != owner:
                yield beam.pvalue.TaggedOutput("rows", _clash(task, owner.source))
        tries = tuple(task for task in tasks if task not in kept)
        if owner is None and tries:
            yield tries


def _read(source: str) -> np.ndarray:
    """The pixels of the image at ``source`` as ``colorize`` takes them (see :class:`Decoded`);
    :class:`ColorizedOutput` for an output of hypercol."""
    from hypercol.core.arrays import MAX_PIXELS  # TensorFlow's color math with it: on the workers only

    if _is_local(source):
        return read_image(Path(source), refuse_outputs=True, max_pixels=MAX_PIXELS)

    with FileSystems.open(source, compression_type=CompressionTypes.UNCOMPRESSED) as stream:
        return decode_image(io.BytesIO(stream.read()), refuse_outputs=True, max_pixels=MAX_PIXELS)


class _Decode(beam.DoFn):
    """The Tasks to try for one output -> a Decoded for the first that reads and decodes, with a row on "rows"
    for each one before it (skipped: no regular file, or an output of hypercol; failed: unreadable or corrupt)
    and a clash for each one after it."""

    def process(self, tasks: tuple[Task, ...]):
        for index, task in enumerate(tasks):
            what = not_regular(Path(task.source)) if _is_local(task.source) else None
            if what is not None:  # as the command line: reported, never opened
                yield beam.pvalue.TaggedOutput("rows", _row(task, SKIPPED, error=f"{what}, not a regular file"))
                continue
            try:
                pixels = _read(task.source)
            except ColorizedOutput as error:
                yield beam.pvalue.TaggedOutput("rows", _row(task, SKIPPED, error=str(error)))
                continue
            except Exception as error:  # noqa: BLE001 -- one bad file must not stop the others
                yield beam.pvalue.TaggedOutput("rows", _row(task, FAILED, error=_describe(error)))
                continue
            yield Decoded(task, pixels)
            for other in tasks[index + 1 :]:
                yield beam.pvalue.TaggedOutput("rows", _clash(other, task.source))
            return


def _pixel_bytes(example: Decoded) -> int:
    return example.pixels.nbytes


class ColorizeModelHandler(ModelHandler[Decoded, Colorized, Any]):
    """RunInference's model handler: loads the colorizer once per worker process, colorizes batches.

    ``weights``/``head`` pick the head as :func:`hypercol.inference.colorizer.get_colorizer` does
    (``weights`` must be readable at that path on every worker; the shipped heads always
    are); ``temperature``/``saturation`` as ``colorize``. Each image is colorized on its
    own (images of a batch differ in size), one call at a time per process (the threads of
    a worker process take turns); one that fails yields a :class:`Colorized`
    with its error instead of failing the batch. A batch holds at most ``max_batch_size``
    decoded images (memory: up to 4 x 64 MB for 8000 x 8000 scans, plus their outputs).
    """

    def __init__(
        self,
        weights: str | None = None,
        head: str | None = None,
        *,
        temperature: float | None = None,
        saturation: float | None = None,
        max_batch_size: int = 4,
    ) -> None:
        super().__init__(min_batch_size=1, max_batch_size=max_batch_size)
        self.weights = None if weights is None else str(weights)
        self.head, self.temperature, self.saturation = head, temperature, saturation

    def load_model(self):
        from hypercol.inference.colorizer import get_colorizer

        colorizer = get_colorizer(self.weights, self.head)
        colorizer.settings(self.temperature, self.saturation)  # checks the knobs against this head
        return colorizer

    def run_inference(self, batch, model, inference_args=None) -> list[Colorized]:
        """``batch``: a sequence of :class:`Decoded`; one :class:`Colorized` for each, in order."""
        results = []
        for example in batch:
            try:
                with _COLORIZE_LOCK:
                    rgb = model.colorize(example.pixels, temperature=self.temperature, saturation=self.saturation)
            except Exception as error:  # noqa: BLE001 -- one bad image must not fail its batch
                results.append(Colorized(example.task, None, _describe(error)))
                continue
            results.append(Colorized(example.task, rgb))
        return results

    def get_num_bytes(self, batch) -> int:
        return sum(map(_pixel_bytes, batch))

    def get_metrics_namespace(self) -> str:
        return _NAMESPACE


def _write_remote(pixels: np.ndarray, target: str, note: str) -> bool:
    """Writes ``pixels`` to ``target`` on a non-local file system through a temporary beside it and a
    rename; False if the output exists."""
    if FileSystems.exists(target):
        return False
    folder, name = FileSystems.split(target)
    prefix, suffix = temporary_affixes(name)
    temp = FileSystems.join(folder, f"{prefix}{secrets.token_hex(4)}{suffix}")
    try:
        with FileSystems.create(temp, mime_type="image/png", compression_type=CompressionTypes.UNCOMPRESSED) as out:
            save_image(pixels, out, name, note)
        FileSystems.rename([temp], [target])
    finally:
        if FileSystems.exists(temp):
            FileSystems.delete([temp])
    return True


class _Write(beam.DoFn):
    """Colorized -> its manifest row, after writing its PNG (never over an existing file) with ``note``
    (:func:`hypercol.io.files.output_note`)."""

    def __init__(self, note: str) -> None:
        self.note = note

    def setup(self) -> None:
        self.mode_bits = 0o666 & ~current_umask()
        self.cleaned: set[Path] = set()

    def _write(self, pixels: np.ndarray, target: str) -> bool:
        if not _is_local(target):
            return _write_remote(pixels, target, self.note)
        path = Path(target)
        if path.parent not in self.cleaned:  # temporaries of a killed earlier run
            remove_stale_temporaries([path.parent])
            self.cleaned.add(path.parent)
        return write_image_atomic(pixels, path, overwrite=False, mode_bits=self.mode_bits, note=self.note)

    def process(self, result: Colorized):
        if result.error is not None:
            yield _row(result.task, FAILED, error=result.error)
            return
        size = [int(result.pixels.shape[1]), int(result.pixels.shape[0])]
        try:
            written = self._write(result.pixels, result.task.target)
        except Exception as error:  # noqa: BLE001 -- one failed write must not stop the others
            yield _row(result.task, FAILED, error=_describe(error))
            return
        yield _row(result.task, COLORIZED if written else SKIPPED, size=size)


def _counted(row: dict) -> str:
    """A manifest row -> its JSON line, counted in the metric named by its status."""
    Metrics.counter(_NAMESPACE, row["status"]).inc()
    return json.dumps(row, ensure_ascii=False)


class ColorizeArchive(beam.PTransform):
    """``pipeline | ColorizeArchive(pattern, output, ...)``: colorizes every image ``pattern`` matches into
    ``output`` (see :class:`ArchiveLayout`) and returns the manifest rows (dicts), already written to
    ``output/manifest.jsonl``. Knobs as :class:`ColorizeModelHandler`; see the module's docstring for reruns.
    """

    def __init__(
        self,
        pattern: str,
        output: str,
        *,
        suffix: str = "_color",
        retry_failed: bool = False,
        **handler_options,
    ) -> None:
        super().__init__()
        from hypercol.core.precision import configure_precision

        # The graph rewrite is process-global, but TensorFlow caches it per thread for threads
        # that already ran a function: chosen here, in the launching thread, an in-process
        # runner's worker threads and this thread colorize alike.
        configure_precision()
        self.layout = ArchiveLayout(pattern, output, suffix)
        self.retry_failed = retry_failed
        self.handler = ColorizeModelHandler(**handler_options)
        check_head(self.handler.weights, self.handler.head, self.handler.temperature, self.handler.saturation)
        self.note = output_note(resolve_weights(self.handler.weights, self.handler.head))

    def expand(self, pbegin):
        layout = self.layout
        inputs = (
            pbegin
            | "Match inputs" >> fileio.MatchFiles(layout.pattern, empty_match_treatment="ALLOW")
            | "Key inputs by output" >> beam.FlatMap(layout.keyed_input)
        )
        broken_links = (
            pbegin
            | "Input pattern" >> beam.Create([layout.pattern])
            | "Match broken links" >> beam.FlatMap(_broken_links)
            | "Key broken links by output" >> beam.FlatMap(layout.keyed_path)
        )
        existing = (
            pbegin
            | "Match outputs" >> fileio.MatchFiles(layout.outputs_pattern(), empty_match_treatment="ALLOW")
            | "Key outputs" >> beam.FlatMap(layout.keyed_output)
        )
        previous = (
            pbegin
            | "Manifest path" >> beam.Create([layout.manifest])
            | "If it exists" >> beam.Filter(FileSystems.exists)
            | "Read previous manifest" >> beam.io.ReadAllFromText()
            | "Key previous rows" >> beam.FlatMap(_keyed_previous)
        )
        planned = (
            (inputs, broken_links, existing, previous)
            | "Together" >> beam.Flatten()
            | "By output" >> beam.GroupByKey()
            | "Decide" >> beam.ParDo(_Decide(self.retry_failed)).with_outputs("rows", main="tasks")
        )
        decoded = planned.tasks | "Decode" >> beam.ParDo(_Decode()).with_outputs("rows", main="examples")
        written = (
            decoded.examples | "Colorize" >> RunInference(self.handler) | "Write PNGs" >> beam.ParDo(_Write(self.note))
        )
        rows = (planned.rows, decoded.rows, written) | "Rows" >> beam.Flatten()
        _ = (
            rows
            | "To JSON" >> beam.Map(_counted)
            | "Write manifest" >> beam.io.WriteToText(layout.manifest, shard_name_template="", num_shards=1)
        )
        return rows


def _counters(result) -> dict[str, int]:
    """The run's number of rows of each status, from its metrics."""
    counts = dict.fromkeys(STATUSES, 0)
    for counter in result.metrics().query(MetricsFilter().with_namespace(_NAMESPACE))["counters"]:
        if counter.key.metric.name in counts:
            value = counter.committed if counter.committed is not None else counter.attempted
            counts[counter.key.metric.name] += int(value or 0)
    return counts


def colorize_archive(
    pattern: str,
    output: str,
    *,
    options: PipelineOptions | list[str] | None = None,
    suffix: str = "_color",
    retry_failed: bool = False,
    **handler_options,
) -> dict:
    """Runs :class:`ColorizeArchive` as a pipeline of its own and waits for it.

    ``options``: Beam's pipeline options (a :class:`PipelineOptions` or its command-line
    arguments, e.g. ``["--runner=DataflowRunner", "--project=...", ...]``; default: the
    DirectRunner). ``handler_options``: ``weights``, ``head``, ``temperature``,
    ``saturation``, ``max_batch_size`` (:class:`ColorizeModelHandler`).
    Returns ``{"colorized": n, "skipped": n, "failed": n, "manifest": path}``.
    """
    if not isinstance(options, PipelineOptions):
        options = PipelineOptions(list(options or []))
    transform = ColorizeArchive(pattern, output, suffix=suffix, retry_failed=retry_failed, **handler_options)
    pipeline = beam.Pipeline(options=options)
    _ = pipeline | "Colorize archive" >> transform
    result = pipeline.run()
    result.wait_until_finish()
    return {**_counters(result), "manifest": transform.layout.manifest}
