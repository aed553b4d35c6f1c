"""Fuzzing colorize: hundreds of seeded malformed inputs, each refused with a ValueError/TypeError or colorized
into a finite image of the right shape and dtype, never NaN. Small arrays and the tiny model keep it to seconds."""

from __future__ import annotations

import time

import numpy as np
import pytest

from hypercol._arrays import as_image_batch

SEED = 20240610
CASES = 600
TIME_BUDGET = 300.0  # seconds: the loop stops there (it takes 10-30 s on 2 cores); at least MIN_CASES must run
MIN_CASES = 500
DTYPES = ["u1", "u2", ">u2", "<u2", "f2", "f4", ">f4", "f8", ">f8", "i1", "i4", "i8", "?", "c8", "O", "U3", "M8[s]"]


def _values(rng, shape, dtype: np.dtype):
    if dtype.kind in "ui":
        info = np.iinfo(dtype)
        return rng.integers(info.min, int(info.max) + 1, shape).astype(dtype)
    if dtype.kind == "f":
        values = rng.uniform(-0.2, 1.2, shape) if rng.random() < 0.3 else rng.uniform(0, 1, shape)
        if rng.random() < 0.2 and values.size:
            values.flat[rng.integers(values.size)] = rng.choice([np.nan, np.inf, -np.inf])
        return values.astype(dtype)
    if dtype.kind == "M":
        return np.zeros(shape, dtype)
    return rng.integers(0, 2, shape).astype(dtype)


def _shape(rng) -> tuple[int, ...]:
    ndim = int(rng.choice([0, 1, 2, 2, 3, 3, 4, 4, 5]))
    shape = [int(rng.integers(1, 9)) for _ in range(ndim)]
    if ndim >= 3 and rng.random() < 0.6:
        shape[-1] = int(rng.choice([1, 2, 3, 4, 5]))
    if shape and rng.random() < 0.1:
        shape[int(rng.integers(ndim))] = 0
    return tuple(shape)


def _any_array(rng):
    return _values(rng, _shape(rng), np.dtype(rng.choice(DTYPES)))


def _huge(rng):
    """Dimensions past the pixel limit, per image or per call: must be refused before anything is allocated."""
    side = int(rng.integers(10_001, 60_000))
    shape = rng.choice(["one", "channels", "batch", "many"])
    dims = {
        "one": (side, side),
        "channels": (side, side, int(rng.choice([1, 3, 4]))),
        "batch": (int(rng.integers(2, 5)), side, side, 3),
        "many": (int(rng.integers(101, 5000)), 1000, 1000),
    }[str(shape)]
    return np.broadcast_to(np.zeros((), rng.choice(["u1", "u2", "f4", "f8"])), dims)


def _masked(rng):
    image = _values(rng, (int(rng.integers(1, 9)), int(rng.integers(1, 9))), np.dtype(rng.choice(["u1", "f4"])))
    return np.ma.array(image, mask=rng.random(image.shape) < rng.choice([0.0, 0.3]))


def _view(rng):
    image = _values(rng, (int(rng.integers(2, 12)), int(rng.integers(2, 12)), 4), np.dtype(rng.choice(["u1", "f4"])))
    views = [image[::2, ::-1, :3], image[..., 0].T, np.asfortranarray(image), image[1:, :, 3:], image[:, ::3, ::2]]
    return views[int(rng.integers(len(views)))]


def _listed(rng):
    image = _values(rng, (int(rng.integers(1, 5)), int(rng.integers(1, 5))), np.dtype(rng.choice(["u1", "f4"])))
    lists = [image.tolist(), [[0.5, 0.2], [0.1]], [["a", "b"], ["c", "d"]], [[None, 1.0]], []]
    return lists[int(rng.integers(len(lists)))]


def _not_an_array(rng):
    return [None, 5, 0.5, "gray.png", b"\x00\x01", {"a": 1}, object(), np.float32(0.5)][int(rng.integers(8))]


GENERATORS = [_any_array] * 5 + [_huge, _masked, _view, _listed, _not_an_array]


def _expected(image) -> tuple[tuple[int, ...], np.dtype]:
    """The shape and dtype colorize promises for a valid ``image``."""
    array = np.asarray(np.ma.getdata(image))
    shape, dtype = array.shape, (np.dtype(np.uint8) if array.dtype.kind == "u" else np.dtype(np.float32))
    if array.ndim == 2 or (array.ndim == 3 and shape[-1] not in (1, 3, 4)):
        return (*shape, 3), dtype
    return (*shape[:-1], 4 if shape[-1] == 4 else 3), dtype


def _check(colorizer, image, index: int) -> str:
    """'refused' or 'colorized'; fails the test on anything else."""
    try:
        out = colorizer.colorize(image)
    except (ValueError, TypeError):
        return "refused"
    except Exception as error:  # noqa: BLE001 -- the test's point: nothing but ValueError/TypeError
        pytest.fail(f"case {index}: {type(error).__name__}: {error} for {_describe(image)}")
    shape, dtype = _expected(image)
    assert isinstance(out, np.ndarray) and out.shape == shape and out.dtype == dtype, (
        f"case {index}: {_describe(image)}"
    )
    if dtype == np.float32:
        assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0, f"case {index}: {_describe(image)}"
    return "colorized"


def _describe(image) -> str:
    if isinstance(image, np.ndarray):
        return f"{type(image).__name__} shape={image.shape} dtype={image.dtype} strides={image.strides}"
    return repr(image)[:80]


def test_colorize_refuses_or_colorizes_every_malformed_input(tiny_colorizer) -> None:
    rng = np.random.default_rng(SEED)
    outcomes = {"refused": 0, "colorized": 0}
    huge = 0
    deadline = time.monotonic() + TIME_BUDGET
    for index in range(CASES):
        if time.monotonic() > deadline:
            break
        generator = GENERATORS[int(rng.integers(len(GENERATORS)))]
        image = generator(rng)
        if generator is _huge:  # checked first, without colorizing: a failing guard must not take hours
            huge += 1
            with pytest.raises(ValueError, match="pixels"):
                as_image_batch(image)
        outcome = _check(tiny_colorizer, image, index)
        outcomes[outcome] += 1
        if isinstance(image, np.ma.MaskedArray) and np.ma.count_masked(image):
            assert outcome == "refused", f"case {index}: masked values were used"
    assert sum(outcomes.values()) >= MIN_CASES, f"only {sum(outcomes.values())} cases in {TIME_BUDGET} s"
    assert min(outcomes.values()) >= 100 and huge >= 30, (outcomes, huge)  # both paths really exercised
