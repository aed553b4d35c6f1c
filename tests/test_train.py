"""Training end to end on a tiny backbone: data pipeline, losses, resume, tf.distribute, evaluation."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import h5py
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from hypercol import Colorizer, ModelCard
from hypercol.cli import main as cli_main
from hypercol.core import bins
from hypercol.evaluation.evaluate import evaluate_folder, format_table, gray_baseline
from hypercol.training.losses import dahl_loss, l2_loss
from hypercol.training.photos import ExampleReader, find_images, split_validation
from hypercol.training.train import train

TINY = {
    "backbone": "tiny_vgg",
    "batch_size": 4,
    "crop_size": 32,
    "working_size": 64,
    "head_config": {"base_width": 16, "min_width": 8},
    "progress": False,
}


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    """Ten colorful synthetic photos, one gray photo, one corrupt file, one in a sub-folder."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(1)
    for index in range(10):
        top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        ramp = np.linspace(0, 1, 60)[:, None, None]
        pixels = top * ramp + bottom * (1 - ramp) + rng.normal(0, 12, (60, 80, 3))
        target = folder / ("nested" if index == 0 else "") / f"photo{index}.png"
        target.parent.mkdir(exist_ok=True)
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(target)
    Image.fromarray(np.full((50, 50), 120, np.uint8)).save(folder / "gray.png")
    (folder / "corrupt.jpg").write_bytes(b"not a jpeg at all")
    (folder / "notes.txt").write_text("not an image list entry either")
    return folder


def _weights(path: Path) -> dict[str, np.ndarray]:
    values = {}
    with h5py.File(path) as h5:
        h5.visititems(lambda name, item: values.__setitem__(name, item[()]) if isinstance(item, h5py.Dataset) else None)
    return values


def test_find_images_folders_and_lists(photos, tmp_path) -> None:
    found = find_images([photos])
    assert len(found) == 12 and any("nested" in p for p in found)
    listing = tmp_path / "list.txt"
    listing.write_text(f"# two photos\n{photos / 'photo1.png'}\n\n{photos / 'photo2.png'}\n")
    assert find_images([listing]) == sorted([str(photos / "photo1.png"), str(photos / "photo2.png")])
    with pytest.raises(ValueError, match="does not exist"):
        find_images([photos / "missing"])


def test_validation_split_is_deterministic_and_disjoint(photos) -> None:
    paths = find_images([photos])
    train_paths, validation = split_validation(paths, 0.2)
    assert set(split_validation(list(reversed(paths)), 0.2)[1]) == set(validation)
    assert set(train_paths).isdisjoint(validation) and len(train_paths) + len(validation) == len(paths)
    assert 1 <= len(validation) <= 4


def test_the_folds_of_a_split_hold_out_every_photo_exactly_once() -> None:
    paths = [f"folder/photo{i:03d}.jpg" for i in range(50)]
    held_out = [split_validation(paths, 0.2, fold)[1] for fold in range(5)]
    assert sorted(p for fold in held_out for p in fold) == paths  # disjoint, and together all of them
    uneven = [split_validation(paths[:21], 0.25, fold)[1] for fold in range(4)]
    assert sorted(p for fold in uneven for p in fold) == paths[:21] and len(uneven[-1]) == 6  # 5, 5, 5, 6
    assert held_out[0] == split_validation(paths, 0.2)[1]  # fold 0 is the usual split
    train, validation = split_validation(paths, 0.2, 3)
    assert set(train) == set(paths) - set(validation) and len(validation) == 10
    for fold in (5, -1):
        with pytest.raises(ValueError, match="folds of fraction"):
            split_validation(paths, 0.2, fold)


def test_reader_skips_corrupt_and_gray_and_is_deterministic(photos) -> None:
    paths = find_images([photos])
    reader = ExampleReader(paths, 24, seed=3)
    first = [reader(i) for i in range(24)]  # two epochs: every file is met
    assert all(crop.shape == (24, 24, 3) and crop.dtype == np.uint8 for crop in first)
    assert reader.unreadable == {str(photos / "corrupt.jpg")}
    assert reader.grayscale == {str(photos / "gray.png")}
    again = ExampleReader(paths, 24, seed=3)
    np.testing.assert_array_equal(again(17), first[17])
    assert not np.array_equal(ExampleReader(paths, 24, seed=4)(17), first[17])


def _row_ramp_photo(path: Path, width: int, height: int) -> str:
    """A photo whose every row and column differs from the next (so edge padding shows)."""
    rows, cols = np.mgrid[0:height, 0:width]
    pixels = np.stack([rows * 255 // height, cols * 255 // width, (rows + cols) % 256], axis=-1)
    Image.fromarray(pixels.astype(np.uint8)).save(path)
    return str(path)


def test_a_whole_photo_crop_is_the_working_canvas_edge_padded(tmp_path) -> None:
    landscape = _row_ramp_photo(tmp_path / "wide.png", 64, 48)
    reader = ExampleReader([landscape], 24, scale_range=(1.0, 1.0), scale_of="long")
    with Image.open(landscape) as image:
        whole = np.asarray(image.convert("RGB").resize((24, 18), Image.BILINEAR))
    for index in range(6):  # both flips
        crop = reader(index)
        assert crop.shape == (24, 24, 3) and crop.dtype == np.uint8
        assert np.array_equal(crop[:18], whole) or np.array_equal(crop[:18], whole[:, ::-1])
        assert (crop[18:] == crop[17]).all()  # the rows past the photo repeat its last row, as on the canvas
    portrait = _row_ramp_photo(tmp_path / "tall.png", 48, 64)
    crop = ExampleReader([portrait], 24, scale_range=(1.0, 1.0), scale_of="long")(0)
    assert (crop[:, 18:] == crop[:, 17:18]).all() and not (crop[:, 17] == crop[:, 16]).all()


def test_short_side_crops_stay_inside_the_photo(tmp_path) -> None:
    landscape = _row_ramp_photo(tmp_path / "wide.png", 64, 48)
    reader = ExampleReader([landscape], 24, scale_range=(1.0, 1.0))
    for index in range(4):
        crop = reader(index)
        assert not (crop[-1] == crop[-2]).all() and not (crop[:, -1] == crop[:, -2]).all()
    with pytest.raises(ValueError, match="scale_of"):
        ExampleReader([landscape], 24, scale_of="middle")


def test_losses_by_hand() -> None:
    truth = np.zeros((1, 8, 8, 2), np.float32)
    prediction = np.full((1, 8, 8, 2), 10.0, np.float32)  # 10 ab units everywhere = 0.1 in loss units
    assert float(l2_loss(truth, prediction)[0]) == pytest.approx(0.01)
    # A constant error survives blurring unchanged (SAME padding aside, at the centre), so
    # Dahl's loss on it is close to the plain L2, and it is exactly 0 for a perfect guess.
    assert float(dahl_loss(truth, truth)[0]) == 0.0
    assert 0.005 < float(dahl_loss(truth, prediction)[0]) <= 0.01
    # Blurring forgives high-frequency error: checkerboard error loses more to blur than L2.
    checker = np.indices((8, 8)).sum(axis=0) % 2 * 20.0 - 10.0
    noisy = np.repeat(checker[None, ..., None], 2, axis=-1).astype(np.float32)
    assert float(dahl_loss(truth, noisy)[0]) < float(l2_loss(truth, noisy)[0])


def test_train_writes_weights_card_checkpoints_and_logs(photos, tiny_spec, tmp_path) -> None:
    result = train(
        [photos], out=tmp_path / "run", steps=3, checkpoint_every=2, validate_every=2, validation_fraction=0.3, **TINY
    )
    assert result.weights.exists() and result.card.exists()
    card = json.loads(result.card.read_text())
    assert card["backbone"] == "tiny_vgg" and card["working_size"] == 64
    assert card["training"]["steps"] == 3 and card["training"]["skipped_unreadable"] == 1
    assert card["training"]["dropped_grayscale"] == 1
    assert all(np.isfinite(record["loss"]) for record in result.history)
    assert card["training"]["validation_images"] >= 1 and "validation_loss" in result.history[-1]
    assert (tmp_path / "run" / "checkpoints" / "checkpoint").exists()
    assert any((tmp_path / "run" / "tensorboard").iterdir())
    colorized = Colorizer(result.weights).colorize(np.zeros((20, 30), np.uint8))
    assert colorized.shape == (20, 30, 3)
    with pytest.raises(ValueError, match="already holds a run"):
        train([photos], out=tmp_path / "run", steps=3, **TINY)


@pytest.mark.parametrize(
    ("weight_decay", "ema_momentum"), [(0.0, None), (0.5, None), (0.0, 0.6)], ids=["adam", "adamw", "averaged"]
)
def test_interrupted_and_resumed_run_ends_like_an_uninterrupted_one(
    photos, tiny_spec, tmp_path, weight_decay, ema_momentum
) -> None:
    run = dict(steps=4, checkpoint_every=2, weight_decay=weight_decay, ema_momentum=ema_momentum, **TINY)
    straight = train([photos], out=tmp_path / "straight", **run)
    first = train([photos], out=tmp_path / "resumed", stop_at=2, **run)
    assert first.card_data.training["steps"] == 2 and first.card_data.training["weight_decay"] == weight_decay
    after_first_session = _weights(first.weights)  # the resumed session rewrites this file
    resumed = train([photos], out=tmp_path / "resumed", resume=True, **run)
    assert [r["step"] for r in resumed.history] == [3, 4]
    a, b = _weights(straight.weights), _weights(resumed.weights)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-3, atol=1e-4, err_msg=name)
    # The first session changed the weights: equality above is not two untouched heads.
    assert any(not np.allclose(a[name], after_first_session[name]) for name in a)


def test_mirrored_strategy_on_two_logical_cpus(photos, tmp_path) -> None:
    script = textwrap.dedent(
        f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        from tiny_backbones import TINY_VGG_TAPS, export_tiny_vgg
        from hypercol.models.backbones import BackboneSpec, Tap, register_backbone
        from hypercol.training.train import train
        folder = export_tiny_vgg(__import__("pathlib").Path({str(tmp_path)!r}) / "tiny")
        register_backbone(BackboneSpec("tiny_vgg", tuple(Tap(*t) for t in TINY_VGG_TAPS), "caffe_bgr", handle=str(folder)))
        result = train([{str(photos)!r}], out={str(tmp_path / "mirrored")!r}, steps=2, devices=["/cpu:0", "/cpu:1"],
                       ema_momentum=0.9, validation_fraction=0.3, validate_every=1, **{TINY!r})
        print("REPLICAS", result.card_data.training["replicas"], result.card_data.training["strategy"])
        print("VALIDATED", "validation_loss" in result.history[-1])
        """
    )
    tests_folder = str(Path(__file__).resolve().parent)  # where tiny_backbones is
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [tests_folder, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, check=False, env=env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "REPLICAS 2 MirroredStrategy" in done.stdout
    assert "VALIDATED True" in done.stdout  # the moving average, kept on both replicas, validated and exported
    assert (tmp_path / "mirrored" / "head.weights.h5").exists()


def test_a_folder_without_a_usable_photo_is_refused_before_anything_is_written(tiny_spec, tmp_path, capsys) -> None:
    folder = tmp_path / "unusable"
    folder.mkdir()
    (folder / "empty.jpg").write_bytes(b"")
    (folder / "text.jpg").write_text("not an image")
    for index in range(3):
        Image.fromarray(np.full((40, 50), 90 + index, np.uint8)).save(folder / f"gray{index}.png")
    with pytest.raises(ValueError, match=r"none of the \d training photos is usable: \d unreadable, \d near-gray"):
        train([folder], out=tmp_path / "run", steps=2, **TINY)
    assert not (tmp_path / "run").exists()
    code = cli_main(["train", str(folder), "--out", str(tmp_path / "cli"), "--backbone", "tiny_vgg", "--steps", "2"])
    error = capsys.readouterr().err
    assert code == 2 and error.startswith("hypercol train: error: none of the") and "Traceback" not in error
    assert not (tmp_path / "cli").exists()


def test_a_backbone_that_cannot_load_is_refused_before_anything_is_written(
    photos, tiny_spec, tmp_path, monkeypatch, capsys
) -> None:
    """As an optional backbone whose wheel is not installed: the error, and no run folder."""
    from dataclasses import replace

    from hypercol.models import backbones

    gone = replace(tiny_spec, name="gone_vgg", handle=str(tmp_path / "no_saved_model_here"))
    monkeypatch.setitem(backbones._REGISTRY, "gone_vgg", gone)
    with pytest.raises(ValueError, match="no_saved_model_here"):
        train([photos], out=tmp_path / "run", backbone="gone_vgg", steps=1, batch_size=2, crop_size=32)
    assert not (tmp_path / "run").exists()
    argv = ["train", str(photos), "--out", str(tmp_path / "cli"), "--backbone", "gone_vgg", "--steps", "1"]
    assert cli_main(argv) == 2
    assert capsys.readouterr().err.startswith("hypercol train: error:")
    assert not (tmp_path / "cli").exists()


def test_unreadable_photos_in_a_row_end_training_with_one_error_and_no_hang(photos, tmp_path) -> None:
    """The reader's error inside tf.data used to leave the pipeline's threads to the interpreter's exit, where the
    process hung (1 run in 3, SIGTERM ignored by then); it is a TrainingDataError, and the process ends."""
    folder = tmp_path / "mostly_broken"
    folder.mkdir()
    (folder / "a_good.png").write_bytes((photos / "photo1.png").read_bytes())
    for index in range(150):
        (folder / f"broken{index:03d}.jpg").write_bytes(b"")
    script = textwrap.dedent(
        f"""
        from tiny_backbones import TINY_VGG_TAPS, export_tiny_vgg
        from hypercol.models.backbones import BackboneSpec, Tap, register_backbone
        from hypercol.training.train import train
        tiny = export_tiny_vgg(__import__("pathlib").Path({str(tmp_path)!r}) / "tiny")
        register_backbone(BackboneSpec("tiny_vgg", tuple(Tap(*t) for t in TINY_VGG_TAPS), "caffe_bgr", handle=str(tiny)))
        train([{str(folder)!r}], out={str(tmp_path / "run")!r}, steps=40, validation_fraction=0.0, **{TINY!r})
        """
    )  # the exception left uncaught: the interpreter's exit is what hung
    tests_folder = str(Path(__file__).resolve().parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [tests_folder, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False, env=env
    )
    assert done.returncode == 1
    assert "TrainingDataError: 50 photos in a row were unreadable or gray" in done.stderr
    assert "(RuntimeError in the input pipeline)" in done.stderr


def test_bad_settings_are_refused_before_anything_is_written(photos, tiny_spec, tmp_path) -> None:
    with pytest.raises(ValueError, match="steps must be at least 1"):
        train([photos], out=tmp_path / "bad", steps=0, **TINY)
    with pytest.raises(ValueError, match="loss must be one of"):
        train([photos], out=tmp_path / "bad", steps=1, loss="l1", **TINY)
    for learning_rate in (0.0, -1e-3, float("nan"), float("inf"), True, "0.001"):
        with pytest.raises(ValueError, match="learning_rate must be a finite number > 0"):
            train([photos], out=tmp_path / "bad", steps=1, learning_rate=learning_rate, **TINY)
    for weight_decay in (-0.1, float("nan"), float("inf"), None):
        with pytest.raises(ValueError, match="weight_decay must be a finite number >= 0"):
            train([photos], out=tmp_path / "bad", steps=1, weight_decay=weight_decay, **TINY)
    for ema_momentum in (0.0, 1.0, -0.5, float("nan"), "0.9"):
        with pytest.raises(ValueError, match="ema_momentum must be a number > 0 and < 1"):
            train([photos], out=tmp_path / "bad", steps=1, ema_momentum=ema_momentum, **TINY)
    assert not (tmp_path / "bad").exists()


def test_weight_decay_shrinks_the_kernels_and_leaves_biases_and_norms(tiny_spec) -> None:
    from hypercol.models.head import build_head
    from hypercol.training.step import make_optimizer

    head = build_head(tiny_spec.taps, base_width=8)
    for variable in head.trainable_variables:
        variable.assign(tf.ones_like(variable))
    optimizer = make_optimizer(head, learning_rate=0.1, steps=2, weight_decay=0.5)
    for _ in range(2):  # the warm-up's first learning rate is 0; the second step's is 0.1
        optimizer.apply_gradients([(tf.zeros_like(v), v) for v in head.trainable_variables])
    values = {v.path: float(tf.reduce_mean(v)) for v in head.trainable_variables}
    kernels = [value for path, value in values.items() if path.endswith("kernel")]
    kept = [value for path, value in values.items() if path.endswith(("bias", "gamma", "beta"))]
    assert kernels and kept
    np.testing.assert_allclose(kernels, 1.0 - 0.5 * 0.1, rtol=1e-5)  # zero gradients: only the decay moved them
    np.testing.assert_allclose(kept, 1.0)


def test_averaged_weights_are_the_moving_average_inside_the_block_and_the_own_weights_after(tiny_spec) -> None:
    from hypercol.models.head import build_head
    from hypercol.training.step import averaged_weights, make_optimizer

    head = build_head(tiny_spec.taps, base_width=8)
    for variable in head.trainable_variables:
        variable.assign(tf.ones_like(variable))
    optimizer = make_optimizer(head, learning_rate=0.1, steps=3, ema_momentum=0.5)
    own, average = [], 1.0
    for _ in range(3):  # constant gradients: Adam moves each weight by about the scheduled learning rate
        optimizer.apply_gradients([(tf.ones_like(v), v) for v in head.trainable_variables])
        own.append(float(tf.reduce_mean(head.trainable_variables[0])))
        average = own[-1] if len(own) == 1 else 0.5 * average + 0.5 * own[-1]  # the first step starts the average
    assert own[-1] < own[1] < own[0]  # the steps after the warm-up's first (learning rate 0) moved the weights
    with averaged_weights(head, optimizer):
        inside = float(tf.reduce_mean(head.trainable_variables[0]))
    np.testing.assert_allclose(inside, average, rtol=1e-5)
    assert inside > own[-1] + 1e-4  # the average lags behind the last weights
    np.testing.assert_allclose(float(tf.reduce_mean(head.trainable_variables[0])), own[-1], rtol=1e-6)
    plain = make_optimizer(head, learning_rate=0.1, steps=3)
    with averaged_weights(head, plain):  # no moving average: the head as it is
        np.testing.assert_allclose(float(tf.reduce_mean(head.trainable_variables[0])), own[-1], rtol=1e-6)


def test_a_run_with_a_moving_average_validates_and_exports_it(photos, tiny_spec, tmp_path) -> None:
    run = dict(steps=3, validate_every=1, validation_fraction=0.3, checkpoint_every=3, **TINY)
    last = train([photos], out=tmp_path / "last", **run)
    averaged = train([photos], out=tmp_path / "averaged", ema_momentum=0.9, **run)
    assert averaged.card_data.training["ema_momentum"] == 0.9 and "ema_momentum" not in last.card_data.training
    # The same seed trains the same weights (the average steers nothing): the training losses agree, ...
    np.testing.assert_allclose([r["loss"] for r in last.history], [r["loss"] for r in averaged.history], rtol=1e-4)
    # ... while validation and the exported file see the average, which lags behind the last weights.
    assert averaged.history[-1]["validation_loss"] != pytest.approx(last.history[-1]["validation_loss"], rel=1e-4)
    a, b = _weights(last.weights), _weights(averaged.weights)
    assert a.keys() == b.keys()
    assert any(not np.allclose(a[name], b[name], rtol=1e-4, atol=1e-6) for name in a)


def test_evaluate_model_against_gray(photos, tiny_weights, tmp_path) -> None:
    folder = tmp_path / "eval"
    folder.mkdir()
    for name in ("photo1.png", "photo2.png"):
        (folder / name).write_bytes((photos / name).read_bytes())
    result = evaluate_folder(folder, tiny_weights)
    assert result["images"] == 2
    truth = np.asarray(Image.open(folder / "photo1.png").convert("RGB"))
    gray = gray_baseline(truth)
    assert np.abs(gray.astype(int) - gray[..., :1]).max() <= 1  # a = b = 0 is gray
    assert result["mean"]["gray"]["colorfulness"] < 1.0
    assert result["mean"]["truth"]["colorfulness"] > 10.0
    table = format_table(result)
    assert "| psnr |" in table and "gray (a=b=0)" in table


def test_evaluate_skips_and_reports_what_it_cannot_score(photos, tiny_weights, tmp_path, capsys) -> None:
    """One bad file stopped the whole evaluation with a traceback (a 1 x 1 photo with exit 2, after the work), and a
    16-bit gray PNG, read clipped at 255, scored an infinite PSNR."""
    folder = tmp_path / "eval"
    folder.mkdir()
    for name in ("photo1.png", "photo2.png"):
        (folder / name).write_bytes((photos / name).read_bytes())
    Image.fromarray(np.array([[[200, 30, 40]]], np.uint8)).save(folder / "tiny.png")  # too small for SSIM
    (folder / "corrupt.jpg").write_bytes(b"not a jpeg")
    Image.fromarray(np.linspace(0, 65535, 64 * 48).reshape(48, 64).astype(np.uint16)).save(folder / "sixteen.png")
    Image.fromarray(np.full((30, 40, 3), 128, np.uint8)).save(folder / "gray.png")  # no color to compare
    code = cli_main(["evaluate", str(folder), "--weights", str(tiny_weights), "--json"])
    captured = capsys.readouterr()
    printed = json.loads(captured.out, parse_constant=lambda name: pytest.fail(f"not strict JSON: {name}"))
    assert code == 1 and printed["images"] == 2
    reasons = {Path(row["image"]).name: row["error"] for row in printed["skipped"]}
    assert set(reasons) == {"tiny.png", "corrupt.jpg", "sixteen.png", "gray.png"}
    assert "ssim needs H and W >= 7" in reasons["tiny.png"] and "UnidentifiedImageError" in reasons["corrupt.jpg"]
    assert "black-and-white photo (mode 'I;16')" in reasons["sixteen.png"]
    assert "black-and-white photo or nearly (colorfulness 0.0 < 8)" in reasons["gray.png"]
    assert captured.err.count("hypercol evaluate: skipped ") == 4 and "Traceback" not in captured.err
    assert all(np.isfinite(printed["mean"][side]["psnr"]) for side in ("model", "gray"))


def test_evaluate_json_has_no_infinity() -> None:
    from hypercol.cli import _finite

    text = json.dumps(_finite({"psnr": float("inf"), "rows": [float("nan"), 1.5, {"x": -float("inf")}]}))
    assert json.loads(text) == {"psnr": None, "rows": [None, 1.5, {"x": None}]}


def test_cli_train_and_evaluate(photos, tiny_spec, tmp_path, capsys) -> None:
    out = tmp_path / "cli_run"
    code = cli_main(
        [
            "train",
            str(photos),
            "--out",
            str(out),
            "--backbone",
            "tiny_vgg",
            "--steps",
            "2",
            "--batch-size",
            "2",
            "--crop-size",
            "32",
            "--working-size",
            "64",
        ]
    )
    assert code == 0 and (out / "head.weights.h5").exists()
    code = cli_main(["evaluate", str(photos / "nested"), "--weights", str(out / "head.weights.h5"), "--json"])
    assert code == 0
    printed = json.loads(capsys.readouterr().out.split("model card:")[-1].split("\n", 1)[1])
    assert printed["images"] == 1 and set(printed["mean"]) == {"model", "gray", "truth"}
    assert cli_main(["evaluate", str(tmp_path / "nowhere")]) == 2


@pytest.mark.parametrize(("flag", "expected"), [([], bins.REBALANCE_LAMBDA), (["--rebalance-lambda", "1"], 1.0)])
def test_cli_rebalance_lambda_reaches_the_card(flag, expected, photos, tiny_spec, tmp_path) -> None:
    out = tmp_path / "classification"
    argv = ["train", str(photos), "--out", str(out), "--backbone", "tiny_vgg", "--head", "classification"]
    argv += ["--steps", "1", "--batch-size", "2", "--crop-size", "32", "--working-size", "64", *flag]
    assert cli_main(argv) == 0
    assert ModelCard.load(out / "head.json").training["rebalance_lambda"] == expected


def test_cli_weight_decay_reaches_the_card_and_a_bad_one_is_a_usage_error(photos, tiny_spec, tmp_path, capsys) -> None:
    argv = ["train", str(photos), "--backbone", "tiny_vgg", "--steps", "1", "--batch-size", "2", "--crop-size", "32"]
    assert cli_main([*argv, "--out", str(tmp_path / "decayed"), "--weight-decay", "0.01"]) == 0
    assert ModelCard.load(tmp_path / "decayed" / "head.json").training["weight_decay"] == 0.01
    capsys.readouterr()
    assert cli_main([*argv, "--out", str(tmp_path / "bad"), "--weight-decay", "-1"]) == 2
    assert "weight_decay must be a finite number >= 0, got -1.0" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    assert cli_main([*argv, "--out", str(tmp_path / "averaged"), "--ema-momentum", "0.99"]) == 0
    assert ModelCard.load(tmp_path / "averaged" / "head.json").training["ema_momentum"] == 0.99
    capsys.readouterr()
    assert cli_main([*argv, "--out", str(tmp_path / "bad"), "--ema-momentum", "1"]) == 2
    assert "ema_momentum must be a number > 0 and < 1, got 1.0" in capsys.readouterr().err


def test_tf_data_pipeline_matches_reader(photos) -> None:
    from hypercol.training.photos import make_dataset

    reader = ExampleReader(find_images([photos]), 16)
    lightness, chroma = next(iter(make_dataset(reader, batch_size=3, start=5)))
    assert lightness.shape == (3, 16, 16) and chroma.shape == (3, 16, 16, 2)
    expected = tf.convert_to_tensor(reader(6), tf.float32) / 255.0
    from hypercol.core.color import rgb_to_lab

    np.testing.assert_allclose(lightness[1].numpy(), rgb_to_lab(expected)[..., 0].numpy(), atol=1e-3)


def test_classification_head_trains_and_decodes_with_temperature(photos, tiny_spec, tmp_path) -> None:
    result = train([photos], out=tmp_path / "classes", head_type="classification", steps=2, **TINY)
    card = result.card_data
    assert card.head_type == "classification" and card.training["loss"] == "rebalanced_cross_entropy"
    assert len(card.bins) == len(card.bin_weights) == card.head_config["outputs"] > 5
    assert card.head_config["output_stride"] == 4 and card.training["rebalance_lambda"] == 0.5
    assert np.ptp(card.bin_weights) > 0.1  # rebalanced: rare colors weigh more
    colorizer = Colorizer(result.weights)
    image = np.add.outer(np.arange(40), np.arange(50)).astype(np.uint8) * 2

    def mean_chroma(rgb: np.ndarray) -> float:
        return float(np.abs(rgb.astype(int) - rgb[..., 1:2]).mean())

    warm, cold = colorizer.colorize(image, temperature=1.0), colorizer.colorize(image, temperature=0.1)
    assert warm.shape == cold.shape == (40, 50, 3) and not np.array_equal(warm, cold)
    gray = colorizer.colorize(image, saturation=0.0)
    assert np.abs(gray.astype(int) - gray[..., :1]).max() <= 1
    with pytest.raises(ValueError, match="temperature"):
        colorizer.colorize(image, temperature=-1.0)
    assert mean_chroma(colorizer.colorize(image, saturation=2.0)) >= mean_chroma(colorizer.colorize(image))


def test_rebalance_lambda_one_trains_with_uniform_class_weights(photos, tiny_spec, tmp_path) -> None:
    result = train([photos], out=tmp_path / "plain", head_type="classification", steps=1, rebalance_mix=1.0, **TINY)
    assert result.card_data.training["rebalance_lambda"] == 1.0
    np.testing.assert_allclose(result.card_data.bin_weights, 1.0, rtol=1e-5)


def test_temperature_is_refused_for_a_regression_head(tiny_weights) -> None:
    colorizer = Colorizer(tiny_weights)
    with pytest.raises(ValueError, match="classification heads"):
        colorizer.colorize(np.zeros((8, 8), np.uint8), temperature=0.5)
    with pytest.raises(ValueError, match="saturation"):
        colorizer.colorize(np.zeros((8, 8), np.uint8), saturation=float("nan"))


def test_color_prior_by_hand() -> None:
    from hypercol.training.prior import estimate_color_prior

    chroma = np.array([[0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [40.0, -20.0]], np.float32)
    centres, probabilities, weights = estimate_color_prior([chroma[:2], chroma[2:]], mix=1.0)
    assert centres.tolist() == [[0.0, 0.0], [40.0, -20.0]]
    np.testing.assert_allclose(probabilities, [0.75, 0.25])
    np.testing.assert_allclose(weights, 1.0, rtol=1e-5)  # mix 1: no rebalancing


def test_the_time_budget_ends_the_session_with_a_checkpoint(photos, tiny_spec, tmp_path) -> None:
    result = train([photos], out=tmp_path / "budget", steps=50, checkpoint_every=40, time_limit_minutes=1e-9, **TINY)
    assert [r["step"] for r in result.history] == [1] and result.card_data.training["steps"] == 1
    assert json.loads((tmp_path / "budget" / "progress.json").read_text())["step"] == 1


def test_cli_train_passes_the_api_s_defaults_and_its_minutes(photos, tmp_path, monkeypatch) -> None:
    from types import SimpleNamespace

    import hypercol.training.train as training
    from hypercol.training.config import DEFAULT_STEPS, TrainConfig

    given = {}

    def fake_train(data, **settings):
        given.update(settings)
        return SimpleNamespace(weights=tmp_path / "w", card=tmp_path / "c")

    monkeypatch.setattr(training, "train", fake_train)
    assert cli_main(["train", str(photos), "--out", str(tmp_path / "run"), "--time-limit", "1.5"]) == 0
    config = TrainConfig(**given)  # every option the command passes is a setting of the API
    assert config.steps == DEFAULT_STEPS == TrainConfig(out="run").steps
    assert config.time_limit_minutes == 1.5 and config.time_limit_seconds == 90
    assert config.head_type == "regression" and config.rebalance_mix is None
