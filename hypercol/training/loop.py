"""The training loop of one session and its callbacks, in the style of Keras' fit loop.

:class:`TrainingLoop` runs steps until the planned last step (or an earlier ``stop_at``)
or until a callback asks it to stop; after each step it calls every callback's
``on_step_end`` in order: the progress bar, TensorBoard scalars, the time budget,
sample images and the checkpoint (last, so a session that runs out of time ends with
one). Checkpoints carry the head, the optimizer (and so the step) and, beside them, the
wall time of the sessions so far.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import hypercol.core.quiet_tensorflow  # noqa: F401  # isort: skip -- first: TensorFlow's start-up lines hidden
import tensorflow as tf

from hypercol.core import bins, color
from hypercol.io.files import write_atomically
from hypercol.models.card import DEFAULT_TEMPERATURE

__all__ = [
    "Callback",
    "CheckpointSaver",
    "LoopState",
    "ProgressBar",
    "SampleImages",
    "TensorBoardScalars",
    "TimeBudget",
    "TrainingLoop",
    "open_checkpoints",
]

PROGRESS_FILE = "progress.json"


class LoopState:
    """What the loop and its callbacks share: the step, the planned steps, the losses, the clock."""

    def __init__(self, start_step: int, steps: int, last_step: int, previous_wall_time: float = 0.0) -> None:
        self.step = start_step
        self.start_step = start_step
        self.steps = steps
        self.last_step = last_step
        self.previous_wall_time = previous_wall_time
        self.history: list[dict] = []
        self.begin = time.perf_counter()
        self.images_done = 0
        self.last_loss = float("nan")
        self.stop = False

    def elapsed(self) -> float:
        return time.perf_counter() - self.begin

    def wall_time(self) -> float:
        """Seconds of this session and the sessions before it."""
        return self.previous_wall_time + self.elapsed()

    def rate(self) -> float:
        return self.images_done / self.elapsed()

    def images_per_second(self) -> float | None:
        return round(self.rate(), 2) if self.images_done else None

    def last_validation_loss(self) -> float | None:
        return next((r["validation_loss"] for r in reversed(self.history) if "validation_loss" in r), None)


class Callback:
    """Hooks of the loop; each does nothing unless overridden."""

    def on_train_begin(self, state: LoopState) -> None:
        pass

    def on_step_end(self, state: LoopState, logs: dict) -> None:
        pass

    def on_train_end(self, state: LoopState) -> None:
        pass

    def on_train_abort(self, state: LoopState) -> None:
        """The loop ends by an exception (an unreadable batch, Ctrl+C): release what is open, save nothing."""


class TrainingLoop:
    """Runs ``step()`` (-> loss) until the last step or a stop; ``validate()`` every ``validate_every`` steps."""

    def __init__(self, state: LoopState, callbacks: list[Callback]) -> None:
        self.state = state
        self.callbacks = callbacks

    def run(
        self, step: Callable[[], float], validate: Callable[[], float] | None, validate_every: int, batch_size: int
    ) -> LoopState:
        state = self.state
        for callback in self.callbacks:
            callback.on_train_begin(state)
        try:
            self._steps(step, validate, validate_every, batch_size)
        except BaseException:
            for callback in self.callbacks:
                callback.on_train_abort(state)
            raise
        for callback in self.callbacks:
            callback.on_train_end(state)
        return state

    def _steps(
        self, step: Callable[[], float], validate: Callable[[], float] | None, validate_every: int, batch_size: int
    ) -> None:
        state = self.state
        while state.step < state.last_step and not state.stop:
            loss = step()
            logs = {"step": state.step + 1, "loss": loss}
            if validate is not None and (logs["step"] % validate_every == 0 or logs["step"] == state.steps):
                logs["validation_loss"] = validate()
            state.step += 1
            state.images_done += batch_size
            state.last_loss = loss
            state.history.append(logs)
            for callback in self.callbacks:
                callback.on_step_end(state, logs)


class ProgressBar(Callback):
    """A tqdm bar over the planned steps with the loss and images per second."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.bar = None

    def on_train_begin(self, state: LoopState) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=state.steps, initial=state.step, disable=not self.enabled, unit="step", desc="training")

    def on_step_end(self, state: LoopState, logs: dict) -> None:
        self.bar.update(1)
        self.bar.set_postfix(loss=f"{logs['loss']:.4f}", img_s=f"{state.rate():.1f}")

    def on_train_end(self, state: LoopState) -> None:
        self.bar.close()

    def on_train_abort(self, state: LoopState) -> None:
        self.bar.close()  # the error's line below the bar, not joined to it


class TensorBoardScalars(Callback):
    """The loss, images per second and validation loss of every step, into ``writer``."""

    def __init__(self, writer: tf.summary.SummaryWriter) -> None:
        self.writer = writer

    def on_step_end(self, state: LoopState, logs: dict) -> None:
        with self.writer.as_default(step=state.step):
            tf.summary.scalar("loss", logs["loss"])
            tf.summary.scalar("images_per_second", state.rate())
            if "validation_loss" in logs:
                tf.summary.scalar("validation_loss", logs["validation_loss"])

    def on_train_end(self, state: LoopState) -> None:
        self.writer.flush()


class TimeBudget(Callback):
    """Stops the session once it has run ``seconds`` (None: no budget)."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds

    def on_step_end(self, state: LoopState, logs: dict) -> None:
        if self.seconds is not None and state.elapsed() > self.seconds:
            state.stop = True


class SampleImages(Callback):
    """Validation examples colorized into ``writer`` whenever the validation loss is measured.

    ``colorize()`` returns the head's output and the lightness for the samples; ``centres``
    are the classification head's bins (None: the head predicts ab).
    """

    def __init__(self, writer: tf.summary.SummaryWriter, colorize: Callable, centres, count: int = 4) -> None:
        self.writer = writer
        self.colorize = colorize
        self.centres = centres
        self.count = count

    def on_step_end(self, state: LoopState, logs: dict) -> None:
        if "validation_loss" not in logs:
            return
        output, lightness = self.colorize()
        chroma = output if self.centres is None else bins.annealed_mean(output, self.centres, DEFAULT_TEMPERATURE)
        chroma = tf.image.resize(chroma, tf.shape(lightness)[1:3])
        samples = color.lab_to_rgb(tf.concat([lightness[..., tf.newaxis], chroma], axis=-1))
        with self.writer.as_default(step=state.step):
            tf.summary.image("colorized", samples, max_outputs=self.count)


class CheckpointSaver(Callback):
    """A checkpoint every ``every`` steps, at the last step and when stopped; the wall time beside it."""

    def __init__(self, manager: tf.train.CheckpointManager, progress_file: Path, every: int) -> None:
        self.manager = manager
        self.progress_file = progress_file
        self.every = every

    @staticmethod
    def previous_wall_time(progress_file: Path, start_step: int) -> float:
        """The wall time of the sessions before one that starts at ``start_step``."""
        if start_step and progress_file.exists():
            return json.loads(progress_file.read_text())["wall_time_s"]
        return 0.0

    def on_step_end(self, state: LoopState, logs: dict) -> None:
        if state.step % self.every == 0 or state.step == state.last_step or state.stop:
            self.manager.save(checkpoint_number=state.step)
            text = json.dumps({"step": state.step, "wall_time_s": state.wall_time()})
            write_atomically(self.progress_file, lambda p: p.write_text(text))


def open_checkpoints(folder: Path, resume: bool, **trackables) -> tf.train.CheckpointManager:
    """The checkpoint manager of ``folder`` (two kept); with ``resume`` the latest checkpoint is restored."""
    checkpoint = tf.train.Checkpoint(**trackables)
    manager = tf.train.CheckpointManager(checkpoint, str(folder), max_to_keep=2)
    if resume and manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).assert_existing_objects_matched()
    return manager
