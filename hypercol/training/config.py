"""The settings of a training run, and the model card's ``training`` field they fill.

Plain data, without TensorFlow: the command line takes its defaults from here.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

from hypercol.core.checks import check_number
from hypercol.models.shipped import DEFAULT_BACKBONE

__all__ = ["CROP_SCALES_OF", "DEFAULT_STEPS", "TrainConfig"]

DEFAULT_STEPS = 2000
# What a training crop's scale is a fraction of: the photo's short side (square crops inside
# the photo), or its long side (up to the whole photo, edge-padded like the working canvas).
CROP_SCALES_OF = ("short", "long")
_SESSION_FIELDS = (
    "precision",
    "replicas",
    "strategy",
    "wall_time_s",
    "images_per_second",
    "final_loss",
    "validation_loss",
)


@dataclass(frozen=True)
class TrainConfig:
    """The settings of :func:`hypercol.training.train.train` (see there); ``out`` is the run folder.

    ``head_type`` is "regression" or "classification"; ``rebalance_mix`` None is Zhang et
    al.'s (``hypercol.core.bins.REBALANCE_LAMBDA``); ``weight_decay`` > 0 trains with AdamW
    (the kernels shrink by ``weight_decay`` x the learning rate each step, biases and norms
    do not); ``ema_momentum`` (0 < m < 1) keeps a moving average of the head's weights, which
    validation measures and the run exports; ``stop_at`` (a step) and ``time_limit_minutes`` end a session early, with a
    checkpoint. ``teachers`` (:class:`hypercol.training.distill.Teacher`: trained heads with
    their backbones' caches of the same crops) make the target ``teacher_weight`` x their mean
    bin distribution + the rest x the soft-encoded truth. ``set_deep_dropout`` {set: rate} makes a
    set's cached examples lose that fraction of the deepest tap's maps in all, the head's
    ``deep_dropout`` included (:class:`hypercol.training.cache.CachedData`).
    """

    out: str | Path
    backbone: str = DEFAULT_BACKBONE
    taps: Sequence[str] | None = None
    head_type: str = "regression"
    steps: int = DEFAULT_STEPS
    batch_size: int = 16
    crop_size: int = 224
    working_size: int = 256
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    ema_momentum: float | None = None
    loss: str = "dahl"
    head_config: dict | None = None
    set_weights: dict[str, float] | None = None
    every_nth_photo: int = 1
    set_deep_dropout: dict[str, float] | None = None
    rebalance_mix: float | None = None
    checkpoint_every: int = 200
    validate_every: int = 200
    validation_fraction: float = 0.1
    max_validation_images: int = 64
    resume: bool = False
    seed: int = 0
    devices: Sequence[str] | None = None
    precision: str | None = None
    corpus: str = ""
    progress: bool = True
    stop_at: int | None = None
    time_limit_minutes: float | None = None
    teachers: Sequence = ()
    teacher_weight: float = 0.5

    @property
    def time_limit_seconds(self) -> float | None:
        return None if self.time_limit_minutes is None else self.time_limit_minutes * 60

    def check(self, losses: Collection[str], head_types: Collection[str]) -> None:
        """ValueError unless the loss and head type are among those known, the sizes positive and the rates finite."""
        if self.loss not in losses:
            msg = f"loss must be one of {sorted(losses)}, got {self.loss!r}"
            raise ValueError(msg)
        if self.head_type not in head_types:
            msg = f"head_type must be one of {tuple(head_types)}, got {self.head_type!r}"
            raise ValueError(msg)
        for name in ("steps", "batch_size", "crop_size"):
            if getattr(self, name) < 1:
                msg = f"{name} must be at least 1, got {getattr(self, name)}"
                raise ValueError(msg)
        check_number(self.learning_rate, "learning_rate", "a finite number > 0", lambda value: 0 < value < math.inf)
        check_number(self.weight_decay, "weight_decay", "a finite number >= 0", lambda value: 0 <= value < math.inf)
        if self.ema_momentum is not None:
            check_number(self.ema_momentum, "ema_momentum", "a number > 0 and < 1", lambda value: 0 < value < 1)
        check_number(self.teacher_weight, "teacher_weight", "a number from 0 to 1", lambda value: 0 <= value <= 1)
        if self.teachers and self.head_type != "classification":
            msg = "teachers distil into a classification head (their bin distributions are its target)"
            raise ValueError(msg)

    def card_training(self, data: Sequence, *, loss: str, data_counts: dict, steps_done: int, session: dict) -> dict:
        """The card's ``training`` field: these settings, what the data says of itself and what the session measured.

        ``loss`` is the objective's name; ``session`` holds precision, replicas, strategy,
        wall_time_s, images_per_second, final_loss and validation_loss.
        """
        return {
            "corpus": self.corpus or ", ".join(str(d) for d in data),
            **data_counts,
            "steps": steps_done,
            "steps_planned": self.steps,
            "batch_size": self.batch_size,
            "crop_size": self.crop_size,
            "learning_rate": self.learning_rate,
            "weight_decay": self.weight_decay,
            **({"ema_momentum": self.ema_momentum} if self.ema_momentum is not None else {}),
            "loss": loss,
            **({"rebalance_lambda": self.rebalance_mix} if self.head_type == "classification" else {}),
            **({"teacher_weight": self.teacher_weight} if self.teachers else {}),
            "seed": self.seed,
            **{key: session[key] for key in _SESSION_FIELDS},
        }
