"""The heads shipped with the package, by name; importing this module does not load TensorFlow.

``classification`` (the default) runs on EfficientNet-Lite2; the earlier heads stay
selectable: ``lite0_classification`` (the default before it) and ``regression`` on
EfficientNet-Lite0, ``vgg16_classification`` and ``vgg16_regression`` on VGG16. Each
``NAME.weights.h5`` has its model card ``NAME.json`` beside it. ``ensemble`` is an ensemble card
(``NAME.ensemble.json``): the default head and an EfficientNet-Lite1 head, their chroma averaged.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["WEIGHTS_DIR", "SHIPPED_HEADS", "DEFAULT_HEAD", "DEFAULT_WEIGHTS", "DEFAULT_BACKBONE"]

# The default head's backbone: also the default of hypercolumns(), `hypercol cache` and `hypercol train`.
DEFAULT_BACKBONE = "efficientnet_lite2"

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
SHIPPED_HEADS = {
    "classification": WEIGHTS_DIR / "efficientnet_lite2_classification.weights.h5",
    "lite0_classification": WEIGHTS_DIR / "efficientnet_lite0_classification.weights.h5",
    "regression": WEIGHTS_DIR / "efficientnet_lite0_regression.weights.h5",
    "vgg16_classification": WEIGHTS_DIR / "vgg16_classification.weights.h5",
    "vgg16_regression": WEIGHTS_DIR / "vgg16_regression.weights.h5",
    # The default head and an EfficientNet-Lite1 head, their chroma averaged (hypercol.models.card.EnsembleCard).
    "ensemble": WEIGHTS_DIR / "lite2_lite1.ensemble.json",
}
DEFAULT_HEAD = "classification"  # chosen by the evaluation in README.md
DEFAULT_WEIGHTS = SHIPPED_HEADS[DEFAULT_HEAD]
