"""Measurements in a fresh process (child.py): peak memory of an 8000 x 8000 colorize, and
hypercol with the bf16 rewrite off (the rewrite is process-global)."""

import json
import os
import subprocess
import sys
from pathlib import Path

from cases import HYPERCOL_FLOAT32, MEMORY_SIZE

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent


def _child(*args: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("HYPERCOL_PRECISION", None)
    done = subprocess.run(
        [sys.executable, str(BENCH_DIR / "child.py"), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_memory_8000(benchmark, default_weights):
    benchmark.group = "memory"
    result = benchmark.pedantic(_child, args=("memory", str(default_weights), str(MEMORY_SIZE)), rounds=1, iterations=1)
    benchmark.extra_info.update(
        kind="memory", name=f"colorize {MEMORY_SIZE}x{MEMORY_SIZE} uint8 (subprocess)", **result
    )


def test_hypercol_float32(benchmark, default_weights):
    specs = [f"{size}:{batch}:{repeats}" for (size, batch), repeats in HYPERCOL_FLOAT32.items()]
    benchmark.group = "hypercol float32"
    result = benchmark.pedantic(_child, args=("float32", str(default_weights), *specs), rounds=1, iterations=1)
    benchmark.extra_info.update(kind="hypercol_float32", name="hypercol colorize, HYPERCOL_PRECISION=float32", **result)
