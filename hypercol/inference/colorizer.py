"""Colorizer: one pre/post-processing path for ``colorize``, the Pillow filter, the command and evaluation.

A :class:`Colorizer` loads a head and its backbone into a
:class:`~hypercol.inference.network.ChromaNetwork`; each call takes its chroma from a
source (the automatic one, or a guide of hints or a reference photo,
:mod:`hypercol.inference.guidance`) as guided-upsampling coefficients at the working
size, and :func:`~hypercol.inference.compose.compose` joins them with the input's own
full-resolution CIE lightness, so output lightness equals input lightness.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from hypercol.core.arrays import as_image_batch
from hypercol.core.checks import is_whole_number
from hypercol.core.precision import configure_precision, wants_small_canvas
from hypercol.inference.compose import compose
from hypercol.inference.ensemble import EnsembleNetwork
from hypercol.inference.guidance import GuidanceSettings, prepare_guide
from hypercol.inference.network import AutomaticChroma, ChromaNetwork
from hypercol.models.backbones import Backbone, load_backbone
from hypercol.models.card import EnsembleCard, ModelCard, card_path, card_settings, is_ensemble_card, resolve_weights
from hypercol.models.head import load_trained_head
from hypercol.models.shipped import DEFAULT_WEIGHTS

__all__ = ["Colorizer", "colorize", "get_colorizer"]

# Default network batch: 16 canvases of 256 pixels' worth of activations (at most 16 images).
# With the EfficientNet-Lite0 head (the default before Lite2), 16 images a call are 10-14% faster per image than 8 (bf16,
# float32 and float32 held to AVX2 on a 2-core EPYC, 2026-12-03); on the default's 256-pixel canvas 16 x 256 took 0.95x
# the time of 12 + 4 (float32, 2-core AMD EPYC, 2026-12-06); larger canvases take fewer.
DEFAULT_BATCH_PIXELS = 16 * 256**2
MAX_DEFAULT_BATCH = 16


def _load_network(
    weights: Path, card: ModelCard | None, *, batch_size: int | None, edge_aware: bool, small_canvas: bool
) -> ChromaNetwork:
    """The backbone and head of one ``.weights.h5`` (its card beside it, unless ``card`` is given)."""
    card = card if card is not None else ModelCard.load(card_path(weights))
    card = card.on_small_canvas() if small_canvas else card
    if not weights.exists():
        msg = f"head weights {str(weights)!r} not found"
        raise ValueError(msg)
    backbone = load_backbone(card.backbone, taps=card.taps)
    if batch_size is None:
        batch_size = min(MAX_DEFAULT_BATCH, max(1, round(DEFAULT_BATCH_PIXELS / int(card.working_size) ** 2)))
    head = load_trained_head(weights, backbone.spec.taps, card.head_config)
    return ChromaNetwork(backbone, head, card, batch_size=batch_size, edge_aware=edge_aware)


class Colorizer:
    """A loaded backbone + head. Thread-safe; build once, call many times.

    ``Colorizer(weights)`` loads ``weights`` (a ``.weights.h5`` with its ``.json``
    card, or the ``card`` given); the default is the shipped default head (EfficientNet-Lite2).
    ``weights`` may instead be an ensemble card, ``NAME.ensemble.json`` (:mod:`hypercol.models.card`):
    several heads colorize each photo and their chroma is averaged (:mod:`hypercol.inference.ensemble`;
    the shipped one is ``head="ensemble"``); hints and references steer the averaged chroma.
    ``edge_aware=False`` upsamples the chroma bilinearly instead of with the guided filter.
    ``batch_size``: images per network call; by default 16 on a canvas of 256 or less, 10 on one of 320.
    ``small_canvas``: whether the card's ``small_canvas_defaults`` apply; by default
    $HYPERCOL_CANVAS decides ("small", "full"; unset or "auto": where the backbone is slow,
    :func:`hypercol.core.precision.backbone_is_fast`: float32, or bf16 without AMX). The shipped
    VGG16 classification head then works on a 160-pixel canvas instead of 224, 1.7-1.9x
    faster there, a little fainter (docs/measurements/speed.md); the default head has no small canvas.
    ``guidance``: the bandwidths and weights of hints and reference transfer (default:
    :data:`hypercol.inference.guidance.DEFAULT_SETTINGS`).
    """

    def __init__(
        self,
        weights: str | Path | None = None,
        *,
        batch_size: int | None = None,
        precision: str | None = None,
        edge_aware: bool = True,
        card: ModelCard | None = None,
        small_canvas: bool | None = None,
        guidance: GuidanceSettings | None = None,
    ) -> None:
        if batch_size is not None and (not is_whole_number(batch_size) or batch_size < 1):
            msg = f"batch_size must be a whole number >= 1, got {batch_size!r}"
            raise ValueError(msg)
        if guidance is not None and not isinstance(guidance, GuidanceSettings):
            msg = f"guidance must be a GuidanceSettings, got {type(guidance).__name__}"
            raise TypeError(msg)
        self.precision = configure_precision(precision)
        self.weights = Path(weights) if weights is not None else DEFAULT_WEIGHTS
        if small_canvas is None:
            small_canvas = wants_small_canvas(self.precision)
        options = {"batch_size": batch_size, "edge_aware": edge_aware, "small_canvas": small_canvas}
        if is_ensemble_card(self.weights):
            if card is not None:
                msg = "card= describes one head; an ensemble card names its members' weights, each with its own card"
                raise ValueError(msg)
            ensemble = EnsembleCard.load(self.weights)
            members = [_load_network(path, None, **options) for path in ensemble.member_paths()]
            self.network = EnsembleNetwork(
                members,
                ensemble.saturation,
                ensemble.temperature,
                ensemble.uncertainty_fallback,
                ensemble.saturation_knee,
                ensemble.hue_fade,
            )
        else:
            self.network = _load_network(self.weights, card, **options)
        self.guidance = guidance

    @property
    def card(self) -> ModelCard:
        return self.network.card

    @property
    def backbone(self) -> Backbone:
        return self.network.backbone

    @property
    def head(self):
        """The head model (batch norms folded); an ensemble's are ``network.members[i].head``."""
        if self.is_ensemble:
            msg = "an ensemble has one head per member: colorizer.network.members[i].head"
            raise AttributeError(msg)
        return self.network.head

    @property
    def is_ensemble(self) -> bool:
        """Whether several heads' chroma is averaged (an ensemble card)."""
        return isinstance(self.network, EnsembleNetwork)

    @property
    def working_size(self) -> int:
        return self.network.working_size

    @property
    def batch_size(self) -> int:
        return self.network.batch_size

    @property
    def edge_aware(self) -> bool:
        return self.network.edge_aware

    @property
    def description(self) -> str:
        """Which numerics and canvas run the network, e.g. "float32, 160-pixel canvas"."""
        heads = f", {len(self.network.members)} heads averaged" if self.is_ensemble else ""
        return f"{self.precision}, {self.working_size}-pixel canvas{heads}"

    def settings(self, temperature: float | None = None, saturation: float | None = None) -> tuple[float, float]:
        """The (temperature, saturation) a call runs with: the given values or the card's defaults, checked."""
        return card_settings(self.card, temperature, saturation)

    def knobs(self, temperature: float | None = None, saturation: float | None = None, fallback: float | None = None):
        """:meth:`settings` and the uncertainty fallback (``fallback``, default the card's) as graph inputs."""
        return self.network.knobs(temperature, saturation, fallback)

    def colorize(
        self,
        image,
        *,
        temperature: float | None = None,
        saturation: float | None = None,
        fallback: float | None = None,
        hints=None,
        reference=None,
    ) -> np.ndarray:
        """Colorizes one image or a batch; see :func:`hypercol.colorize`.

        ``fallback`` overrides the card's uncertainty fallback (classification heads).
        """
        batch = as_image_batch(image)
        knobs = self.knobs(temperature, saturation, fallback)
        source = prepare_guide(self, batch, hints, reference, self.guidance) or AutomaticChroma(self.network)
        output_dtype = np.uint8 if batch.is_integer else np.float32
        outputs = []
        for planes, coefficients in source.coefficient_batches(batch, knobs):
            for offset, full_lightness in enumerate(planes):
                rgb = compose(full_lightness, coefficients[offset], as_uint8=batch.is_integer)
                if batch.has_alpha:
                    rgb = np.concatenate([rgb, batch.alpha(len(outputs), output_dtype)], axis=-1)
                outputs.append(rgb)
        return np.stack(outputs) if batch.batched else outputs[0]

    def __repr__(self) -> str:
        return (
            f"Colorizer({str(self.weights)!r}, backbone={self.card.backbone!r}, precision={self.precision!r}, "
            f"working_size={self.working_size})"
        )


_COLORIZERS: dict[tuple, Colorizer] = {}
_COLORIZERS_LOCK = threading.Lock()


def get_colorizer(weights: str | Path | None = None, head: str | None = None) -> Colorizer:
    """The process-wide cached :class:`Colorizer` for ``weights`` or a shipped ``head`` type."""
    path = resolve_weights(weights, head)
    key = str(path.resolve())
    with _COLORIZERS_LOCK:
        if key not in _COLORIZERS:
            _COLORIZERS[key] = Colorizer(path)
        return _COLORIZERS[key]


def colorize(
    image,
    *,
    head: str | None = None,
    weights: str | Path | None = None,
    temperature: float | None = None,
    saturation: float | None = None,
    hints=None,
    reference=None,
) -> np.ndarray:
    """Colorizes gray photographs, optionally steered by color hints or a reference photo.

    ``image``: (H, W), (H, W, 1), (H, W, 3) (reduced to its luminance), (H, W, 4)
    (alpha kept) or (H, W, 2) (gray and alpha: RGBA out), or a batch (N, H, W[, C]);
    uint8, uint16, or float in [0, 1].
    Returns RGB (RGBA with alpha) of the same size: uint8 for integer input, float32
    in [0, 1] for float input. Output CIE lightness equals the input's.

    ``head`` picks a shipped head (a name of :data:`SHIPPED_HEADS`; default
    :data:`DEFAULT_HEAD`); ``weights`` loads your own ``.weights.h5`` instead.
    ``head="ensemble"`` averages the default head with an EfficientNet-Lite1 head: a little
    closer to the truth on objects, about 1.7x the time.
    ``temperature`` (classification heads): annealed-mean temperature, 1 = the mean
    (safe, desaturated), small = towards the mode (vivid); default from the model card.
    ``saturation`` scales the predicted chroma (1 = as predicted, 0 = gray; default
    from the model card).

    ``hints``: (H, W, 4) RGBA the size of the image ((N, H, W, 4) for a batch); pixels
    with alpha > 0 ask for their RGB's chroma there, spread to the places that look
    alike up to the lightness edges (lightness always stays the input's). No hinted
    pixel: exactly the automatic result.
    ``reference``: a color photo (H, W, 3) of any size (or a list, one per image, or a
    :func:`hypercol.inference.guidance.prepare_reference` result): colors are taken from the places
    of it the backbone finds alike; where nothing matches, the automatic chroma stays.
    """
    return get_colorizer(weights, head).colorize(
        image, temperature=temperature, saturation=saturation, hints=hints, reference=reference
    )
