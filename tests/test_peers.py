"""Tests for the peer colorization architectures in benchmarks/peers.py."""

import sys
from collections.abc import Iterator, Sequence
from itertools import pairwise
from pathlib import Path

import keras
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import peers


def conv(c_in: int, c_out: int, k: int = 3, bias: bool = True) -> int:
    """Parameters of a k x k convolution."""
    return k * k * c_in * c_out + (c_out if bias else 0)


def chain(channels: Sequence[int], k: int = 3) -> int:
    """Parameters of a stack of k x k convolutions through the given channel counts."""
    return sum(conv(a, b, k) for a, b in pairwise(channels))


def dense(n_in: int, n_out: int, bias: bool = True) -> int:
    """Parameters of a fully connected layer."""
    return n_in * n_out + (n_out if bias else 0)


def bn(c: int) -> int:
    """Batch-norm parameters (gamma, beta, moving mean, moving variance)."""
    return 4 * c


# Seed 000, Sec. 4.2: 12 convs; upsampling is parameter-free.
PLAIN_CNN = chain([1, 64, 64, 128, 128, 256, 256, 512, 256, 128, 64, 32, 2])

# Seed 001, Tables 1-3 (Iizuka et al. 2016).
GLOBAL_LOCAL_FUSION = (
    chain([1, 64, 128, 128, 256, 256, 512])  # low-level (shared by both branches)
    + chain([512, 512, 256])  # mid-level
    + chain([512] * 5)  # global convs: 28x28 -> 7x7 at 224 input
    + dense(7 * 7 * 512, 1024)
    + dense(1024, 512)
    + dense(512, 256)
    + dense(256 + 256, 256)  # fusion, W is 256x512
    + chain([256, 128, 64, 64, 32, 2])  # colorization network
)

# Zhang et al. ECCV 2016.
ZHANG_ECCV16 = (
    chain([1, 64, 64])
    + bn(64)
    + chain([64, 128, 128])
    + bn(128)
    + chain([128, 256, 256, 256])
    + bn(256)
    + chain([256, 512, 512, 512])
    + bn(512)
    + 3 * (chain([512] * 4) + bn(512))  # conv5, conv6 (dilated), conv7
    + conv(512, 256, k=4)  # conv8 transposed
    + chain([256, 256, 256])
    + conv(256, 313, k=1)
    + conv(313, 2, k=1, bias=False)  # annealed-mean decode
)

VGG16_CONVS = (
    chain([3, 64, 64])
    + chain([64, 128, 128])
    + chain([128, 256, 256, 256])
    + chain([256, 512, 512, 512])
    + chain([512, 512, 512, 512])
)
HYPERCOLUMN_CHANNELS = 64 + 128 + 256 + 512 + 512
NAIVE_HYPERCOLUMN = VGG16_CONVS + conv(HYPERCOLUMN_CHANNELS, 128, k=1) + conv(128, 2, k=1)

EXPECTED_PARAMS = {
    "plain_cnn": PLAIN_CNN,
    "global_local_fusion": GLOBAL_LOCAL_FUSION,
    "zhang_eccv16": ZHANG_ECCV16,
    "naive_hypercolumn": NAIVE_HYPERCOLUMN,
}


@pytest.fixture(params=["float32", "mixed_bfloat16"])
def policy(request: pytest.FixtureRequest) -> Iterator[str]:
    """Set the global Keras dtype policy for one test, then restore it."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(request.param)
    yield request.param
    keras.mixed_precision.set_global_policy(previous)


def test_registry_matches_expected_peers() -> None:
    assert set(peers.PEERS) == set(EXPECTED_PARAMS)
    assert HYPERCOLUMN_CHANNELS == 1472


@pytest.mark.parametrize("name", sorted(EXPECTED_PARAMS))
def test_peer_forward(name: str, policy: str) -> None:
    model = peers.PEERS[name].builder((64, 64))
    gray = np.random.default_rng(0).random((2, 64, 64, 1), dtype=np.float32)
    out = model(gray)
    assert tuple(out.shape) == (2, 64, 64, 2)
    assert out.dtype == "float32"
    assert np.isfinite(keras.ops.convert_to_numpy(out)).all()
    assert model.count_params() == EXPECTED_PARAMS[name]
    compute_dtype = "bfloat16" if policy == "mixed_bfloat16" else "float32"
    assert any(layer.compute_dtype == compute_dtype for layer in model.layers)


def test_peers_accept_unknown_size() -> None:
    gray = np.zeros((1, 96, 128, 1), dtype=np.float32)
    for name, spec in peers.PEERS.items():
        out = spec.builder((None, None))(gray)
        assert tuple(out.shape) == (1, 96, 128, 2), name


def test_global_branch_reuses_low_level_at_224() -> None:
    model = peers.build_global_local_fusion((224, 224))
    assert not any(isinstance(layer, keras.layers.Resizing) for layer in model.layers)
    assert model.count_params() == GLOBAL_LOCAL_FUSION
