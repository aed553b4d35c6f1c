"""The small canvas (issue 11): where the backbone is slow (float32, or bf16 without AMX), a card's
``small_canvas_defaults`` (a smaller working canvas, its own knobs) take over. Covered on any
CPU: CPU flags are given as text, and one child process forces float32 with HYPERCOL_PRECISION."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from hypercol.core import precision as precision_module
from hypercol.core.precision import backbone_is_fast, cpu_has_amx
from hypercol.inference.colorizer import Colorizer
from hypercol.models.card import ModelCard, card_path
from hypercol.models.shipped import SHIPPED_HEADS

ROOT = Path(__file__).resolve().parent.parent
CAMERA = data.camera()[::4, ::4]
SMALL = {"working_size": 32, "saturation": 0.5}
SAPPHIRE_RAPIDS = "flags\t\t: fpu avx2 avx512f avx512_bf16 amx_bf16 amx_tile\n"
ZEN5 = "flags\t\t: fpu avx2 avx512f avx512_bf16\n"
ZEN3 = "flags\t\t: fpu avx2 fma\n"


@pytest.fixture
def tiny_card(tiny_weights) -> ModelCard:
    return replace(ModelCard.load(card_path(tiny_weights)), small_canvas_defaults=dict(SMALL))


@pytest.mark.parametrize(
    ("precision", "cpuinfo", "fast"),
    [
        ("bfloat16", SAPPHIRE_RAPIDS, True),
        ("mixed_float16", ZEN3, True),  # a GPU
        ("bfloat16", ZEN5, False),  # AVX512-BF16 alone: about 2x over float32, not 6x
        ("float32", SAPPHIRE_RAPIDS, False),  # HYPERCOL_PRECISION=float32 on any CPU
        ("float32", ZEN3, False),
    ],
    ids=["amx", "gpu", "avx512_bf16_only", "float32_forced", "avx2_only"],
)
def test_the_backbone_is_fast_only_on_matrix_units(precision, cpuinfo, fast) -> None:
    assert backbone_is_fast(precision, cpuinfo) is fast
    assert cpu_has_amx(cpuinfo) is ("amx_bf16" in cpuinfo)


def test_small_canvas_defaults_override_only_what_they_name(tiny_card) -> None:
    small = tiny_card.on_small_canvas()
    assert (small.working_size, small.saturation) == (32, 0.5)
    assert small.temperature == tiny_card.temperature and small.head_config == tiny_card.head_config
    plain = replace(tiny_card, small_canvas_defaults={})
    assert plain.on_small_canvas() is plain


def test_small_canvas_defaults_may_not_change_the_head(tiny_card) -> None:
    bad = replace(tiny_card, small_canvas_defaults={"working_size": 32, "head": {"base_width": 8}})
    with pytest.raises(ValueError, match=r"small_canvas_defaults may set .* not \['head'\]"):
        bad.on_small_canvas()


@pytest.mark.parametrize(
    ("defaults", "complaint"),
    [({"working_size": 32, "head": {}}, r"not \['head'\]"), ([160], "must be a JSON object, got a list")],
)
def test_a_card_file_with_bad_small_canvas_defaults_is_refused_when_loaded(
    tiny_weights, tmp_path, defaults, complaint
) -> None:
    """Checked on every machine, not only where the small canvas is used (an AMX CPU never applies it)."""
    card = json.loads(card_path(tiny_weights).read_text())
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**card, "small_canvas_defaults": defaults}))
    with pytest.raises(ValueError, match=rf"model card .*bad\.json.*: small_canvas_defaults .*{complaint}"):
        ModelCard.load(bad)


def _colorizer_on(fast_backbone: bool, monkeypatch, weights, **kwargs) -> Colorizer:
    """A Colorizer that believes its backbone is fast (AMX, GPU) or slow, whatever this CPU is."""
    monkeypatch.setattr(precision_module, "backbone_is_fast", lambda precision: fast_backbone)
    return Colorizer(weights, **kwargs)


def test_a_slow_backbone_colorizes_on_the_small_canvas(tiny_weights, tiny_card, monkeypatch) -> None:
    small = _colorizer_on(False, monkeypatch, tiny_weights, card=tiny_card)
    forced_full = _colorizer_on(False, monkeypatch, tiny_weights, card=tiny_card, small_canvas=False)
    fast = _colorizer_on(True, monkeypatch, tiny_weights, card=tiny_card)
    forced_small = _colorizer_on(True, monkeypatch, tiny_weights, card=tiny_card, small_canvas=True)
    assert [c.working_size for c in (small, forced_full, fast, forced_small)] == [32, 64, 64, 32]
    assert small.description == f"{small.precision}, 32-pixel canvas" and fast.description.endswith(", 64-pixel canvas")
    assert small.settings()[1] == 0.5 and forced_full.settings()[1] == tiny_card.saturation
    small_rgb, full_rgb = small.colorize(CAMERA), forced_full.colorize(CAMERA)
    assert small_rgb.shape == full_rgb.shape == (*CAMERA.shape, 3)
    assert not np.array_equal(small_rgb, full_rgb)  # another canvas and saturation: other colors
    # Same lightness either way: the color math is the same.
    assert np.abs(small_rgb.astype(int).mean(-1) - full_rgb.astype(int).mean(-1)).mean() < 8


def test_a_small_canvas_off_the_backbone_stride_is_refused(tiny_weights, tiny_card, monkeypatch) -> None:
    odd = replace(tiny_card, small_canvas_defaults={"working_size": 40})
    with pytest.raises(ValueError, match="working_size 40 must be a multiple"):
        _colorizer_on(False, monkeypatch, tiny_weights, card=odd)
    _colorizer_on(True, monkeypatch, tiny_weights, card=odd)  # not used there


def test_hypercol_precision_float32_picks_the_small_canvas_in_a_fresh_process(tiny_spec, tiny_weights, tmp_path):
    """The real chain: HYPERCOL_PRECISION=float32 -> configure_precision -> backbone_is_fast -> the card."""
    folder = tmp_path / "head"
    folder.mkdir()
    weights = folder / tiny_weights.name
    weights.write_bytes(tiny_weights.read_bytes())
    card = replace(ModelCard.load(card_path(tiny_weights)), small_canvas_defaults=dict(SMALL))
    card_path(weights).write_text(card.to_json())
    script = (
        "import json, sys\n"
        "from hypercol.models.backbones import BackboneSpec, Tap, register_backbone\n"
        "spec = json.loads(sys.argv[2])\n"
        "register_backbone(BackboneSpec(name=spec['name'], taps=tuple(Tap(*t) for t in spec['taps']),\n"
        "                  input_convention=spec['input_convention'], handle=spec['handle'], description=''))\n"
        "from hypercol.inference.colorizer import Colorizer\n"
        "c = Colorizer(sys.argv[1])\n"
        "print(json.dumps([c.precision, c.working_size, c.description]))\n"
    )
    spec = {
        "name": tiny_spec.name,
        "taps": [[tap.key, tap.channels, tap.stride] for tap in tiny_spec.taps],
        "input_convention": tiny_spec.input_convention,
        "handle": tiny_spec.handle,
    }
    env = {**os.environ, "HYPERCOL_PRECISION": "float32", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script, str(weights), json.dumps(spec)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == ["float32", 32, "float32, 32-pixel canvas"]


def test_the_shipped_small_canvas_is_smaller_and_within_the_quality_bound() -> None:
    """The VGG16 classification card's small canvas costs at most 0.2 dB PSNR and 0.3 AuC against its full canvas on
    every validation split it was measured on (ship_head.py writes the comparison). The EfficientNet-Lite
    heads run one canvas everywhere (their cards have no small canvas)."""
    for head in ("classification", "lite0_classification"):
        assert ModelCard.load(card_path(SHIPPED_HEADS[head])).small_canvas_defaults == {}
    card = ModelCard.load(card_path(SHIPPED_HEADS["vgg16_classification"]))
    assert card.on_small_canvas().working_size < card.working_size
    comparison = card.metrics["small_canvas"]["validation"]
    assert {"imagenet", "people-scenes", "people-sport", "faces-lfw", "faces-celeba"} <= set(comparison)
    for name, row in comparison.items():
        assert row["psnr_drop"] <= 0.2, name
        assert row["auc_drop"] <= 0.3, name


def test_the_default_network_batch_holds_the_pixels_of_16_canvases_of_256(tiny_weights, tiny_card) -> None:
    card = replace(tiny_card, working_size=320, small_canvas_defaults={"working_size": 224})
    assert Colorizer(tiny_weights, card=card, small_canvas=False).batch_size == 10  # 320^2 * 10 ~ 256^2 * 16
    assert Colorizer(tiny_weights, card=card, small_canvas=True).batch_size == 16
    small = replace(card, small_canvas_defaults={"working_size": 160})
    assert Colorizer(tiny_weights, card=small, small_canvas=True).batch_size == 16  # at most 16
    assert Colorizer(tiny_weights, card=replace(card, working_size=32)).batch_size == 16  # at most 16
    assert Colorizer(tiny_weights, card=card, small_canvas=True, batch_size=3).batch_size == 3


def test_hypercol_canvas_forces_either_canvas_and_refuses_other_names(tiny_weights, tiny_card, monkeypatch) -> None:
    """$HYPERCOL_CANVAS reaches every Colorizer without a small_canvas argument (the CLI, Beam, the filter)."""
    monkeypatch.setenv("HYPERCOL_CANVAS", "small")
    assert _colorizer_on(True, monkeypatch, tiny_weights, card=tiny_card).working_size == 32
    monkeypatch.setenv("HYPERCOL_CANVAS", "full")
    assert _colorizer_on(False, monkeypatch, tiny_weights, card=tiny_card).working_size == 64
    assert _colorizer_on(False, monkeypatch, tiny_weights, card=tiny_card, small_canvas=True).working_size == 32
    monkeypatch.setenv("HYPERCOL_CANVAS", "auto")
    assert _colorizer_on(False, monkeypatch, tiny_weights, card=tiny_card).working_size == 32
    monkeypatch.setenv("HYPERCOL_CANVAS", "tiny")
    with pytest.raises(ValueError, match="HYPERCOL_CANVAS must be one of"):
        Colorizer(tiny_weights, card=tiny_card)
