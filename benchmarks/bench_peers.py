"""Peer architectures through hypercol's own pre/post-processing, at the same sizes.

Every peer runs ``gray uint8 -> CIE L (hypercol.core.arrays.lightness) -> network -> chroma
resized to the image and joined with the full-resolution L (hypercol.inference.colorizer.compose)
-> RGB uint8``, the path ``colorize`` takes, so only the network differs. Each peer runs
twice: inside ``tf.function`` (the process-global oneDNN bf16 rewrite applies, as for
hypercol) and as an eager Keras call (float32). Weights are random.
"""

from __future__ import annotations

import gc
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from cases import (
    NAIVE_HYPERCOLUMN_BYTES_PER_PIXEL,
    PEER_BATCHED,
    PEER_NAMES,
    PEER_NETWORK_SIZE,
    PEER_NOTES,
    PEER_ROUNDS,
)
from harness import graph_gflop, gray_images, precision_label

from hypercol.core.arrays import as_image_batch, lightness
from hypercol.inference.compose import compose

_MODELS: dict[tuple[str, tuple[int, int]], object] = {}
_GFLOP: dict[tuple[str, int], float] = {}


def peer_model(name: str, size: int):
    """The peer built for ``size`` x ``size`` network input; models of other sizes are dropped."""
    import peers

    net = PEER_NETWORK_SIZE.get(name, size)
    key = (name, (net, net))
    if key not in _MODELS:
        for other in [k for k in _MODELS if k[0] == name]:
            del _MODELS[other]
        gc.collect()
        _MODELS[key] = peers.PEERS[name].builder((net, net))
    return _MODELS[key]


class PeerPipeline:
    """gray uint8 (N, H, W) -> RGB uint8 (N, H, W, 3) with a peer network in the middle."""

    def __init__(self, model, network_size: int | None, compiled: bool) -> None:
        self.network_size = network_size
        forward = lambda x: model(x, training=False)
        self.forward = tf.function(forward) if compiled else forward

    def __call__(self, gray: np.ndarray) -> np.ndarray:
        batch = as_image_batch(gray)
        lightnesses = [lightness(batch, index) for index in range(len(batch.pixels))]
        network_input = tf.constant(np.stack(lightnesses)[..., np.newaxis])
        if self.network_size is not None:
            network_input = tf.image.resize(network_input, (self.network_size,) * 2, method="area")
        chroma = tf.cast(self.forward(network_input), tf.float32)
        coefficients = tf.concat([tf.zeros_like(chroma), chroma], axis=-1).numpy()  # plain bilinear upsampling
        return np.stack([compose(l, c, as_uint8=True) for l, c in zip(lightnesses, coefficients)])


def _available_bytes() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    return 2**62


def _cases():
    cases = []
    for size in PEER_ROUNDS:
        for name in PEER_NAMES:
            for compiled in (True, False):
                cases.append(
                    pytest.param(name, size, 1, compiled, id=f"{name}-{size}-b1-{'bf16' if compiled else 'f32'}")
                )
    for size, batch in PEER_BATCHED:
        for name in PEER_NAMES:
            for compiled in (True, False):
                cases.append(
                    pytest.param(
                        name, size, batch, compiled, id=f"{name}-{size}-b{batch}-{'bf16' if compiled else 'f32'}"
                    )
                )
    return cases


@pytest.mark.parametrize(("name", "size", "batch", "compiled"), _cases())
def test_peer(measure, colorizer, name, size, batch, compiled):
    if name == "naive_hypercolumn":
        need = NAIVE_HYPERCOLUMN_BYTES_PER_PIXEL * size * size * batch
        if need > 0.8 * _available_bytes():
            pytest.skip(
                f"naive_hypercolumn at {size}x{size} x{batch} needs ~{need / 2**30:.0f} GiB for its full-resolution "
                f"1472-channel hypercolumns; {_available_bytes() / 2**30:.0f} GiB available"
            )
    network_size = PEER_NETWORK_SIZE.get(name)
    model = peer_model(name, size)
    net = network_size or size
    if (name, net) not in _GFLOP:
        _GFLOP[name, net] = graph_gflop(lambda x: model(x, training=False), [1, net, net, 1])
    pipeline = PeerPipeline(model, network_size, compiled)
    images = gray_images(batch, size)
    rounds = PEER_ROUNDS[size] if batch == 1 else PEER_BATCHED[size, batch]
    output = measure(
        lambda: pipeline(images),
        reference=lambda: colorizer.colorize(images),
        images=batch,
        rounds=rounds,
        group=f"colorize {size}x{size}" + (f" batch {batch}" if batch > 1 else ""),
        kind="peer",
        name=name,
        size=size,
        batch=batch,
        precision=precision_label(compiled),
        network_input=net,
        network_gflop=_GFLOP[name, net],
        note=PEER_NOTES[name],
    )
    assert output.shape == (batch, size, size, 3)
