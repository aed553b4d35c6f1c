"""The model card: what a head was trained with and how it decodes, stored as JSON beside its weights;
and the ensemble card (``NAME.ensemble.json``): heads whose chroma is averaged.

Plain data, without TensorFlow: the command, the Beam launcher and the Pillow filter check a
head and its knobs (:func:`check_head`) before any model is loaded.
"""

from __future__ import annotations

import json
import math
from dataclasses import MISSING, asdict, dataclass, field, replace
from pathlib import Path

from hypercol.core.checks import is_real_number
from hypercol.models.shipped import DEFAULT_WEIGHTS, SHIPPED_HEADS

__all__ = [
    "HEAD_TYPES",
    "DEFAULT_TEMPERATURE",
    "MAX_SATURATION",
    "SMALL_CANVAS_FIELDS",
    "ModelCard",
    "card_path",
    "check_knobs",
    "check_knee",
    "check_hue_fade",
    "card_settings",
    "resolve_weights",
    "check_head",
    "ENSEMBLE_SUFFIX",
    "EnsembleCard",
    "is_ensemble_card",
    "summary_card",
]

WEIGHTS_SUFFIX = ".weights.h5"
HEAD_TYPES = ("regression", "classification")
DEFAULT_TEMPERATURE = 0.38  # Zhang et al.'s choice; a card may set its own from evaluation
# Far beyond vivid: at a few times the predicted chroma every color is already at the gamut's edge.
MAX_SATURATION = 100.0
# What a card's small_canvas_defaults may change: where it runs and how it decodes, not the head.
SMALL_CANVAS_FIELDS = (
    "working_size",
    "temperature",
    "saturation",
    "uncertainty_fallback",
    "saturation_knee",
    "hue_fade",
)


def _json_object(path: str | Path, where: str, if_missing: str = "") -> dict:
    """The JSON object in ``path``; ValueError naming ``where`` if it is missing, not JSON, or not an object."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        msg = f"{where} not found{if_missing}"
        raise ValueError(msg) from None
    except json.JSONDecodeError as error:
        msg = f"{where} is not valid JSON: {error}"
        raise ValueError(msg) from None
    if not isinstance(data, dict):
        msg = f"{where} must be a JSON object, got a {type(data).__name__}"
        raise ValueError(msg)  # noqa: TRY004 -- the file's content is wrong, not the caller's argument
    return data


def card_path(weights: str | Path) -> Path:
    """The model card beside a head weights file: ``x.weights.h5`` -> ``x.json``."""
    weights = Path(weights)
    if not weights.name.endswith(WEIGHTS_SUFFIX):
        msg = f"head weights must be a Keras '{WEIGHTS_SUFFIX}' file, got {weights.name!r}"
        raise ValueError(msg)
    return weights.with_name(weights.name[: -len(WEIGHTS_SUFFIX)] + ".json")


def check_knobs(temperature: float | None, saturation: float | None, fallback: float | None = None) -> None:
    """Checks each given knob (None is "the default"): TypeError unless a real number (numpy's too,
    not bool), ValueError unless finite and in range."""
    for name, value, low, high in (
        ("temperature", temperature, 1e-3, math.inf),
        ("saturation", saturation, 0.0, MAX_SATURATION),
        ("uncertainty fallback", fallback, 0.0, math.inf),
    ):
        if value is None:
            continue
        if not is_real_number(value):
            msg = f"{name} must be a real number, got {value!r}"
            raise TypeError(msg)
        if not (math.isfinite(value) and low <= value <= high):
            bounds = f">= {low:g}" if high == math.inf else f"in [{low:g}, {high:g}]"
            msg = f"{name} must be a finite number {bounds}, got {value!r}"
            raise ValueError(msg)


def check_knee(knee: float | None) -> None:
    """ValueError unless ``knee`` (a card's saturation_knee) is None or a finite number > 0."""
    if knee is not None and not (is_real_number(knee) and math.isfinite(knee) and knee > 0):
        msg = f"saturation_knee must be a finite number > 0 (or null: one gain for every photo), got {knee!r}"
        raise ValueError(msg)


def check_hue_fade(hue_fade: float) -> None:
    """ValueError unless ``hue_fade`` (a card's exponent of the bins' hue agreement) is a finite number >= 0."""
    if not (is_real_number(hue_fade) and math.isfinite(hue_fade) and hue_fade >= 0):
        msg = f"hue_fade must be a finite number >= 0 (0: off), got {hue_fade!r}"
        raise ValueError(msg)


@dataclass
class ModelCard:
    """What a head was trained with and how well it does; stored as JSON beside the weights.

    ``head_config`` holds the arguments of :func:`hypercol.models.head.build_head` (the
    JSON field is ``head``, as the shipped cards write it).
    """

    backbone: str
    taps: list[str]
    working_size: int = 256
    head_config: dict = field(default_factory=dict)
    head_type: str = "regression"  # or "classification"
    bins: list = field(default_factory=list)  # classification: ab centres (Q, 2)
    bin_weights: list = field(default_factory=list)  # classification: rebalancing weights (Q,)
    temperature: float = DEFAULT_TEMPERATURE  # classification: default annealed-mean temperature
    saturation: float = 1.0  # default scale of the predicted chroma
    # None: every photo's chroma times the saturation; else each photo's own gain, fading as the
    # photo's RMS chroma nears this knee (hypercol.inference.network.saturated)
    saturation_knee: float | None = None
    # classification: chroma is scaled by (1 - normalised entropy) ** this; 0 = off
    uncertainty_fallback: float = 0.0
    # classification: chroma is scaled by the bins' hue agreement (hypercol.core.bins.hue_agreement)
    # ** this, fading where the likely colors cancel; 0 = off
    hue_fade: float = 0.0
    # Where the backbone is slow (float32, or bf16 without AMX: precision.backbone_is_fast):
    # overrides of the four defaults above, e.g. a smaller working canvas with its knobs.
    small_canvas_defaults: dict = field(default_factory=dict)
    training: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path) -> ModelCard:
        where = f"model card {str(path)!r}"
        return cls.from_json_object(_json_object(path, where, " (it must sit beside the head weights)"), where)

    @classmethod
    def from_json_object(cls, data: dict, where: str = "model card") -> ModelCard:
        data = dict(data)
        if "head" in data:
            data["head_config"] = data.pop("head")
        for name, spec in cls.__dataclass_fields__.items():
            if name not in data and spec.default is MISSING and spec.default_factory is MISSING:
                msg = f"{where} lacks {name!r}"
                raise ValueError(msg)
        _check_small_canvas_defaults(data.get("small_canvas_defaults", {}), f"{where}: ")
        return cls(**{key: value for key, value in data.items() if key in cls.__dataclass_fields__})

    def __post_init__(self) -> None:
        if self.head_type not in HEAD_TYPES:
            msg = f"head_type must be one of {HEAD_TYPES}, got {self.head_type!r}"
            raise ValueError(msg)
        check_knee(self.saturation_knee)
        check_hue_fade(self.hue_fade)

    def to_json(self) -> str:
        data = asdict(self)
        data["head"] = data.pop("head_config")
        return json.dumps(data, indent=2, sort_keys=True)

    def on_small_canvas(self) -> ModelCard:
        """This card with its ``small_canvas_defaults`` applied (itself when it has none)."""
        _check_small_canvas_defaults(self.small_canvas_defaults)
        return replace(self, **self.small_canvas_defaults) if self.small_canvas_defaults else self

    @property
    def is_classification(self) -> bool:
        return self.head_type == "classification"


def _check_small_canvas_defaults(defaults, where: str = "") -> None:
    if not isinstance(defaults, dict):
        msg = f"{where}small_canvas_defaults must be a JSON object, got a {type(defaults).__name__}"
        raise ValueError(msg)  # noqa: TRY004 -- the card's content is wrong, not the caller's argument
    unknown = set(defaults) - set(SMALL_CANVAS_FIELDS)
    if unknown:
        msg = f"{where}small_canvas_defaults may set {SMALL_CANVAS_FIELDS}, not {sorted(unknown)}"
        raise ValueError(msg)


def card_settings(card: ModelCard, temperature: float | None, saturation: float | None) -> tuple[float, float]:
    """The (temperature, saturation) a head with this card runs with: the given values or the card's
    defaults, checked (no model is loaded)."""
    check_knobs(temperature, saturation)
    if temperature is not None and not card.is_classification:
        msg = "temperature applies to classification heads; this head is a regression head (use saturation)"
        raise ValueError(msg)
    temperature = card.temperature if temperature is None else temperature
    saturation = card.saturation if saturation is None else saturation
    check_knobs(temperature, saturation)  # the card's own too
    return float(temperature), float(saturation)


def resolve_weights(weights: str | Path | None = None, head: str | None = None) -> Path:
    """``weights`` if given, else the shipped head named ``head`` (default: :data:`DEFAULT_HEAD`)."""
    if weights is not None:
        if head is not None:
            msg = "pass either weights= (your own head) or head= (a shipped head), not both"
            raise ValueError(msg)
        return Path(weights)
    if head is None:
        return DEFAULT_WEIGHTS
    if head not in SHIPPED_HEADS:
        msg = f"head must be one of {sorted(SHIPPED_HEADS)}, got {head!r}"
        raise ValueError(msg)
    return SHIPPED_HEADS[head]


def check_head(
    weights: str | Path | None = None,
    head: str | None = None,
    temperature: float | None = None,
    saturation: float | None = None,
) -> tuple[Path, ModelCard]:
    """The weights file and card of a head choice, with its knobs checked against the card: every error
    that loading the model would raise for the choice itself, without loading it (ValueError/TypeError)."""
    path = resolve_weights(weights, head)
    if is_ensemble_card(path):
        card = EnsembleCard.load(path).summary_card()
    else:
        card = ModelCard.load(card_path(path))
        if not path.is_file():
            msg = f"head weights {str(path)!r} not found"
            raise ValueError(msg)
    card_settings(card, temperature, saturation)
    return path, card


# --- the ensemble card ---------------------------------------------------------------------

# Each member is a head (``.weights.h5`` with its model card), named relative to the ensemble card's
# folder. A call runs every member on the photo on its own card's canvas, at the ensemble's temperature
# and uncertainty fallback (unset: the member card's), at saturation 1; the members' chroma is averaged
# and scaled by the ensemble's ``saturation`` (:class:`hypercol.inference.ensemble.EnsembleNetwork`).
ENSEMBLE_SUFFIX = ".ensemble.json"
ENSEMBLE_FIELDS = (
    "members",
    "saturation",
    "saturation_knee",
    "temperature",
    "uncertainty_fallback",
    "hue_fade",
    "description",
    "metrics",
)


def is_ensemble_card(path: str | Path) -> bool:
    """Whether ``path`` names an ensemble card (``NAME.ensemble.json``) rather than one head's weights."""
    return Path(path).name.endswith(ENSEMBLE_SUFFIX)


@dataclass
class EnsembleCard:
    """Which heads an ensemble averages and the saturation of their mean, with how well it does."""

    members: list[str]  # head weights files, relative to the card's folder
    saturation: float = 1.0
    saturation_knee: float | None = None  # as a head's card's, on the members' mean chroma
    # For every classification member; None: each member's own card's.
    temperature: float | None = None
    uncertainty_fallback: float | None = None
    hue_fade: float = 0.0  # for every classification member (their own cards' are left aside)
    description: str = ""
    metrics: dict = field(default_factory=dict)
    folder: Path = field(default=Path(), repr=False, compare=False)  # where the card is; not stored

    @classmethod
    def load(cls, path: str | Path) -> EnsembleCard:
        path = Path(path)
        where = f"ensemble card {str(path)!r}"
        data = _json_object(path, where)
        if "members" not in data:
            msg = f"{where} must list its 'members'"
            raise ValueError(msg)
        known = {key: value for key, value in data.items() if key in ENSEMBLE_FIELDS}
        card = cls(**known, folder=path.parent)
        card.check(where)
        return card

    def check(self, where: str = "ensemble card") -> None:
        """ValueError unless there are at least two members, named by weights files, and the knobs are valid."""
        members = self.members
        if not isinstance(members, list) or len(members) < 2 or not all(isinstance(m, str) for m in members):
            msg = f"{where}: 'members' must list at least two head weights files, got {members!r}"
            raise ValueError(msg)
        for member in members:
            card_path(member)  # ValueError unless a '.weights.h5' name
        try:
            check_knobs(self.temperature, self.saturation, self.uncertainty_fallback)
            check_knee(self.saturation_knee)
            check_hue_fade(self.hue_fade)
        except (TypeError, ValueError) as error:
            raise ValueError(f"{where}: {error}") from None

    def member_paths(self) -> list[Path]:
        """The members' weights files, each checked to exist (their cards are checked when loaded)."""
        paths = [self.folder / member for member in self.members]
        for path in paths:
            if not path.is_file():
                msg = f"ensemble member {str(path)!r} not found"
                raise ValueError(msg)
        return paths

    def member_cards(self) -> list[ModelCard]:
        return [ModelCard.load(card_path(path)) for path in self.member_paths()]

    def summary_card(self) -> ModelCard:
        """What stands for the ensemble where one card is asked for (checks, reports): see :func:`summary_card`."""
        return summary_card(self.member_cards(), self.saturation, self.temperature, self.saturation_knee, self.hue_fade)

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("folder")
        return json.dumps(data, indent=2, sort_keys=True)


def summary_card(
    cards: list[ModelCard],
    saturation: float,
    temperature: float | None = None,
    knee: float | None = None,
    hue_fade: float = 0.0,
) -> ModelCard:
    """The first classification member's card (else the first member's) at the ensemble's ``saturation``,
    ``knee`` and ``hue_fade`` (and ``temperature`` when it sets one): a temperature is checked against it, and a
    report gives its knobs."""
    chosen = next((card for card in cards if card.is_classification), cards[0])
    chosen = replace(chosen, saturation=float(saturation), saturation_knee=knee, hue_fade=hue_fade)
    return chosen if temperature is None or not chosen.is_classification else replace(chosen, temperature=temperature)
