"""The feature cache: building, resuming, copy-paste augmentation, and training a head from it."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hypercol.training.cache import CACHE_FILE, CHROMA, CachedData, FeatureCache, build_feature_cache, paste_cutouts
from hypercol.training.distill import DistilledData, Teacher, distilled_objective
from hypercol.training.train import train

CROP = 32


def _photos(folder: Path, count: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    names = []
    for index in range(count):
        top, bottom = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        ramp = np.linspace(0, 1, 48)[:, None, None]
        pixels = top * ramp + bottom * (1 - ramp) + rng.normal(0, 12, (48, 64, 3))
        name = f"p{index}.png"
        Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(folder / name)
        names.append(name)
    return names


@pytest.fixture(scope="module")
def sets_manifest(tmp_path_factory) -> Path:
    """Two photo sets (one with a gray and a corrupt photo) and a set of cut-outs."""
    root = tmp_path_factory.mktemp("sets")
    scenes = _photos(root / "scenes", 6, 1)
    Image.fromarray(np.full((40, 40), 90, np.uint8)).save(root / "scenes" / "gray.png")
    (root / "scenes" / "corrupt.png").write_bytes(b"no png")
    faces = _photos(root / "faces", 4, 2)
    (root / "cutouts").mkdir()
    cutout = np.zeros((20, 20, 4), np.uint8)
    cutout[5:15, 5:15] = (255, 0, 0, 255)
    Image.fromarray(cutout).save(root / "cutouts" / "red.png")
    entry = lambda names: [{"file": n, "sha256": ""} for n in names]
    sets = {
        "scenes": {
            "kind": "photos",
            "root": str(root / "scenes"),
            "crops_per_photo": 2,
            "train": entry([*scenes[:5], "gray.png", "corrupt.png"]),
            "validation": entry(scenes[5:]),
        },
        "faces": {
            "kind": "photos",
            "root": str(root / "faces"),
            "train": entry(faces[:3]),
            "validation": entry(faces[3:]),
        },
        "stamps": {"kind": "cutouts", "root": str(root / "cutouts"), "train": entry(["red.png"]), "validation": []},
    }
    path = root / "sets.json"
    path.write_text(json.dumps({"sets": sets}))
    return path


@pytest.fixture(scope="module")
def cache(sets_manifest, tiny_spec, tmp_path_factory) -> FeatureCache:
    out = tmp_path_factory.mktemp("cache")
    return build_feature_cache(sets_manifest, out, backbone="tiny_vgg", crop_size=CROP, progress=False)


def test_cache_holds_taps_of_stride_4_and_up_and_the_chroma(cache, tiny_spec) -> None:
    deep = [tap for tap in tiny_spec.taps if tap.stride >= 4]
    assert cache.tap_keys == [tap.key for tap in deep]
    # gray and corrupt photos leave no rows: 5 colorful photos x 2 crops
    assert cache.parts("train") == {"scenes": 10, "faces": 3}
    assert cache.parts("validation") == {"scenes.validation": 1, "faces.validation": 1}
    arrays = cache.arrays("scenes")
    for tap in deep:
        assert arrays[tap.key].shape == (14, CROP // tap.stride, CROP // tap.stride, tap.channels)
        assert arrays[tap.key].dtype == np.float16
    chroma = np.asarray(arrays[CHROMA][:10], np.float32)
    assert chroma.shape == (10, CROP // 4, CROP // 4, 2) and np.abs(chroma).max() > 5  # colorful crops


def test_cache_resumes_where_it_stopped_and_gives_the_same_rows(cache, sets_manifest, tmp_path) -> None:
    out = tmp_path / "again"
    build_feature_cache(sets_manifest, out, backbone="tiny_vgg", crop_size=CROP, sets=["faces"], progress=False)
    partial = FeatureCache.open(out)
    assert partial.parts("train") == {"faces": 3}
    resumed = build_feature_cache(sets_manifest, out, backbone="tiny_vgg", crop_size=CROP, progress=False)
    assert resumed.parts("train") == cache.parts("train")
    for part in ("scenes", "faces", "faces.validation"):
        for key, array in cache.arrays(part).items():
            np.testing.assert_array_equal(resumed.arrays(part)[key], array)
    with pytest.raises(ValueError, match="other settings"):
        build_feature_cache(sets_manifest, out, backbone="tiny_vgg", crop_size=2 * CROP, progress=False)


def test_a_cache_of_long_side_crops_names_them_and_is_not_resumed_as_another(sets_manifest, tmp_path) -> None:
    out = tmp_path / "long"
    long = build_feature_cache(
        sets_manifest, out, backbone="tiny_vgg", crop_size=CROP, sets=["faces"], crop_scale_of="long", progress=False
    )
    assert long.meta["crop_scale_of"] == "long" and long.parts("train") == {"faces": 3}
    with pytest.raises(ValueError, match="other settings"):
        build_feature_cache(sets_manifest, out, backbone="tiny_vgg", crop_size=CROP, sets=["faces"], progress=False)
    # A cache from before the option holds short-side crops: resumed as such, refused as long-side ones.
    short = tmp_path / "short"
    build_feature_cache(sets_manifest, short, backbone="tiny_vgg", crop_size=CROP, sets=["faces"], progress=False)
    meta_path = short / CACHE_FILE
    meta = json.loads(meta_path.read_text())
    del meta["crop_scale_of"]
    meta_path.write_text(json.dumps(meta))
    build_feature_cache(sets_manifest, short, backbone="tiny_vgg", crop_size=CROP, sets=["faces"], progress=False)
    with pytest.raises(ValueError, match="other settings"):
        build_feature_cache(
            sets_manifest, short, backbone="tiny_vgg", crop_size=CROP, crop_scale_of="long", progress=False
        )


def test_paste_cutouts_respects_alpha() -> None:
    crop = np.full((40, 40, 3), 128, np.uint8)
    transparent = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    unchanged = paste_cutouts(crop, [transparent], np.random.default_rng(0), count=2)
    np.testing.assert_array_equal(unchanged, crop)
    opaque = Image.new("RGBA", (10, 10), (255, 0, 0, 255))
    pasted = paste_cutouts(crop, [opaque], np.random.default_rng(0), count=1)
    red = (pasted[..., 0] == 255) & (pasted[..., 1] == 0)
    assert 0.02 < red.mean() < 0.6 and (pasted[~red] == 128).all()


CACHED = {"backbone": "tiny_vgg", "head_type": "classification", "batch_size": 4, "progress": False}
TINY_HEAD = {"base_width": 16, "min_width": 8, "global_context": True}


def test_training_from_the_cache_resumes_exactly(cache, tmp_path) -> None:
    folder = [cache.folder]
    common = dict(CACHED, head_config=TINY_HEAD, steps=4, checkpoint_every=2)
    straight = train(folder, out=tmp_path / "straight", **common)
    train(folder, out=tmp_path / "resumed", stop_at=2, **common)
    resumed = train(folder, out=tmp_path / "resumed", resume=True, **common)
    assert straight.card_data.training["steps"] == resumed.card_data.training["steps"] == 4
    assert straight.card_data.taps == cache.tap_keys
    assert straight.card_data.training["training_examples"] == {"faces": 3, "scenes": 10}
    assert np.isfinite(straight.card_data.training["validation_loss"])
    assert straight.history[-1]["loss"] == pytest.approx(resumed.history[-1]["loss"], rel=1e-3)


def test_set_weights_choose_the_sets(cache, tmp_path) -> None:
    result = train([cache.folder], out=tmp_path / "faces", steps=1, set_weights={"faces": 1.0}, **CACHED)
    assert result.card_data.training["training_examples"] == {"faces": 3}
    assert result.card_data.training["validation_images"] == 1  # only the faces' validation crop
    with pytest.raises(ValueError, match="does not hold"):
        train([cache.folder], out=tmp_path / "bad", steps=1, set_weights={"cats": 1.0}, **CACHED)
    with pytest.raises(ValueError, match="not all 0"):
        train([cache.folder], out=tmp_path / "bad", steps=1, set_weights={"faces": 0.0}, **CACHED)


def test_a_head_trained_from_the_cache_colorizes(cache, tmp_path) -> None:
    from hypercol.inference.colorizer import Colorizer

    config = {**TINY_HEAD, "context_blocks": 1}
    result = train([cache.folder], out=tmp_path / "run", steps=2, working_size=32, head_config=config, **CACHED)
    assert result.card_data.head_config["context_blocks"] == 1  # the card rebuilds the same head
    rgb = Colorizer(result.weights).colorize(np.linspace(0, 255, 40 * 50).reshape(40, 50).astype(np.uint8))
    assert rgb.shape == (40, 50, 3) and rgb.dtype == np.uint8


def test_a_regression_head_from_the_cache_predicts_at_stride_4(cache, tmp_path) -> None:
    from hypercol.inference.colorizer import Colorizer

    config = {**CACHED, "head_type": "regression", "head_config": {"base_width": 16, "min_width": 8}}
    result = train([cache.folder], out=tmp_path / "regression", steps=2, working_size=32, **config)
    assert result.card_data.head_config["output_stride"] == 4 and result.card_data.training["loss"] == "dahl"
    rgb = Colorizer(result.weights).colorize(np.full((30, 20), 100, np.uint8))
    assert rgb.shape == (30, 20, 3)


def test_validation_split_lists_the_held_out_photos_of_the_named_sets(sets_manifest) -> None:
    from hypercol.evaluation.evaluate import validation_split

    sets = json.loads(sets_manifest.read_text())["sets"]
    paths = validation_split(sets_manifest, ["faces", "scenes"])
    expected = [
        Path(sets[name]["root"]) / item["file"] for name in ("faces", "scenes") for item in sets[name]["validation"]
    ]
    assert paths == expected and all(path.exists() for path in paths)
    assert not set(paths) & {Path(sets["scenes"]["root"]) / item["file"] for item in sets["scenes"]["train"]}
    with pytest.raises(ValueError, match="no sets"):
        validation_split(sets_manifest, ["people"])


def test_caches_of_other_seeds_train_together(cache, sets_manifest, tmp_path) -> None:
    other = build_feature_cache(
        sets_manifest, tmp_path / "seed1", backbone="tiny_vgg", crop_size=CROP, seed=1, progress=False
    )
    data = CachedData([cache.folder, other.folder], seed=0, set_weights=None, max_validation_images=8)
    assert dict(zip(data.parts, data.counts)) == {"faces": 6, "scenes": 20}
    chroma_rows = {  # (set, cache index) -> that cache's target chroma rows of the set
        (name, number): np.asarray(source.arrays(name)[CHROMA])
        for name in ("faces", "scenes")
        for number, source in enumerate((cache, other))
    }
    found = set()
    for index in range(64):
        chroma = data.example(index)[-1]
        where = [key for key, rows in chroma_rows.items() if any(np.array_equal(chroma, row) for row in rows)]
        assert len(where) == 1, "every example is one row of one cache"
        found.add(where[0][1])
    assert found == {0, 1}
    result = train([cache.folder, other.folder], out=tmp_path / "both", steps=1, **CACHED)
    assert [c["seed"] for c in result.card_data.training["feature_caches"]] == [0, 1]


def test_caches_that_cannot_train_together_are_refused(cache, sets_manifest, tmp_path) -> None:
    with pytest.raises(ValueError, match="same seed"):
        CachedData([cache.folder, cache.folder], seed=0, set_weights=None, max_validation_images=8)
    bigger = build_feature_cache(
        sets_manifest, tmp_path / "big", backbone="tiny_vgg", crop_size=2 * CROP, seed=1, progress=False
    )
    with pytest.raises(ValueError, match="crop_size"):
        CachedData([cache.folder, bigger.folder], seed=0, set_weights=None, max_validation_images=8)
    with pytest.raises(ValueError, match="only caches or only photos"):
        train([cache.folder, tmp_path], out=tmp_path / "mixed", steps=1, **CACHED)


def test_cli_trains_a_head_with_context_blocks_dropout_and_a_1x1_output_on_every_second_photo(
    cache, tmp_path, capsys
) -> None:
    from hypercol.cli import main

    common = ["train", str(cache.folder), "--backbone", "tiny_vgg", "--head", "classification", "--steps", "1"]
    common += ["--batch-size", "4", "--global-context"]
    options = ["--context-blocks", "2", "--every-nth-photo", "2", "--base-width", "24", "--output-kernel", "1"]
    options += ["--deep-dropout", "0.25", "--deep-dropout-taps", "2", "--set-deep-dropout", "scenes=0.5"]
    assert main([*common, "--out", str(tmp_path / "run"), *options]) == 0
    card = json.loads((tmp_path / "run" / "head.json").read_text())
    assert card["head"]["context_blocks"] == 2 and card["head"]["global_context"] is True
    assert card["head"]["base_width"] == 24 and card["head"]["output_kernel"] == 1
    assert card["head"]["deep_dropout"] == 0.25 and card["head"]["deep_dropout_taps"] == 2
    assert card["training"]["every_nth_photo"] == 2 and card["training"]["set_deep_dropout"] == {"scenes": 0.5}
    assert main([*common, "--out", str(tmp_path / "bad"), "--context-blocks", "-1"]) != 0
    assert "context_blocks must be >= 0" in capsys.readouterr().err
    assert main([*common, "--out", str(tmp_path / "bad"), "--deep-dropout", "1"]) != 0
    assert "deep_dropout must be in [0, 1)" in capsys.readouterr().err


def test_a_classification_head_at_output_stride_8_trains_from_the_cache_and_colorizes(cache, tmp_path, capsys) -> None:
    import tensorflow as tf

    from hypercol.cli import main
    from hypercol.inference.colorizer import Colorizer

    common = ["train", str(cache.folder), "--backbone", "tiny_vgg", "--steps", "2", "--batch-size", "4"]
    assert main([*common, "--head", "classification", "--out", str(tmp_path / "run"), "--output-stride", "8"]) == 0
    card = json.loads((tmp_path / "run" / "head.json").read_text())
    assert card["head"]["output_stride"] == 8
    colorizer = Colorizer(tmp_path / "run" / "head.weights.h5")
    canvas = tf.zeros((1, colorizer.working_size, colorizer.working_size, 1))
    features = colorizer.backbone(canvas)
    logits = colorizer.head([canvas, *[features[tap.key] for tap in colorizer.backbone.spec.taps]])
    assert logits.shape[1:3] == (colorizer.working_size // 8,) * 2  # the cache's chroma is at stride 4
    image = np.add.outer(np.arange(40), np.arange(50)).astype(np.uint8) * 2
    colored = colorizer.colorize(image)
    assert colored.shape == (40, 50, 3) and np.abs(colored.astype(int) - colored[..., 1:2]).max() > 0
    assert main([*common, "--out", str(tmp_path / "regression"), "--output-stride", "8"]) == 2
    assert "output_stride is an option of the classification head" in capsys.readouterr().err
    with pytest.raises(ValueError, match="output stride is one of"):
        train([cache.folder], out=tmp_path / "api", steps=1, head_config={"output_stride": 16}, **CACHED)


def test_every_nth_photo_trains_on_the_crops_of_those_photos_only(cache, sets_manifest, tmp_path) -> None:
    other = build_feature_cache(
        sets_manifest, tmp_path / "seed1", backbone="tiny_vgg", crop_size=CROP, seed=1, progress=False
    )
    # scenes: 5 usable photos x 2 crops per cache (gray and corrupt left out); faces: 3 photos x 1 crop
    assert (cache.crops_per_photo("scenes"), cache.crops_per_photo("faces")) == (2, 1)
    both = [cache.folder, other.folder]
    data = CachedData(both, seed=0, set_weights=None, max_validation_images=8, every_nth_photo=2)
    assert dict(zip(data.parts, data.counts)) == {"faces": 4, "scenes": 12}  # photos 0, 2 (+4 for scenes) of each
    kept = {  # the target chroma of every crop of photos 0, 2, 4 of each cache, and of the others
        keep: [
            row
            for source in (cache, other)
            for name in ("faces", "scenes")
            for number, row in enumerate(np.asarray(source.arrays(name)[CHROMA][: source.parts()[name]]))
            if (number // source.crops_per_photo(name) % 2 == 0) is keep
        ]
        for keep in (True, False)
    }
    drawn = [data.example(index)[-1] for index in range(80)]
    assert all(any(np.array_equal(d, row) for row in kept[True]) for d in drawn)
    assert {i for i, row in enumerate(kept[True]) if any(np.array_equal(d, row) for d in drawn)} == set(
        range(len(kept[True]))
    ), "every kept crop is drawn"
    result = train([cache.folder], out=tmp_path / "half", steps=1, every_nth_photo=2, **CACHED)
    assert result.card_data.training["every_nth_photo"] == 2
    assert result.card_data.training["training_examples"] == {"faces": 2, "scenes": 6}
    with pytest.raises(ValueError, match="every_nth_photo must be at least 1"):
        CachedData([cache.folder], seed=0, set_weights=None, max_validation_images=8, every_nth_photo=0)
    with pytest.raises(ValueError, match="every_nth_photo applies to a feature cache"):
        train([tmp_path], out=tmp_path / "photos", steps=1, every_nth_photo=2, **CACHED)


def test_both_data_sources_are_training_data_and_feed_the_one_color_prior(cache, sets_manifest) -> None:
    from hypercol.training.data import TrainingData, to_lightness_and_chroma
    from hypercol.training.photos import PhotoData
    from hypercol.training.prior import estimate_color_prior

    scenes = sets_manifest.parent / "scenes"
    photos = PhotoData([scenes], CROP, seed=0, validation_fraction=0.3, max_validation_images=4)
    cached = CachedData([cache.folder], seed=0, set_weights=None, max_validation_images=8)
    assert isinstance(photos, TrainingData) and isinstance(cached, TrainingData)
    # each source feeds the one estimate the target chroma of its own first examples
    expected = {
        id(photos): estimate_color_prior(
            (to_lightness_and_chroma(photos.reader(index))[1].numpy() for index in range(256)), 0.5
        ),
        id(cached): estimate_color_prior((cached.example(index)[-1] for index in range(1024)), 0.5),
    }
    for source in (photos, cached):
        for got, want in zip(source.color_prior(0.5), expected[id(source)], strict=True):
            np.testing.assert_array_equal(got, want)
    # the one tf.data pipeline serves the cache's examples in order, as float32
    batch = next(iter(cached.dataset(2, 3, 1)))
    assert len(batch) == len(cached.keys) and all(tensor.dtype.name == "float32" for tensor in batch)
    np.testing.assert_array_equal(batch[-1][1].numpy(), cached.example(4)[-1].astype(np.float32))
    # only photos carry the lightness to show colorized samples, and only photos skip files
    lightness, sample = photos.sample_batch(2)
    assert lightness.shape == (2, CROP, CROP) and len(sample) == 2
    assert cached.sample_batch(2) is None and cached.skipped_note() is None
    assert "1 unreadable and 1 near-gray" in (photos.skipped_note() or "")


# --- distillation: a head trained towards trained heads' averaged distribution ---------------


@pytest.fixture(scope="module")
def other_backbone_cache(sets_manifest, tiny_spec, tmp_path_factory) -> FeatureCache:
    """The module cache's crops (same manifest and seed) through a second tiny backbone, ``tiny_vgg_b``."""
    from tiny_backbones import export_tiny_vgg

    from hypercol.models.backbones import register_backbone

    folder = export_tiny_vgg(tmp_path_factory.mktemp("tiny_vgg_b") / "saved_model", seed=1)
    register_backbone(dataclasses.replace(tiny_spec, name="tiny_vgg_b", handle=str(folder)), overwrite=True)
    out = tmp_path_factory.mktemp("cache_b")
    return build_feature_cache(sets_manifest, out, backbone="tiny_vgg_b", crop_size=CROP, progress=False)


@pytest.fixture(scope="module")
def teachers(cache, other_backbone_cache, tmp_path_factory) -> list[Teacher]:
    """A classification head trained on each backbone's cache (the recipe of the student below)."""
    out = tmp_path_factory.mktemp("teachers")
    found = []
    for name, source in (("a", cache), ("b", other_backbone_cache)):
        options = {**CACHED, "backbone": source.meta["backbone"]}
        result = train([source.folder], out=out / name, steps=3, head_config=TINY_HEAD, **options)
        found.append(Teacher(result.weights, source.folder))
    return found


def test_distilled_examples_pair_each_cache_s_row_of_the_same_crop(cache, other_backbone_cache, teachers) -> None:
    student = CachedData([cache.folder], seed=0, set_weights=None, max_validation_images=8)
    data = DistilledData(student, teachers, output_stride=4)
    taps = len(cache.tap_keys)
    for index in range(12):
        values = data.example(index)
        own = student.example(index)
        assert all(np.array_equal(a, b) for a, b in zip(values[: taps + 1], own))
        chroma = values[taps]
        name, row = next(
            (name, row)
            for name in ("faces", "scenes")
            for row, cached in enumerate(np.asarray(cache.arrays(name)[CHROMA]))
            if np.array_equal(cached, chroma)
        )
        theirs = other_backbone_cache.arrays(name)
        np.testing.assert_array_equal(np.asarray(theirs[CHROMA][row]), chroma)
        for value, key in zip(values[taps + 1 :], other_backbone_cache.tap_keys):
            np.testing.assert_array_equal(value, np.asarray(theirs[key][row]))  # the second backbone's taps
    assert len(data.validation) == 2 * taps + 1


def test_the_teachers_target_is_their_mean_softmax_and_the_loss_mixes_it_with_the_truth(cache, teachers) -> None:
    import tensorflow as tf

    from hypercol.training.losses import objective

    student = CachedData([cache.folder], seed=0, set_weights=None, max_validation_images=8)
    data = DistilledData(student, teachers, output_stride=4)
    batch = data.validation
    probabilities = data.teacher_probabilities(batch).numpy()
    taps = len(cache.tap_keys)
    gray = tf.zeros((batch[0].shape[0], 1, 1, 1))
    one_by_one = [
        tf.nn.softmax(head([gray, *batch[start : start + count]])).numpy() for head, start, count in data.heads
    ]
    assert [start for _, start, _ in data.heads] == [0, taps + 1]  # the first teacher reads the student's taps
    assert not np.allclose(one_by_one[0], one_by_one[1], atol=1e-3)
    np.testing.assert_allclose(probabilities, (one_by_one[0] + one_by_one[1]) / 2, atol=1e-6)

    goal = objective("classification", "dahl", data, dict(TINY_HEAD), 1.0)
    logits = tf.random.stateless_normal(probabilities.shape, seed=(1, 2))
    chroma = batch[taps]
    by_hand = np.mean(tf.reduce_logsumexp(logits, -1).numpy() - np.sum(probabilities * logits.numpy(), -1), axis=(1, 2))
    taught = distilled_objective(goal, 1.0).loss((chroma, probabilities), logits).numpy()
    np.testing.assert_allclose(taught, by_hand, rtol=1e-5)
    mixed = distilled_objective(goal, 0.25).loss((chroma, probabilities), logits).numpy()
    truth = goal.loss(chroma, logits).numpy()
    np.testing.assert_allclose(mixed, 0.25 * by_hand + 0.75 * truth, rtol=1e-5)


def test_a_student_distilled_from_a_teacher_comes_closer_to_it_than_one_taught_by_the_truth(
    cache, teachers, tmp_path
) -> None:
    import tensorflow as tf

    from hypercol.models.backbones import get_spec
    from hypercol.models.head import load_trained_head

    common = {**CACHED, "head_config": TINY_HEAD, "seed": 5, "steps": 40, "teachers": teachers[:1]}
    taught = train([cache.folder], out=tmp_path / "taught", teacher_weight=1.0, **common)
    truth = train([cache.folder], out=tmp_path / "truth", teacher_weight=0.0, **common)  # same start, same crops
    training = taught.card_data.training
    assert training["teachers"] == [{"weights": str(teachers[0].weights), "cache": str(cache.folder)}]
    assert training["teacher_weight"] == 1.0 and "distilled" in training["loss"]
    student = CachedData([cache.folder], seed=0, set_weights=None, max_validation_images=8)
    data = DistilledData(student, teachers[:1], output_stride=4)
    target = data.teacher_probabilities(data.validation)
    inputs = [tf.zeros((target.shape[0], 1, 1, 1)), *data.validation[: len(cache.tap_keys)]]
    taps = get_spec("tiny_vgg").select(cache.tap_keys).taps

    def distance(result) -> float:  # the cross-entropy of the head's softmax against the teacher's
        head = load_trained_head(result.weights, taps, result.card_data.head_config)
        logits = tf.cast(head(inputs, training=False), tf.float32)
        return float(tf.reduce_mean(tf.reduce_logsumexp(logits, -1) - tf.reduce_sum(target * logits, -1)))

    assert distance(taught) < distance(truth) - 0.05


def test_teachers_that_cannot_teach_are_refused(cache, sets_manifest, teachers, tmp_path, capsys) -> None:
    from hypercol.cli import main

    reseeded = build_feature_cache(
        sets_manifest, tmp_path / "seed1", backbone="tiny_vgg", crop_size=CROP, seed=1, progress=False
    )
    with pytest.raises(ValueError, match="does not hold the crops"):
        train([cache.folder], out=tmp_path / "r", steps=1, teachers=[(teachers[0].weights, reseeded.folder)], **CACHED)
    with pytest.raises(ValueError, match="reads tiny_vgg_b taps"):
        train([cache.folder], out=tmp_path / "w", steps=1, teachers=[(teachers[1].weights, cache.folder)], **CACHED)
    regression = train([cache.folder], out=tmp_path / "reg", steps=1, **{**CACHED, "head_type": "regression"})
    with pytest.raises(ValueError, match="must be a classification head"):
        train([cache.folder], out=tmp_path / "g", steps=1, teachers=[(regression.weights, cache.folder)], **CACHED)
    with pytest.raises(ValueError, match="distil into a classification head"):
        train([cache.folder], out=tmp_path / "h", steps=1, teachers=teachers, **{**CACHED, "head_type": "regression"})
    with pytest.raises(ValueError, match="not from photo folders"):
        train([tmp_path], out=tmp_path / "p", steps=1, teachers=teachers, **CACHED)
    with pytest.raises(ValueError, match="one feature cache"):
        train([cache.folder, reseeded.folder], out=tmp_path / "two", steps=1, teachers=teachers, **CACHED)
    with pytest.raises(ValueError, match="teacher_weight must be a number from 0 to 1"):
        train([cache.folder], out=tmp_path / "t", steps=1, teachers=teachers, teacher_weight=1.5, **CACHED)
    assert not any((tmp_path / name).exists() for name in ("r", "w", "g", "h", "p", "two", "t"))
    common = ["train", str(cache.folder), "--backbone", "tiny_vgg", "--head", "classification", "--steps", "1"]
    pairs = [arg for t in teachers for arg in ("--teacher", str(t.weights), str(t.cache))]
    assert main([*common, "--batch-size", "4", "--out", str(tmp_path / "cli"), *pairs, "--teacher-weight", "0.7"]) == 0
    card = json.loads((tmp_path / "cli" / "head.json").read_text())
    assert card["training"]["teacher_weight"] == 0.7 and len(card["training"]["teachers"]) == 2


def test_set_deep_dropout_drops_maps_of_the_deepest_tap_in_that_sets_examples_only(cache, tiny_spec, tmp_path) -> None:
    weights = {"scenes": 1.0, "faces": 1.0}
    plain = CachedData([cache.folder], seed=0, set_weights=weights, max_validation_images=8)
    data = CachedData(
        [cache.folder],
        seed=0,
        set_weights=weights,
        max_validation_images=8,
        set_deep_dropout={"scenes": 0.75},
        head_deep_dropout=0.5,
    )
    assert data.data_dropout == {"scenes": 0.5}  # the head keeps half, the data half of that: a quarter in all
    deepest = max((tap for tap in tiny_spec.taps if tap.stride >= 4), key=lambda tap: tap.stride)
    assert data.tap_keys[data.deepest_tap] == deepest.key
    face_rows = np.asarray(cache.arrays("faces")[CHROMA][: cache.parts()["faces"]])
    seen, zeroed_maps, live_maps = {"faces": 0, "scenes": 0}, 0, 0
    for index in range(60):
        before, after = plain.example(index), data.example(index)
        for key, (a, b) in enumerate(zip(before, after)):
            if key != data.deepest_tap:
                np.testing.assert_array_equal(a, b)  # the same draw; only the deepest tap changes
        is_face = any(np.array_equal(before[-1], row) for row in face_rows)
        seen["faces" if is_face else "scenes"] += 1
        tap, dropped_tap = (np.asarray(x, np.float32) for x in (before[data.deepest_tap], after[data.deepest_tap]))
        if is_face:
            np.testing.assert_array_equal(tap, dropped_tap)
            continue
        live = np.any(tap != 0, axis=(0, 1))
        zeroed = np.all(dropped_tap == 0, axis=(0, 1)) & live
        np.testing.assert_allclose(np.where(zeroed, 0, 2 * tap), dropped_tap, rtol=1e-3)  # whole maps, or 2x
        zeroed_maps, live_maps = zeroed_maps + zeroed.sum(), live_maps + live.sum()
    assert min(seen.values()) > 10
    assert 0.35 < zeroed_maps / live_maps < 0.65, (zeroed_maps, live_maps)  # half of them, in the data
    np.testing.assert_array_equal(data.validation[data.deepest_tap], plain.validation[plain.deepest_tap])
    for rates, match in (
        ({"scenes": 0.25}, "must be in \\[the head's deep_dropout 0.5, 1\\)"),
        ({"scenes": 1.0}, "must be in"),
        ({"scenes": float("nan")}, "must be in"),
        ({"stamps": 0.6}, "not trained on"),
    ):
        with pytest.raises(ValueError, match=match):
            CachedData(
                [cache.folder],
                seed=0,
                set_weights=weights,
                max_validation_images=8,
                set_deep_dropout=rates,
                head_deep_dropout=0.5,
            )
    result = train([cache.folder], out=tmp_path / "run", steps=1, set_deep_dropout={"faces": 0.3}, **CACHED)
    assert result.card_data.training["set_deep_dropout"] == {"faces": 0.3}
    with pytest.raises(ValueError, match="set deep dropout applies to a feature cache"):
        train([tmp_path], out=tmp_path / "photos", steps=1, set_deep_dropout={"faces": 0.3}, **CACHED)
