"""The float32 path (issue 11): where the backbone runs in float32, a card's ``float32_defaults``
(a smaller canvas, its own knobs) take over. Covered on any CPU: the precision is stubbed
in-process, and one child process forces it with HYPERCOL_PRECISION."""

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

from hypercol import colorizer as colorizer_module
from hypercol.colorizer import DEFAULT_WEIGHTS, Colorizer, ModelCard, card_path

ROOT = Path(__file__).resolve().parent.parent
CAMERA = data.camera()[::4, ::4]
SMALL = {"working_size": 32, "saturation": 0.5}


@pytest.fixture
def tiny_card(tiny_weights) -> ModelCard:
    return replace(ModelCard.load(card_path(tiny_weights)), float32_defaults=dict(SMALL))


def _colorizer_in(precision: str, monkeypatch, weights, **kwargs) -> Colorizer:
    """A Colorizer that believes the process runs in ``precision``, whatever this CPU supports."""
    monkeypatch.setattr(colorizer_module, "configure_precision", lambda requested=None: precision)
    return Colorizer(weights, **kwargs)


def test_float32_defaults_apply_only_under_float32(tiny_card) -> None:
    assert tiny_card.for_precision("float32").working_size == 32
    assert tiny_card.for_precision("float32").saturation == 0.5
    assert tiny_card.for_precision("float32").temperature == tiny_card.temperature  # not overridden
    for precision in ("bfloat16", "mixed_float16"):
        assert tiny_card.for_precision(precision) is tiny_card
    plain = replace(tiny_card, float32_defaults={})
    assert plain.for_precision("float32") is plain


def test_float32_defaults_may_not_change_the_head(tiny_card) -> None:
    bad = replace(tiny_card, float32_defaults={"working_size": 32, "head": {"base_width": 8}})
    with pytest.raises(ValueError, match=r"float32_defaults may set .* not \['head'\]"):
        bad.for_precision("bfloat16")


def test_a_float32_process_colorizes_on_the_smaller_canvas(tiny_weights, tiny_card, monkeypatch) -> None:
    fast = _colorizer_in("float32", monkeypatch, tiny_weights, card=tiny_card)
    full = _colorizer_in("float32", monkeypatch, tiny_weights, card=tiny_card, float32_defaults=False)
    bf16 = _colorizer_in("bfloat16", monkeypatch, tiny_weights, card=tiny_card)
    assert (fast.working_size, full.working_size, bf16.working_size) == (32, 64, 64)
    assert fast.path == "float32, 32-pixel canvas" and bf16.path == "bfloat16, 64-pixel canvas"
    assert fast.settings()[1] == 0.5 and full.settings()[1] == tiny_card.saturation
    fast_rgb, full_rgb = fast.colorize(CAMERA), full.colorize(CAMERA)
    assert fast_rgb.shape == full_rgb.shape == (*CAMERA.shape, 3)
    assert not np.array_equal(fast_rgb, full_rgb)  # a different canvas and saturation: different colors
    # Same lightness either way (the color math is the same).
    assert np.abs(fast_rgb.astype(int).mean(-1) - full_rgb.astype(int).mean(-1)).mean() < 8


def test_a_float32_canvas_off_the_backbone_stride_is_refused(tiny_weights, tiny_card, monkeypatch) -> None:
    odd = replace(tiny_card, float32_defaults={"working_size": 40})
    with pytest.raises(ValueError, match="working_size 40 must be a multiple"):
        _colorizer_in("float32", monkeypatch, tiny_weights, card=odd)
    _colorizer_in("bfloat16", monkeypatch, tiny_weights, card=odd)  # not used there


def test_hypercol_precision_float32_picks_the_path_in_a_fresh_process(tiny_spec, tiny_weights, tmp_path) -> None:
    """The real chain: HYPERCOL_PRECISION=float32 -> configure_precision -> the card's float32 defaults."""
    folder = tmp_path / "head"
    folder.mkdir()
    weights = folder / tiny_weights.name
    weights.write_bytes(tiny_weights.read_bytes())
    card = replace(ModelCard.load(card_path(tiny_weights)), float32_defaults=dict(SMALL))
    card_path(weights).write_text(card.to_json())
    script = (
        "import json, sys\n"
        "from hypercol.backbones import BackboneSpec, Tap, register_backbone\n"
        "spec = json.loads(sys.argv[2])\n"
        "register_backbone(BackboneSpec(name=spec['name'], taps=tuple(Tap(*t) for t in spec['taps']),\n"
        "                  input_convention=spec['input_convention'], handle=spec['handle'], description=''))\n"
        "from hypercol.colorizer import Colorizer\n"
        "c = Colorizer(sys.argv[1])\n"
        "print(json.dumps([c.precision, c.working_size, c.path]))\n"
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


def test_the_shipped_float32_path_is_smaller_and_within_the_quality_bound() -> None:
    """The shipped card's float32 canvas costs at most 0.2 dB PSNR and 0.3 AuC against its full canvas in
    float32 on every validation split it was measured on (ship_head.py writes the comparison)."""
    card = ModelCard.load(card_path(DEFAULT_WEIGHTS))
    assert card.float32_defaults["working_size"] < card.working_size
    comparison = card.metrics["float32_path"]["validation"]
    assert {"imagenet", "people-scenes", "people-sport"} <= set(comparison)
    for name, row in comparison.items():
        assert row["psnr_drop"] <= 0.2, name
        assert row["auc_drop"] <= 0.3, name
