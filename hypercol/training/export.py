"""The end of a run: the head's weights and its model card, each written atomically into the run folder."""

from __future__ import annotations

from pathlib import Path

import keras

from hypercol.io.files import write_atomically
from hypercol.models.card import ModelCard

__all__ = ["CARD_FILE", "WEIGHTS_FILE", "export_head"]

WEIGHTS_FILE = "head.weights.h5"
CARD_FILE = "head.json"


def export_head(out: Path, head: keras.Model, card: ModelCard) -> tuple[Path, Path]:
    """Writes ``out/head.weights.h5`` and then ``out/head.json``; returns their paths."""
    weights_path = out / WEIGHTS_FILE
    write_atomically(weights_path, lambda p: head.save_weights(str(p)))
    card_path = out / CARD_FILE
    text = card.to_json()
    write_atomically(card_path, lambda p: p.write_text(text))
    return weights_path, card_path
