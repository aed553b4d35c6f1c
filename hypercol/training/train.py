"""Training the head: :func:`train` joins the pieces of :mod:`hypercol.training`.

The data (:mod:`.photos` or :mod:`.cache`, both :class:`~.data.TrainingData`) gives the
objective its color prior (:mod:`.losses`); the frozen backbone and a fresh head are
built under the distribution strategy; :mod:`.step` makes the training step and
:mod:`.loop` runs it with its callbacks (progress, TensorBoard, time budget, sample
images, checkpoints); :mod:`.export` writes the weights and the model card, whose
``training`` field :class:`~.config.TrainConfig` fills.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras

import hypercol.core.quiet_tensorflow  # noqa: F401  # isort: skip -- first: TensorFlow's start-up lines hidden
import tensorflow as tf

from hypercol.core import bins
from hypercol.core.precision import configure_precision
from hypercol.models.backbones import Backbone, load_backbone
from hypercol.models.card import HEAD_TYPES, ModelCard
from hypercol.models.head import build_head
from hypercol.training.cache import CachedData, FeatureCache
from hypercol.training.config import DEFAULT_STEPS, TrainConfig
from hypercol.training.data import TrainingData, TrainingDataError, pipeline_error_message
from hypercol.training.distill import DistilledData, Teacher, distilled_objective
from hypercol.training.export import export_head
from hypercol.training.loop import (
    PROGRESS_FILE,
    CheckpointSaver,
    LoopState,
    ProgressBar,
    SampleImages,
    TensorBoardScalars,
    TimeBudget,
    TrainingLoop,
    open_checkpoints,
)
from hypercol.training.losses import CLASSIFICATION_OUTPUT_STRIDE, LOSSES, Objective, check_output_stride, objective
from hypercol.training.photos import PhotoData
from hypercol.training.step import (
    averaged_weights,
    make_optimizer,
    pick_strategy,
    train_step_function,
    validation_loss_function,
)

__all__ = ["DEFAULT_STEPS", "TrainConfig", "TrainResult", "open_training_data", "train"]

SAMPLE_IMAGES = 4  # validation crops shown colorized in TensorBoard


@dataclass
class TrainResult:
    weights: Path
    card: Path
    card_data: ModelCard
    history: list[dict] = field(default_factory=list)


def open_training_data(data: Sequence[str | Path], config: TrainConfig) -> TrainingData:
    """A :class:`CachedData` for feature-cache folders (a :class:`DistilledData` of it with teachers), else a
    :class:`PhotoData`."""
    is_cache = [FeatureCache.is_cache(item) for item in data]
    if all(is_cache):
        cached = CachedData(
            data,
            seed=config.seed,
            set_weights=config.set_weights,
            max_validation_images=config.max_validation_images,
            every_nth_photo=config.every_nth_photo,
            set_deep_dropout=config.set_deep_dropout,
            head_deep_dropout=(config.head_config or {}).get("deep_dropout", 0.0),
        )
        if not config.teachers:
            return cached
        output_stride = (config.head_config or {}).get("output_stride", CLASSIFICATION_OUTPUT_STRIDE)
        return DistilledData(
            cached, [t if isinstance(t, Teacher) else Teacher(*t) for t in config.teachers], output_stride=output_stride
        )
    if config.teachers:
        msg = "teachers distil from feature caches (see `hypercol cache`), not from photo folders"
        raise ValueError(msg)
    if any(is_cache):
        msg = "feature caches and photo folders cannot train together; give only caches or only photos"
        raise ValueError(msg)
    for option, given in (
        ("set weights apply", config.set_weights),
        ("every_nth_photo applies", config.every_nth_photo != 1),
        ("set deep dropout applies", config.set_deep_dropout),
    ):
        if given:
            msg = f"{option} to a feature cache (see `hypercol cache`), not to photo folders"
            raise ValueError(msg)
    return PhotoData(
        data,
        config.crop_size,
        seed=config.seed,
        validation_fraction=config.validation_fraction,
        max_validation_images=config.max_validation_images,
    )


def train(data: Sequence[str | Path], config: TrainConfig | None = None, **settings) -> TrainResult:
    """Trains a head on ``data`` into ``config.out`` (weights, card, checkpoints, TensorBoard logs).

    ``settings`` are :class:`TrainConfig` fields (``out=`` at least, unless ``config`` is
    given; they override its fields). ``data`` is photo folders, files or lists, or
    feature-cache folders built by :func:`hypercol.training.cache.build_feature_cache`
    (much faster: the backbone's taps are read, not computed; ``set_weights`` then weighs
    their photo sets; caches built with other seeds add other crops of the same photos;
    ``every_nth_photo`` trains on a share of their photos; ``teachers`` distil trained heads
    into this one, :mod:`hypercol.training.distill`).
    With ``resume=True`` an interrupted run continues from its last checkpoint and ends
    where the uninterrupted run would have. ``stop_at`` (a step) and ``time_limit_minutes``
    end this session early with a checkpoint, as an interruption would; the weights and
    card written then describe the steps completed so far.
    """
    config = dataclasses.replace(config, **settings) if config is not None else TrainConfig(**settings)
    if config.rebalance_mix is None:
        config = dataclasses.replace(config, rebalance_mix=bins.REBALANCE_LAMBDA)
    config.check(LOSSES, HEAD_TYPES)
    check_output_stride(config.head_type, config.head_config)
    out = _run_folder(config)
    active_precision = configure_precision(config.precision)
    source = open_training_data(data, config)
    strategy = pick_strategy(config.devices)
    replicas = strategy.num_replicas_in_sync
    if config.batch_size % replicas:
        msg = f"batch_size {config.batch_size} must be a multiple of the {replicas} replicas"
        raise ValueError(msg)
    goal = objective(config.head_type, config.loss, source, config.head_config, config.rebalance_mix)
    if config.teachers:
        goal = distilled_objective(goal, config.teacher_weight)
    keras.utils.set_random_seed(config.seed)  # the head's initial weights are part of the run's identity
    with strategy.scope():
        frozen: Backbone = load_backbone(config.backbone, taps=source.tap_keys or config.taps)
        head = build_head(frozen.spec.taps, **goal.head_config)
        optimizer = make_optimizer(head, config.learning_rate, config.steps, config.weight_decay, config.ema_momentum)
    # Only once the data and the backbone are known usable: a refused run leaves no folder.
    out.mkdir(parents=True, exist_ok=True)
    manager = open_checkpoints(out / "checkpoints", config.resume, head=head, optimizer=optimizer)
    state = _run_session(config, source, strategy, frozen, head, optimizer, goal, manager)
    session = {
        "precision": active_precision,
        "replicas": replicas,
        "strategy": type(strategy).__name__,
        "wall_time_s": round(state.wall_time(), 1),
        "images_per_second": state.images_per_second(),
        "final_loss": state.last_loss,
        "validation_loss": state.last_validation_loss(),
    }
    card = ModelCard(
        backbone=frozen.spec.name,
        taps=[tap.key for tap in frozen.spec.taps],
        working_size=config.working_size,
        head_config=goal.head_config,
        head_type=config.head_type,
        **goal.prior,
        training=config.card_training(
            data, loss=goal.name, data_counts=source.card_counts(), steps_done=state.step, session=session
        ),
    )
    with averaged_weights(head, optimizer):  # the moving average, when the run keeps one, is what ships
        weights_path, card_path = export_head(out, head, card)
    note = source.skipped_note()
    if note:
        print(note)
    return TrainResult(weights_path, card_path, card, state.history)


def _run_folder(config: TrainConfig) -> Path:
    """The run folder (not created here); refused when it holds a run and ``resume`` is not set."""
    out = Path(config.out)
    checkpoints = out / "checkpoints"
    if not config.resume and checkpoints.exists() and any(checkpoints.iterdir()):
        msg = f"{str(out)!r} already holds a run; pass resume=True (--resume) or choose a new folder"
        raise ValueError(msg)
    return out


def _run_session(
    config: TrainConfig,
    source: TrainingData,
    strategy: tf.distribute.Strategy,
    frozen: Backbone,
    head: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    goal: Objective,
    manager: tf.train.CheckpointManager,
) -> LoopState:
    """Trains from the optimizer's step to the last step of this session; returns the loop's state."""
    out = Path(config.out)
    start_step = int(optimizer.iterations.numpy())
    batch_size = config.batch_size

    def dataset_fn(context: tf.distribute.InputContext) -> tf.data.Dataset:
        per_replica = context.get_per_replica_batch_size(batch_size)
        first = start_step * batch_size + context.input_pipeline_id
        return source.dataset(per_replica, first, context.num_input_pipelines)

    batches = iter(strategy.distribute_datasets_from_function(dataset_fn))
    step = train_step_function(
        source.forward, frozen, head, goal.loss, optimizer, global_batch_size=batch_size, strategy=strategy
    )
    validate = validation_loss_function(source.forward, frozen, head, goal.loss)
    writer = tf.summary.create_file_writer(str(out / "tensorboard"))
    progress_file = out / PROGRESS_FILE
    last_step = config.steps if config.stop_at is None else min(config.steps, config.stop_at)
    state = LoopState(
        start_step, config.steps, last_step, CheckpointSaver.previous_wall_time(progress_file, start_step)
    )
    callbacks = [ProgressBar(config.progress), TensorBoardScalars(writer), TimeBudget(config.time_limit_seconds)]
    sample = source.sample_batch(SAMPLE_IMAGES)
    if sample is not None:
        lightness, batch = sample

        def colorize():
            with averaged_weights(head, optimizer):
                return source.forward(frozen, head, batch, False)[0], lightness

        callbacks.append(SampleImages(writer, colorize, goal.prior.get("bins"), SAMPLE_IMAGES))
    callbacks.append(CheckpointSaver(manager, progress_file, config.checkpoint_every))
    examples = source.validation

    def validate_exported_weights() -> float:
        with averaged_weights(head, optimizer):
            return validate(examples)

    def next_batch():
        try:
            return next(batches)
        except tf.errors.OpError as error:  # a reader's exception inside the input pipeline
            message = pipeline_error_message(error)
        # Raised outside the handler: the pipeline's error (its traceback holds the iterator) is not its context.
        raise TrainingDataError(message)

    try:
        return TrainingLoop(state, callbacks).run(
            lambda: float(step(next_batch())),
            None if examples is None else validate_exported_weights,
            config.validate_every,
            batch_size,
        )
    finally:
        # The pipeline's threads stop now, while Python runs: left to the interpreter's exit (the frame kept
        # alive by an exception's traceback), they waited for the interpreter lock and the process hung.
        batches = None
