"""Measurements in a fresh process (child.py), where the process-global bf16 rewrite must be
off or oneDNN capped: peak memory of an 8000 x 8000 colorize; hypercol in float32; colorize
against a float32 Keras VGG16 forward on every CPU class; the float32 training steps,
natively and with oneDNN held to AVX2."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cases import HYPERCOL_FLOAT32, MEMORY_SIZE, SPEED_CLASSES, SPEED_ROUNDS, TRAIN_ROUNDS, TRAINING_ISAS

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent


def _child(*args: str, **environment: str) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.pop("HYPERCOL_PRECISION", None)
    env.pop("ONEDNN_MAX_CPU_ISA", None)
    env.update(environment)
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


def _isa_environment(isa: str) -> dict:
    """The child's environment for ``isa``: "native" leaves oneDNN its own choice, else caps it there."""
    return {} if isa == "native" else {"ONEDNN_MAX_CPU_ISA": isa}


@pytest.mark.parametrize(("cpu_class", "environment"), SPEED_CLASSES, ids=[name for name, _ in SPEED_CLASSES])
def test_colorize_vs_keras_vgg16(benchmark, default_weights, cpu_class, environment):
    """colorize against the float32 Keras VGG16 per CPU class, alternating in one child process.

    "float32" turns the bf16 rewrite off (a CPU without bf16); "AVX2" also caps oneDNN at
    AVX2 (ONEDNN_MAX_CPU_ISA): on a CPU with AVX-512 that runs the kernels a CPU without
    it runs; on an AVX2-only CPU it changes nothing.
    """
    benchmark.group = "speed against VGG16"
    result = benchmark.pedantic(
        _child, args=("vs_vgg16", str(default_weights), str(SPEED_ROUNDS)), kwargs=environment, rounds=1, iterations=1
    )
    benchmark.extra_info.update(
        kind="vs_vgg16", cpu_class=cpu_class, name=f"colorize vs Keras VGG16, {cpu_class}", **result
    )


@pytest.mark.parametrize("isa", TRAINING_ISAS)
def test_float32_training_steps(benchmark, isa):
    """Images/s of bench_train.py's two training steps in float32, natively and held to AVX2."""
    environment = _isa_environment(isa)
    benchmark.group = "float32 training steps"
    result = benchmark.pedantic(_child, args=("train", str(TRAIN_ROUNDS)), kwargs=environment, rounds=1, iterations=1)
    benchmark.extra_info.update(
        kind="float32_training_steps", name=f"float32 training steps, oneDNN ISA {isa}", **result
    )
