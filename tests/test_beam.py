"""Issue 12: the archive pipeline on Apache Beam's DirectRunner (2 workers), over real photos and corrupt files."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np
import pytest
from apache_beam.io.filesystem import FileMetadata
from apache_beam.io.localfilesystem import LocalFileSystem
from apache_beam.pvalue import TaggedOutput
from PIL import Image
from skimage import data

from hypercol.beam import ArchiveLayout, ColorizeModelHandler, Decoded, Task, colorize_archive
from hypercol.cli import main
from hypercol.inference.colorizer import colorize
from hypercol.io.images import read_image

DIRECT = ["--direct_num_workers=2", "--direct_running_mode=multi_threading"]
PHOTOS = ["astronaut", "camera", "coffee", "chelsea", "rocket", "moon", "coins", "clock"]
PHOTOS += ["hubble_deep_field", "immunohistochemistry", "retina", "cell", "page", "brick", "grass", "gravel"]
CORRUPT = ["broken/truncated.png", "broken/random.jpg", "broken/empty.png"]


def _small(name: str, long_side: int = 48) -> Image.Image:
    """scikit-image's photo ``name``, its long side resized to ``long_side``."""
    image = Image.fromarray(getattr(data, name)())
    scale = long_side / max(image.size)
    return image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.BILINEAR)


def _write_archive(folder: Path) -> list[str]:
    """32 real photos in several formats and folders, 3 corrupt files, one output-name clash, hidden and
    non-image files; returns the inputs' relative paths (corrupt ones too)."""
    written = []
    for index, name in enumerate(PHOTOS):
        image = _small(name)
        variants = {
            f"{index % 3}/{name}.png": image.convert("L"),
            f"{index % 3}/deeper/{name}_gray.jpg": image.convert("L"),
        }
        if index == 2:  # EXIF orientation: the decoded pixels must be the turned ones
            exif = Image.Exif()
            exif[0x0112] = 6
            variants[f"{index % 3}/deeper/{name}_gray.jpg"] = (image.convert("L"), {"exif": exif})
        if index == 1:  # 16-bit gray
            variants[f"{index % 3}/{name}.png"] = Image.fromarray(np.asarray(image.convert("L"), np.uint16) * 257)
        if index == 3:  # transparency rides along
            variants[f"{index % 3}/{name}.png"] = image.convert("RGBA")
        for relative, value in variants.items():
            picture, extra = value if isinstance(value, tuple) else (value, {})
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            picture.save(folder / relative, **extra)
            written.append(relative)
    (folder / "broken").mkdir()
    buffer = io.BytesIO()
    _small("coffee").save(buffer, format="PNG")
    (folder / CORRUPT[0]).write_bytes(buffer.getvalue()[: len(buffer.getvalue()) // 2])
    (folder / CORRUPT[1]).write_bytes(np.random.default_rng(0).bytes(500))
    (folder / CORRUPT[2]).write_bytes(b"")
    _small("camera").convert("L").save(folder / "1/camera.tif")  # clashes with 1/camera.png
    (folder / "notes.txt").write_text("not an image")
    _small("camera").save(folder / ".hidden.png")
    return [*written, *CORRUPT, "1/camera.tif"]


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> tuple[Path, list[str]]:
    folder = tmp_path_factory.mktemp("archive")
    return folder, _write_archive(folder)


@pytest.fixture(scope="module")
def first_run(archive, tiny_weights, tmp_path_factory) -> tuple[dict, Path]:
    out = tmp_path_factory.mktemp("colored") / "out"
    summary = colorize_archive(str(archive[0]), str(out), weights=str(tiny_weights), options=DIRECT)
    return summary, out


def _output_name(relative: str) -> str:
    return f"{relative.rsplit('.', 1)[0]}_color.png"


def _manifest(out: Path) -> dict[str, dict]:
    rows = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    by_input = {row["input"]: row for row in rows}
    assert len(by_input) == len(rows)
    return by_input


def _outputs(out: Path) -> dict[str, tuple[bytes, int]]:
    return {str(p.relative_to(out)): (p.read_bytes(), p.stat().st_mtime_ns) for p in out.rglob("*.png")}


def test_outputs_equal_colorize_and_the_command_line(archive, first_run, tiny_weights, tmp_path) -> None:
    folder, inputs = archive
    summary, out = first_run
    assert summary["colorized"] == 32 and summary["failed"] == 4 and summary["skipped"] == 0
    good = [relative for relative in inputs if relative not in CORRUPT and relative != "1/camera.tif"]
    differ = {}
    for relative in good:
        with Image.open(out / _output_name(relative)) as image:
            expected = colorize(read_image(folder / relative), weights=tiny_weights)
            if not np.array_equal(np.asarray(image), expected):
                differ[relative] = int(np.abs(np.asarray(image, int) - expected).max())
    assert differ == {}, sorted(differ.items())
    assert main(["colorize", str(folder), "-o", str(tmp_path / "cli"), "--weights", str(tiny_weights), "-q"]) == 1
    cli_outputs = {name: content for name, (content, _) in _outputs(tmp_path / "cli").items()}
    assert cli_outputs == {name: content for name, (content, _) in _outputs(out).items()}  # byte for byte
    assert not [path for path in out.rglob(".*")]  # no temporaries left


def test_manifest_lists_every_input(archive, first_run) -> None:
    folder, inputs = archive
    _, out = first_run
    rows = _manifest(out)
    assert set(rows) == {str(folder / relative) for relative in inputs}
    for relative in inputs:
        row = rows[str(folder / relative)]
        assert set(row) == {"input", "output", "size", "status", "error"}
        assert row["output"] == str(out / _output_name(relative))
        if relative in CORRUPT:
            assert row["status"] == "failed" and row["size"] is None and row["error"]
        elif relative == "1/camera.tif":
            assert row["status"] == "failed" and "already the output of" in row["error"]
        else:
            assert row["status"] == "colorized" and row["error"] is None
            with Image.open(row["output"]) as image:
                assert row["size"] == list(image.size)
    assert "truncated" in rows[str(folder / CORRUPT[0])]["error"]
    assert rows[str(folder / "2/deeper/coffee_gray.jpg")]["size"] == [32, 48]  # EXIF: turned (48 x 32 stored)


def test_rerun_does_no_work(archive, first_run, tiny_weights, monkeypatch) -> None:
    """Reruns into ``first_run``'s output folder (its outputs stay as they are; its manifest is rewritten)."""
    import hypercol.beam

    folder, _ = archive
    out = first_run[1]
    before, first_rows = _outputs(out), _manifest(out)
    decoded = []
    monkeypatch.setattr(hypercol.beam, "_read", lambda source: decoded.append(source) or read_image(Path(source)))
    summary = colorize_archive(str(folder), str(out), weights=str(tiny_weights), options=DIRECT)
    assert (summary["colorized"], summary["skipped"], summary["failed"]) == (0, 32, 4)
    assert decoded == [] and _outputs(out) == before
    rows = _manifest(out)
    assert set(rows) == set(first_rows)
    for name, row in rows.items():
        first = first_rows[name]
        assert row == (
            {**first, "status": "skipped"} if first["status"] == "colorized" else first
        )  # sizes, errors kept
    summary = colorize_archive(str(folder), str(out), weights=str(tiny_weights), options=DIRECT, retry_failed=True)
    assert (summary["colorized"], summary["skipped"], summary["failed"]) == (0, 32, 4)
    assert sorted(decoded) == sorted(str(folder / relative) for relative in CORRUPT)
    assert _outputs(out) == before


def test_command_line(tmp_path, tiny_weights, capsys) -> None:
    folder = tmp_path / "scans"
    folder.mkdir()
    for name in ("coffee", "camera"):
        _small(name, 32).save(folder / f"{name}.png")
    (folder / "bad.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    out = tmp_path / "colored"
    argv = ["colorize-beam", str(folder / "*.*"), "-o", str(out), "--weights", str(tiny_weights), *DIRECT]
    assert main(argv) == 1
    assert "2 colorized, 0 skipped, 1 failed; manifest" in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["camera_color.png", "coffee_color.png", "manifest.jsonl"]
    assert main(argv) == 1 and "0 colorized, 2 skipped, 1 failed" in capsys.readouterr().out
    (folder / "bad.jpg").unlink()
    assert main(argv) == 0 and "0 colorized, 2 skipped, 0 failed" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["{tmp}/nothing/*.png", "-o", "{tmp}/o"], "no files match"),
        (["{tmp}/*.png", "-o", "{tmp}"], "holds the inputs"),
        (["{tmp}/*.png", "-o", "{tmp}/o", "--suffix", "a/b"], "path separator"),
        (["{tmp}/*.png", "-o", "{tmp}/o", "--weights", "{tmp}/none.weights.h5"], "not found"),
        (["{tmp}/*.png", "-o", "{tmp}/o", "--head", "regression", "--temperature", "0.5"], "classification heads"),
    ],
)
def test_command_line_usage_errors(argv, message, tmp_path, capsys) -> None:
    _small("camera", 16).save(tmp_path / "a.png")
    code = main(["colorize-beam", *(arg.format(tmp=tmp_path) for arg in argv)])
    assert code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_unknown_arguments_are_refused_by_other_commands(capsys) -> None:
    assert main(["backbones", "--direct_num_workers=2"]) == 2
    assert "unrecognized arguments: --direct_num_workers=2" in capsys.readouterr().err


def test_layout(tmp_path, monkeypatch) -> None:
    layout = ArchiveLayout("gs://bucket/scans/19[5-6]?/**/*.tif", "gs://bucket/colored/", "_c")
    assert layout.base == "gs://bucket/scans/" and layout.manifest == "gs://bucket/colored/manifest.jsonl"
    assert layout.target("gs://bucket/scans/1950/box 1/a.b.tif") == "gs://bucket/colored/1950/box 1/a.b_c.png"
    assert layout.is_input("gs://bucket/scans/1950/a.TIF")
    assert not layout.is_input("gs://bucket/scans/1950/.a.tif") and not layout.is_input("gs://bucket/scans/.x/a.tif")
    assert not layout.is_input("gs://bucket/scans/1950/a.txt")
    inside = ArchiveLayout(str(tmp_path), str(tmp_path / "colored"))  # a folder: all its images, recursively
    assert inside.pattern == f"{tmp_path}/**" and not inside.is_input(f"{tmp_path}/colored/a_color.png")
    assert inside.target(f"{tmp_path}/a/b.jpg") == f"{tmp_path}/colored/a/b_color.png"
    monkeypatch.chdir(tmp_path)
    relative = ArchiveLayout("photos/*.jpg", "out")
    assert relative.base == f"{tmp_path}/photos/" and relative.output == f"{tmp_path}/out"
    with pytest.raises(ValueError, match="holds the inputs"):
        ArchiveLayout(f"{tmp_path}/photos/*.jpg", str(tmp_path))


def test_model_handler_reports_a_bad_image_without_failing_its_batch(tiny_weights) -> None:
    handler = ColorizeModelHandler(str(tiny_weights))
    colorizer = handler.load_model()
    gray = np.asarray(_small("camera", 24).convert("L"))
    batch = [Decoded(Task("a", "a_color.png"), gray), Decoded(Task("b", "b_color.png"), np.zeros((0, 3), np.uint8))]
    good, bad = handler.run_inference(batch, colorizer)
    np.testing.assert_array_equal(good.pixels, colorize(gray, weights=tiny_weights))
    assert bad.pixels is None and bad.error.startswith("ValueError:") and bad.task.source == "b"
    assert handler.get_num_bytes(batch) == gray.nbytes


class _SchemeFileSystem(LocalFileSystem):
    """Local files under a URL scheme (``hypercoltest:///tmp/x`` is ``/tmp/x``): Beam's code path for
    file systems other than the local one (gs://, s3://, ...), run without a network."""

    PREFIX = "hypercoltest://"

    @classmethod
    def scheme(cls) -> str:
        return "hypercoltest"

    @classmethod
    def _local(cls, path: str) -> str:
        return path.removeprefix(cls.PREFIX)

    def join(self, base, *paths):
        return self.PREFIX + super().join(self._local(base), *paths)

    def split(self, path):
        folder, name = super().split(self._local(path))
        return self.PREFIX + folder, name

    def _list(self, url):
        for root, _, names in os.walk(self._local(url)):
            for name in names:
                path = os.path.join(root, name)
                yield FileMetadata(self.PREFIX + path, os.path.getsize(path), os.path.getmtime(path))

    def create(self, path, *args, **kwargs):
        return super().create(self._local(path), *args, **kwargs)

    def open(self, path, *args, **kwargs):
        return super().open(self._local(path), *args, **kwargs)

    def rename(self, sources, targets):
        return super().rename([self._local(p) for p in sources], [self._local(p) for p in targets])

    def copy(self, sources, targets):
        return super().copy([self._local(p) for p in sources], [self._local(p) for p in targets])

    def delete(self, paths):
        return super().delete([self._local(p) for p in paths])

    def mkdirs(self, path):
        return super().mkdirs(self._local(path))

    def exists(self, path):
        return super().exists(self._local(path))

    def size(self, path):
        return super().size(self._local(path))

    def last_updated(self, path):
        return super().last_updated(self._local(path))

    def checksum(self, path):
        return super().checksum(self._local(path))

    def metadata(self, path):
        found = super().metadata(self._local(path))
        return FileMetadata(path, found.size_in_bytes, found.last_updated_in_seconds)


def test_other_file_systems(archive, first_run, tiny_weights, tmp_path) -> None:
    """The same archive through a non-local Beam file system: the same outputs, written through a
    temporary and a rename, and a manifest in that file system's names."""
    folder, _ = archive
    out = tmp_path / "remote"
    summary = colorize_archive(
        f"hypercoltest://{folder}/[0-2]/**", f"hypercoltest://{out}", weights=str(tiny_weights), options=DIRECT
    )
    assert (summary["colorized"], summary["failed"]) == (32, 1)  # the clash; broken/ is not matched
    assert {name: content for name, (content, _) in _outputs(out).items()} == {
        name: content for name, (content, _) in _outputs(first_run[1]).items()
    }
    rows = _manifest(out)
    assert all(row["output"].startswith(f"hypercoltest://{out}/") for row in rows.values())
    assert not list(out.rglob(".*"))


def test_model_handler_colorizes_one_image_at_a_time_per_process() -> None:
    """Threads of one worker process take turns (concurrent colorize calls crashed the XLA color kernel)."""
    import threading
    import time

    class Model:
        running, most = 0, 0

        def colorize(self, pixels, **knobs):
            Model.running += 1
            Model.most = max(Model.most, Model.running)
            time.sleep(0.01)
            Model.running -= 1
            return pixels

    handler = ColorizeModelHandler()
    batch = [Decoded(Task(str(i), f"{i}.png"), np.zeros((2, 2), np.uint8)) for i in range(5)]
    threads = [threading.Thread(target=handler.run_inference, args=(batch, Model())) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert Model.most == 1


@pytest.mark.parametrize("mode", ["CMYK", "F", "I"])
def test_cmyk_and_32_bit_inputs_are_decoded_as_by_the_command_line(tmp_path, mode) -> None:
    from hypercol.beam import _Decode
    from hypercol.io.images import image_to_array

    gray = np.asarray(_small("camera", 24).convert("L"))
    wide = {"F": gray.astype(np.float32) * 3.5, "I": gray.astype(np.int32) * 70_000}
    image = Image.fromarray(gray).convert("CMYK") if mode == "CMYK" else Image.fromarray(wide[mode])
    path = tmp_path / ("scan.jpg" if mode == "CMYK" else "scan.tif")
    image.save(path)
    (decoded,) = _Decode().process((Task(str(path), str(tmp_path / "scan_color.png")),))
    assert isinstance(decoded, Decoded)
    with Image.open(path) as reopened:
        assert reopened.mode == mode
        np.testing.assert_array_equal(decoded.pixels, image_to_array(reopened))
    np.testing.assert_array_equal(decoded.pixels, read_image(path))


def _split(outputs) -> tuple[list, list[dict]]:
    """A DoFn's outputs -> (its main outputs, its rows on "rows")."""
    outputs = list(outputs)
    rows = [output.value for output in outputs if isinstance(output, TaggedOutput)]
    return [output for output in outputs if not isinstance(output, TaggedOutput)], rows


def test_a_corrupt_input_does_not_take_the_output_name_of_a_good_one(tmp_path) -> None:
    from hypercol.beam import _Decide, _Decode

    encoded = io.BytesIO()
    _small("camera").convert("L").save(encoded, format="JPEG")
    corrupt, good = str(tmp_path / "trunc.jpg"), str(tmp_path / "trunc.png")
    Path(corrupt).write_bytes(encoded.getvalue()[: len(encoded.getvalue()) // 2])  # first in sort order
    _small("coffee").save(good)
    target = str(tmp_path / "out" / "trunc_color.png")
    planned, rows = _split(_Decide(retry_failed=False).process((target, [("input", good), ("input", corrupt)])))
    assert rows == []
    decoded = []
    for tasks in planned:
        examples, decode_rows = _split(_Decode().process(tasks))
        decoded += examples
        rows += decode_rows
    assert [example.task for example in decoded] == [Task(good, target)]
    assert [(row["input"], row["status"]) for row in rows] == [(corrupt, "failed")]
    assert "already the output" not in rows[0]["error"]
    # The rerun: the output is the good input's (skipped, its size kept); the corrupt one's failure is carried over.
    previous = [{**rows[0]}, {"input": good, "output": target, "size": [48, 32], "status": "colorized", "error": None}]
    values = [("input", corrupt), ("input", good), ("exists", True), *(("previous", row) for row in previous)]
    planned, rows = _split(_Decide(retry_failed=False).process((target, values)))
    assert planned == []
    assert sorted((row["input"], row["status"], row["size"]) for row in rows) == [
        (corrupt, "failed", None),
        (good, "skipped", [48, 32]),
    ]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_manifest_lists_entries_that_are_no_regular_files(tmp_path, tiny_weights, capsys) -> None:
    """Dangling symlinks, symlink loops and FIFOs are skipped with the reason, as by the command line."""
    folder = tmp_path / "scans"
    folder.mkdir()
    _small("camera", 24).save(folder / "camera.png")
    (folder / "dangling.png").symlink_to(folder / "gone.png")
    (folder / "loop.png").symlink_to(folder / "loop.png")
    os.mkfifo(folder / "pipe.png")
    out = tmp_path / "out"
    assert main(["colorize-beam", str(folder), "-o", str(out), "--weights", str(tiny_weights)]) == 0
    assert "1 colorized, 3 skipped, 0 failed" in capsys.readouterr().out
    rows = _manifest(out)
    assert set(rows) == {str(folder / name) for name in ("camera.png", "dangling.png", "loop.png", "pipe.png")}
    for name, what in (("dangling.png", "a dangling symlink"), ("loop.png", "a symlink loop"), ("pipe.png", "a FIFO")):
        row = rows[str(folder / name)]
        assert (row["status"], row["error"], row["size"]) == ("skipped", f"{what}, not a regular file", None)
    assert rows[str(folder / "camera.png")]["status"] == "colorized"


def test_an_output_of_hypercol_is_never_an_input(tmp_path, tiny_weights) -> None:
    from hypercol.beam import _Decode
    from hypercol.io.files import output_note, write_image_atomic

    gray = np.asarray(_small("camera", 24).convert("L"))
    earlier = tmp_path / "scans" / "camera_old.png"  # an output of the command line, renamed
    write_image_atomic(colorize(gray, weights=tiny_weights), earlier, overwrite=False, mode_bits=0o644, note="x")
    examples, rows = _split(_Decode().process((Task(str(earlier), str(tmp_path / "out" / "camera_old_color.png")),)))
    assert examples == [] and [(row["status"], row["error"]) for row in rows] == [
        ("skipped", "an output of an earlier run (x), not colorized again")
    ]
    out = tmp_path / "out"
    summary = colorize_archive(str(tmp_path / "scans"), str(out), weights=str(tiny_weights), options=DIRECT)
    assert (summary["colorized"], summary["skipped"], summary["failed"]) == (0, 1, 0)
    assert _manifest(out)[str(earlier)]["status"] == "skipped"
    # Its own outputs carry the note too, as the command line's.
    _small("coffee", 24).save(tmp_path / "scans" / "coffee.png")
    assert (
        colorize_archive(str(tmp_path / "scans"), str(out), weights=str(tiny_weights), options=DIRECT)["colorized"] == 1
    )
    with Image.open(out / "coffee_color.png") as image:
        assert image.info["hypercol"] == output_note(tiny_weights)
