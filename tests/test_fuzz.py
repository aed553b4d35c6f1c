"""Fuzzing colorize: hundreds of seeded malformed inputs, each refused with a ValueError/TypeError or colorized
into a finite image of the right shape and dtype, never NaN. Small arrays and the tiny model keep it to seconds.
And the command, on seeded folders full of odd files (issue 23)."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hypercol.core.arrays import as_image_batch

SEED = 20240610
CASES = 600
TIME_BUDGET = 300.0  # seconds: the loop stops there (it takes 10-30 s on 2 cores); at least MIN_CASES must run
MIN_CASES = 500
DTYPES = ["u1", "u2", ">u2", "<u2", "f2", "f4", ">f4", "f8", ">f8", "i1", "i4", "i8", "?", "c8", "O", "U3", "M8[s]"]


def _values(rng, shape, dtype: np.dtype):
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        return rng.integers(info.min, int(info.max) + 1, shape).astype(dtype)
    if dtype.kind == "f":
        values = rng.uniform(-0.2, 1.2, shape) if rng.random() < 0.3 else rng.uniform(0, 1, shape)
        if rng.random() < 0.2 and values.size:
            values.flat[rng.integers(values.size)] = rng.choice([np.nan, np.inf, -np.inf])
        return values.astype(dtype)
    if dtype.kind == "M":
        return np.zeros(shape, dtype)
    return rng.integers(0, 2, shape).astype(dtype)


def _shape(rng) -> tuple[int, ...]:
    ndim = int(rng.choice([0, 1, 2, 2, 3, 3, 4, 4, 5]))
    shape = [int(rng.integers(1, 9)) for _ in range(ndim)]
    if ndim >= 3 and rng.random() < 0.6:
        shape[-1] = int(rng.choice([1, 2, 3, 4, 5]))
    if shape and rng.random() < 0.1:
        shape[int(rng.integers(ndim))] = 0
    return tuple(shape)


def _any_array(rng):
    return _values(rng, _shape(rng), np.dtype(rng.choice(DTYPES)))


def _huge(rng):
    """Dimensions past the pixel limit, per image or per call: must be refused before anything is allocated."""
    side = int(rng.integers(10_001, 60_000))
    shape = rng.choice(["one", "channels", "batch", "many"])
    dims = {
        "one": (side, side),
        "channels": (side, side, int(rng.choice([1, 2, 3, 4]))),
        "batch": (int(rng.integers(2, 5)), side, side, 3),
        "many": (int(rng.integers(101, 5000)), 1000, 1000),
    }[str(shape)]
    return np.broadcast_to(np.zeros((), rng.choice(["u1", "u2", "f4", "f8"])), dims)


def _masked(rng):
    image = _values(rng, (int(rng.integers(1, 9)), int(rng.integers(1, 9))), np.dtype(rng.choice(["u1", "f4"])))
    return np.ma.array(image, mask=rng.random(image.shape) < rng.choice([0.0, 0.3]))


def _view(rng):
    image = _values(rng, (int(rng.integers(2, 12)), int(rng.integers(2, 12)), 4), np.dtype(rng.choice(["u1", "f4"])))
    views = [image[::2, ::-1, :3], image[..., 0].T, np.asfortranarray(image), image[1:, :, 3:], image[:, ::3, ::2]]
    return views[int(rng.integers(len(views)))]


def _listed(rng):
    image = _values(rng, (int(rng.integers(1, 5)), int(rng.integers(1, 5))), np.dtype(rng.choice(["u1", "f4"])))
    lists = [image.tolist(), [[0.5, 0.2], [0.1]], [["a", "b"], ["c", "d"]], [[None, 1.0]], []]
    return lists[int(rng.integers(len(lists)))]


def _not_an_array(rng):
    return [None, 5, 0.5, "gray.png", b"\x00\x01", {"a": 1}, object(), np.float32(0.5)][int(rng.integers(8))]


GENERATORS = [_any_array] * 5 + [_huge, _masked, _view, _listed, _not_an_array]


def _expected(image) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype colorize promises for a valid ``image``."""
    array = np.asarray(np.ma.getdata(image))
    shape, dtype = array.shape, (np.dtype(np.uint8) if array.dtype.kind == "u" else np.dtype(np.float32))
    if array.ndim == 2 or (array.ndim == 3 and shape[-1] not in (1, 2, 3, 4)):
        return (*shape, 3), dtype
    return (*shape[:-1], 4 if shape[-1] in (2, 4) else 3), dtype  # gray + alpha comes out RGBA


def _check(colorizer, image, index: int) -> str:
    """'refused' or 'colorized'; fails the test on anything else."""
    try:
        out = colorizer.colorize(image)
    except (ValueError, TypeError):
        return "refused"
    except Exception as error:  # noqa: BLE001 -- the test's point: nothing but ValueError/TypeError
        pytest.fail(f"case {index}: {type(error).__name__}: {error} for {_describe(image)}")
    shape, dtype = _expected(image)
    assert isinstance(out, np.ndarray) and out.shape == shape and out.dtype == dtype, (
        f"case {index}: {_describe(image)}"
    )
    if dtype == np.float32:
        assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0, f"case {index}: {_describe(image)}"
    return "colorized"


def _describe(image) -> str:
    if isinstance(image, np.ndarray):
        return f"{type(image).__name__} shape={image.shape} dtype={image.dtype} strides={image.strides}"
    return repr(image)[:80]


def test_colorize_refuses_or_colorizes_every_malformed_input(tiny_colorizer) -> None:
    rng = np.random.default_rng(SEED)
    outcomes = {"refused": 0, "colorized": 0}
    huge = 0
    deadline = time.monotonic() + TIME_BUDGET
    for index in range(CASES):
        if time.monotonic() > deadline:
            break
        generator = GENERATORS[int(rng.integers(len(GENERATORS)))]
        image = generator(rng)
        if generator is _huge:  # checked first, without colorizing: a failing guard must not take hours
            huge += 1
            with pytest.raises(ValueError, match="pixels"):
                as_image_batch(image)
        outcome = _check(tiny_colorizer, image, index)
        outcomes[outcome] += 1
        if isinstance(image, np.ma.MaskedArray) and np.ma.count_masked(image):
            assert outcome == "refused", f"case {index}: masked values were used"
    assert sum(outcomes.values()) >= MIN_CASES, f"only {sum(outcomes.values())} cases in {TIME_BUDGET} s"
    assert min(outcomes.values()) >= 100 and huge >= 30, (outcomes, huge)  # both paths really exercised


# --- the command on odd file systems (issue 23) ------------------------------------------------------------------

FS_SEED = 20260523
FS_CASES = 20
FOLDERS = ("", "sub", "sub/deep")
STEMS = ("a", "b", "c")  # few names, so that inputs share output names
FORMATS = {
    "L": ("png", "jpg", "tif", "bmp"),
    "RGB": ("png", "jpg"),
    "RGBA": ("png", "tif"),
    "P": ("png", "gif"),
    "LA": ("png",),
    "1": ("png", "bmp"),
    "CMYK": ("jpg", "tif"),
    "I;16": ("png", "tif"),
    "I": ("tif",),
    "F": ("tif",),
}
PATTERNS = ("{in}", "{in}/**", "{in}/**/*.png")
OPTIONS = ("--reference", "--hints", "--weights", "the model card")


def _picture(rng, mode: str) -> Image.Image:
    gray = rng.integers(0, 256, (int(rng.integers(4, 20)), int(rng.integers(4, 20))), dtype=np.uint8)
    if mode == "F":
        return Image.fromarray((gray * rng.uniform(1e-3, 1e3) + rng.uniform(-5, 5)).astype(np.float32))
    if mode == "I":
        return Image.fromarray(gray.astype(np.int32) * int(rng.integers(1, 100_000)) - int(rng.integers(0, 10**6)))
    if mode == "I;16":
        return Image.fromarray(gray.astype(np.uint16) * 257)
    return Image.fromarray(gray).convert(mode)


def _corrupt(rng) -> tuple[str, bytes]:
    """(an image extension, bytes no decoder takes): empty, noise, or a PNG or JPEG cut short."""
    kind = str(rng.choice(["empty", "noise", "png", "jpg"]))
    if kind in ("empty", "noise"):
        return str(rng.choice(["png", "jpg", "tif"])), b"" if kind == "empty" else rng.bytes(int(rng.integers(1, 400)))
    encoded = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(
        encoded, format="PNG" if kind == "png" else "JPEG"
    )
    return kind, encoded.getvalue()[: len(encoded.getvalue()) // 2]


def _odd_file_system(rng, folder: Path, weights: Path, first_mode: str) -> dict[Path, str]:
    """Fills ``folder`` with images of every mode (the first of ``first_mode``), corrupt files, outputs of an
    earlier run, FIFOs, broken and looping symlinks and symlinks to parent folders; returns what each entry is
    ("good MODE", "corrupt", "output", "a FIFO", ...), image-named ones only, by path."""
    from hypercol.io.files import output_note, write_image_atomic

    for sub in FOLDERS[1:]:
        (folder / sub).mkdir(parents=True)
    if rng.random() < 0.6:
        (folder / "sub" / "up").symlink_to("..")  # a ** that follows it lists paths without end
        (folder / "sub" / "deep" / "top").symlink_to("../..")
    kinds: dict[Path, str] = {}
    for index in range(int(rng.integers(1, 6))):
        mode = first_mode if index == 0 else str(rng.choice(list(FORMATS)))
        path = folder / str(rng.choice(FOLDERS)) / f"{rng.choice(STEMS)}.{rng.choice(FORMATS[mode])}"
        if path not in kinds:
            _picture(rng, mode).save(path)
            kinds[path] = f"good {mode}"
    for _ in range(int(rng.integers(0, 3))):
        extension, content = _corrupt(rng)
        path = folder / str(rng.choice(FOLDERS)) / f"{rng.choice(STEMS)}.{extension}"
        if path not in kinds:
            path.write_bytes(content)
            kinds[path] = "corrupt"
    where = folder / str(rng.choice(FOLDERS))
    if rng.random() < 0.4:
        earlier = where / "old_color.png"  # named as no output of this run: only its tag tells
        write_image_atomic(
            np.zeros((4, 4, 3), np.uint8), earlier, overwrite=False, mode_bits=0o644, note=output_note(weights)
        )
        kinds[earlier] = "output"
    odd = {"p.png": "a FIFO", "gone.png": "a dangling symlink", "loop.png": "a symlink loop"}
    for name, what in odd.items():
        if rng.random() < 0.4:
            if what == "a FIFO":
                os.mkfifo(where / name)
            else:
                (where / name).symlink_to(where / (name if what == "a symlink loop" else "nowhere.png"))
            kinds[where / name] = what
    (folder / ".hidden.png").write_bytes(b"never listed")
    (folder / "notes.txt").write_text("not an image")
    return kinds


def _expected_outcomes(images, kinds: dict[Path, str], out: Path, flat: bool) -> tuple[dict, dict]:
    """What the command must do with each listed input, in its order: ({path: (outcome, why)}, {output: input})."""
    outcomes, claimed = {}, {}
    for found in images:
        folder = out if flat else out / found.relative.parent
        target = folder / f"{found.path.stem}_color.png"
        kind = kinds[found.path]
        if target in claimed:
            outcomes[found.path] = ("failed", f"its output {target} is already the output of {claimed[target]}")
        elif kind == "output":
            outcomes[found.path] = ("skipped", "an output of an earlier run")
        elif kind == "corrupt":
            outcomes[found.path] = ("failed", "")
        else:
            outcomes[found.path] = ("colorized", str(target))
            claimed[target] = found.path
    return outcomes, claimed


def _reported(stdout: str, stderr: str) -> dict[Path, tuple[str, str]]:
    """{input: (outcome, the rest of its line)} from what the command printed."""
    reported = {}
    for line in stdout.splitlines():
        if " -> " in line:
            source, target = line.split(" -> ")
            reported[Path(source)] = ("colorized", target)
    for line in stderr.splitlines():
        outcome, source, why = line.removeprefix("hypercol: ").split(": ", 2)
        assert Path(source) not in reported, f"{source} reported twice"
        reported[Path(source)] = (outcome, why)
    return reported


def _special_option(rng, case: Path, weights: Path) -> tuple[list, str, list[Path]]:
    """(options naming a file that is no regular file, the option the error must name, the FIFOs made)."""
    option, what = str(rng.choice(OPTIONS)), str(rng.choice(["fifo", "dangling", "folder"]))
    own = case / "w.weights.h5"
    own.write_bytes(weights.read_bytes())
    (case / "w.json").write_bytes(weights.with_name("tiny.json").read_bytes())
    special = {"--weights": own, "the model card": case / "w.json"}.get(option, case / "special.png")
    special.unlink(missing_ok=True)
    {"fifo": os.mkfifo, "folder": Path.mkdir, "dangling": lambda path: path.symlink_to(case / "nowhere")}[what](special)
    extra = [option, special] if option.startswith("--") and option != "--weights" else []
    named = "--weights" if option == "the model card" else option
    return ["--weights", own, *extra], named, [special] if what == "fifo" else []


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_the_command_on_odd_file_systems(tmp_path, tiny_weights, capsys, fifo_released, within) -> None:
    """Seeded folders of every image mode, corrupt files, shared output names, earlier outputs, FIFOs, broken
    links and links to parent folders, as folder or glob inputs, some runs with a special file as an option:
    the listing ends (bounded), every input gets exactly the outcome the rules give, outputs are whole PNGs."""
    from hypercol.cli import _collect, main

    rng = np.random.default_rng(FS_SEED)
    seen = dict.fromkeys(["special options", "clashes", "corrupt", "linked folders", "outputs skipped"], 0)
    seen.update(dict.fromkeys(["CMYK colorized", "F colorized", "I colorized"], 0))
    for case_index in range(FS_CASES):
        case = tmp_path / f"case{case_index}"
        kinds = _odd_file_system(rng, case / "in", tiny_weights, ("CMYK", "F", "I")[case_index % 3])
        seen["linked folders"] += (case / "in" / "sub" / "up").is_symlink()
        pattern = str(rng.choice(PATTERNS))
        spec, out = pattern.format(**{"in": case / "in"}), case / "out"
        argv = ["colorize", spec, "-o", out, "--weights", tiny_weights]
        fifos = [path for path, kind in kinds.items() if kind == "a FIFO"]
        if rng.random() < 0.25:
            options, named, made = _special_option(rng, case, tiny_weights)
            with fifo_released(*fifos, *made):
                code = main([*map(str, argv[:4]), *map(str, options)])
            err = capsys.readouterr().err
            assert code == 2 and f"hypercol colorize: error: {named} '" in err and "not a regular file" in err, err
            assert not out.exists()
            seen["special options"] += 1
            continue
        wanted = {path for path, kind in kinds.items() if not pattern.endswith(".png") or path.suffix == ".png"}
        if not wanted:
            assert main(list(map(str, argv))) == 2 and "no images match" in capsys.readouterr().err
            continue
        images, odd = within(60, _collect, [spec], out)  # bounded: a ** through the links must end
        assert {found.path for found in images} | {Path(line.split(": ")[0]) for line in odd} == wanted
        expected, claimed = _expected_outcomes(images, kinds, out, flat=pattern.endswith(".png"))
        with fifo_released(*fifos):
            code = main(list(map(str, argv)))
        captured = capsys.readouterr()
        reported = _reported(captured.out, captured.err)
        for path in wanted - set(expected):  # no regular file: skipped, never opened
            assert reported.pop(path) == ("skipped", f"{kinds[path]}, not a regular file"), path
        assert set(reported) == set(expected), (sorted(reported), sorted(expected))
        for path, (outcome, why) in expected.items():
            assert reported[path][0] == outcome and why in reported[path][1], (path, kinds[path], reported[path])
        counts = {outcome: sum(o == outcome for o, _ in expected.values()) for outcome in ("colorized", "failed")}
        skipped = len(expected) + len(wanted - set(expected)) - counts["colorized"] - counts["failed"]
        summary = f"{counts['colorized']} colorized, {skipped} skipped, {counts['failed']} failed"
        assert summary in captured.out and code == (1 if counts["failed"] else 0)
        assert {path for path in out.rglob("*") if not path.is_dir()} == set(claimed)  # no temporaries left
        for target, source in claimed.items():
            with Image.open(target) as image, Image.open(source) as original:
                assert image.format == "PNG" and image.mode in ("RGB", "RGBA") and image.size == original.size
                assert "hypercol" in image.info
        seen["clashes"] += sum("already the output" in why for _, why in expected.values())
        seen["corrupt"] += sum(kind == "corrupt" for kind in kinds.values())
        seen["outputs skipped"] += sum(outcome == "skipped" for outcome, _ in expected.values())
        for path, (outcome, _) in expected.items():
            if outcome == "colorized" and f"{kinds[path].removeprefix('good ')} colorized" in seen:
                seen[f"{kinds[path].removeprefix('good ')} colorized"] += 1
    assert min(seen.values()) >= 1, seen  # every odd kind really exercised
