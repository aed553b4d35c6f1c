"""The hypercol command as its own process: quiet start, signals. Every wait is bounded by a timeout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import hypercol

ROOT = Path(hypercol.__file__).resolve().parents[1]
TIMEOUT = 120  # seconds; a run takes a few (TensorFlow's import is most of it)


@pytest.fixture
def photos(tmp_path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(100):
        Image.fromarray(rng.integers(0, 256, (24, 32), dtype=np.uint8)).save(folder / f"{index:03d}.png")
    return folder


def _environment() -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "TF_CPP_MIN_LOG_LEVEL"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _start(*argv) -> subprocess.Popen:
    command = [sys.executable, "-m", "hypercol", *map(str, argv)]
    return subprocess.Popen(command, env=_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process: subprocess.Popen) -> tuple[int, str, str]:
    try:
        stdout, stderr = process.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise
    return process.returncode, stdout, stderr


def test_importing_the_command_does_not_load_tensorflow() -> None:
    code = "import sys, hypercol.cli; sys.exit('tensorflow' in sys.modules)"
    run = subprocess.run([sys.executable, "-c", code], check=False, env=_environment(), timeout=TIMEOUT)
    assert run.returncode == 0


def test_quiet_by_default(photos, tmp_path, weights_by_handle) -> None:
    process = _start("colorize", photos / "000.png", "-o", tmp_path / "out", "--weights", weights_by_handle)
    code, stdout, stderr = _finish(process)
    assert code == 0 and "1 colorized" in stdout
    assert stderr == ""  # no TensorFlow, XLA or absl lines


def test_colorize_beam_is_quiet_too(photos, tmp_path, weights_by_handle) -> None:
    """No "WARNING:root:" notes that Apache Beam writes on every run (apitools, the resource module)."""
    for path in sorted(photos.iterdir())[2:]:
        path.unlink()
    process = _start("colorize-beam", photos, "-o", tmp_path / "out", "--weights", weights_by_handle)
    code, stdout, stderr = _finish(process)
    assert code == 0 and "2 colorized, 0 skipped, 0 failed" in stdout
    assert stderr == ""


@pytest.mark.parametrize(
    "first_import",
    [
        "from hypercol import colorize",
        "from hypercol.io.pil import ColorizeFilter",
        "import hypercol.models.hypercolumns",
    ],
)
def test_library_use_is_quiet_too(first_import, weights_by_handle) -> None:
    """A library user's process writes nothing to stderr, whichever hypercol module it imports first."""
    code = (
        f"{first_import}\n"
        "import numpy as np\n"
        "from hypercol import colorize\n"
        f"rgb = colorize(np.zeros((24, 32), np.uint8), weights={str(weights_by_handle)!r})\n"
        "print(rgb.shape)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], check=False, env=_environment(), timeout=TIMEOUT, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout == "(24, 32, 3)\n"
    assert run.stderr == ""  # no cudart, XLA or absl lines


def test_start_up_stopped_by_a_signal_replays_no_hidden_lines(capfd) -> None:
    """What TensorFlow's loading wrote is shown when it fails, but not when Ctrl+C stopped it."""
    from hypercol.core.quiet import _stderr_hidden_unless_failing

    with pytest.raises(ImportError), _stderr_hidden_unless_failing():
        os.write(2, b"oneDNN custom operations are on\n")
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as error:
            raise ImportError("initialization failed") from error
    assert capfd.readouterr().err == ""
    with pytest.raises(ImportError), _stderr_hidden_unless_failing():
        os.write(2, b"libtensorflow_framework.so.2: cannot open shared object file\n")
        raise ImportError("a broken install")
    assert "cannot open shared object file" in capfd.readouterr().err


def test_verbose_leaves_tensorflow_its_own_log_level(monkeypatch, capsys) -> None:
    from hypercol.cli import main
    from hypercol.core import quiet as _quiet

    monkeypatch.setattr(_quiet, "LEVEL_IS_OURS", True)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    assert main(["backbones"]) == 0 and os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
    assert main(["backbones", "-v"]) == 0 and "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    monkeypatch.setattr(_quiet, "LEVEL_IS_OURS", False)  # the user's own setting wins over -v
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    assert main(["backbones", "-v"]) == 0 and os.environ["TF_CPP_MIN_LOG_LEVEL"] == "3"
    assert "vgg16" in capsys.readouterr().out


def test_sigterm_mid_run_leaves_no_temporaries(photos, tmp_path, weights_by_handle) -> None:
    out = tmp_path / "out"
    process = _start("colorize", photos, "-o", out, "--weights", weights_by_handle)
    first = process.stdout.readline()  # the first image written
    assert "->" in first, first + process.stderr.read()
    process.send_signal(signal.SIGTERM)
    code, _, stderr = _finish(process)
    assert code == 143 and "hypercol: interrupted (SIGTERM)" in stderr and "Traceback" not in stderr
    written = list(out.iterdir())
    assert 1 <= len(written) < 100 and not [path for path in written if path.name.startswith(".")]
    for path in written:
        with Image.open(path) as image:
            image.load()  # complete


@pytest.mark.skipif(not Path("/proc/self/maps").exists(), reason="needs /proc to see TensorFlow loading")
def test_ctrl_c_during_start_up(photos, tmp_path, weights_by_handle) -> None:
    process = _start("colorize", photos, "-o", tmp_path / "out", "--weights", weights_by_handle)
    deadline = time.monotonic() + TIMEOUT
    maps = Path(f"/proc/{process.pid}/maps")
    while process.poll() is None and time.monotonic() < deadline:
        if "tensorflow" in maps.read_text():  # TensorFlow's libraries are loading: start-up is under way
            break
        time.sleep(0.01)
    process.send_signal(signal.SIGINT)
    code, stdout, stderr = _finish(process)
    assert code == 130 and "hypercol: interrupted" in stderr and "Traceback" not in stderr
    assert "colorized" not in stdout


@pytest.mark.parametrize(
    ("number", "code", "line"), [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "(SIGTERM)")]
)
def test_a_signal_while_the_command_is_imported(number, code, line) -> None:
    """The entry point's handler is there before the command's modules load: a signal then gives one line."""
    script = textwrap.dedent(
        f"""
        import os, sys
        class SignalOnImport:  # the signal arrives while hypercol.cli is being imported
            def find_spec(self, name, path=None, target=None):
                if name == "hypercol.cli":
                    os.kill(os.getpid(), {int(number)})
                return None
        sys.meta_path.insert(0, SignalOnImport())
        from hypercol.start import main
        sys.exit(main())
        """
    )
    run = subprocess.run(
        [sys.executable, "-c", script], check=False, env=_environment(), timeout=TIMEOUT, capture_output=True, text=True
    )
    assert run.returncode == code, run.stderr
    assert line in run.stderr and "Traceback" not in run.stderr and run.stderr.count("\n") == 1
