"""The training step the project runs (and its benchmark times), the validation loss, the optimizer and strategy.

Only the head learns; the backbone is called, never differentiated into. A data
source's ``forward`` turns a batch into (head output, target chroma), so the same step
serves photos (backbone in the step) and feature caches (taps read).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Sequence

import keras

import hypercol.core.quiet_tensorflow  # noqa: F401  # isort: skip -- first: TensorFlow's start-up lines hidden
import tensorflow as tf

__all__ = [
    "averaged_weights",
    "make_optimizer",
    "pick_strategy",
    "train_step_function",
    "validation_loss_function",
]

VALIDATION_CHUNK = 32  # validation examples per call


def pick_strategy(devices: Sequence[str] | None = None) -> tf.distribute.Strategy:
    """MultiWorkerMirrored when TF_CONFIG is set, Mirrored over several GPUs or given devices, else default."""
    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    if devices:
        return tf.distribute.MirroredStrategy(list(devices))
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


NOT_DECAYED = ("bias", "gamma", "beta")  # variable names weight decay leaves alone


def make_optimizer(
    head: keras.Model,
    learning_rate: float,
    steps: int,
    weight_decay: float = 0.0,
    ema_momentum: float | None = None,
) -> keras.optimizers.Optimizer:
    """Adam on a cosine schedule with a linear warm-up over the first 5% of ``steps``, built for ``head``.

    With ``weight_decay`` > 0, AdamW: each step the kernels shrink by ``weight_decay`` x the
    scheduled learning rate (decoupled from the gradient), the biases and normalisations' scales
    and offsets do not. With ``ema_momentum`` (0 < m < 1) the optimizer also keeps an exponential
    moving average of the head's weights (each step: average = m x average + (1 - m) x weights),
    saved in its checkpoints; :func:`averaged_weights` puts it in the head.
    """
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, steps, alpha=0.05, warmup_target=learning_rate, warmup_steps=max(1, steps // 20)
    )
    averaging = {} if ema_momentum is None else {"use_ema": True, "ema_momentum": ema_momentum}
    if weight_decay > 0:
        optimizer = keras.optimizers.AdamW(schedule, weight_decay=weight_decay, **averaging)
        optimizer.exclude_from_weight_decay(var_names=list(NOT_DECAYED))
    else:
        optimizer = keras.optimizers.Adam(schedule, **averaging)
    optimizer.build(head.trainable_variables)
    return optimizer


@contextlib.contextmanager
def averaged_weights(head: keras.Model, optimizer: keras.optimizers.Optimizer) -> Iterator[None]:
    """Inside the block the head holds the optimizer's moving average of its weights, after it its own again.

    Without a moving average (``make_optimizer`` without ``ema_momentum``) the head is left as it is.
    """
    if not optimizer.use_ema:
        yield
        return
    variables = head.trainable_variables
    own = [tf.identity(variable) for variable in variables]
    optimizer.finalize_variable_values(variables)
    try:
        yield
    finally:
        for variable, value in zip(variables, own):
            variable.assign(value)


def train_step_function(
    forward: Callable,
    backbone,
    head: keras.Model,
    loss: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
    optimizer: keras.optimizers.Optimizer,
    *,
    global_batch_size: int,
    strategy: tf.distribute.Strategy | None = None,
) -> Callable[[tuple], tf.Tensor]:
    """A tf.function ``step(batch) -> loss``: one optimizer step of the head on a (distributed) batch.

    ``forward(backbone, head, batch, training)`` gives (head output, target chroma); the
    loss is averaged over the global batch and summed over the replicas of ``strategy``
    (default: the current one).
    """
    strategy = strategy or tf.distribute.get_strategy()

    def replica_step(*batch):
        with tf.GradientTape() as tape:
            output, target = forward(backbone, head, batch, True)
            step_loss = tf.nn.compute_average_loss(loss(target, output), global_batch_size=global_batch_size)
        gradients = tape.gradient(step_loss, head.trainable_variables)
        optimizer.apply_gradients(zip(gradients, head.trainable_variables))
        return step_loss

    @tf.function
    def step(batch):
        per_replica = strategy.run(replica_step, args=batch)
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    return step


def validation_loss_function(
    forward: Callable, backbone, head: keras.Model, loss: Callable[[tf.Tensor, tf.Tensor], tf.Tensor]
) -> Callable[[tuple], float]:
    """``validate(examples) -> mean loss`` over a batch of validation examples, in chunks."""

    @tf.function
    def summed_loss(batch):
        output, target = forward(backbone, head, batch, False)
        return tf.reduce_sum(loss(target, output))

    def validate(examples: tuple) -> float:
        count = int(examples[0].shape[0])
        total = sum(
            float(summed_loss(tuple(t[start : start + VALIDATION_CHUNK] for t in examples)))
            for start in range(0, count, VALIDATION_CHUNK)
        )
        return total / count

    return validate
