"""Color hints and reference photos (issue 9) on the tiny backbone + random head.

Synthetic scenes make the expectations exact: flat regions of one gray level are "one
object" to the backbone, a large lightness step is a strong edge.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from skimage import color as skcolor

from hypercol import ColorizeFilter, colorize
from hypercol.cli import main
from hypercol.inference.guidance import (
    DEFAULT_SETTINGS,
    FEATURE_DIMS,
    Grid,
    Reference,
    attraction_exponents,
    best_matches,
    neighbour_pairs,
    prepare_reference,
    propagate_hints,
    solve_residual,
)

DARK, BRIGHT = 90, 225  # gray levels: CIE L 38 and 89, a strong edge between them
RED = (170, 25, 25)  # CIE L 36, like DARK
YELLOW = (235, 225, 70)  # CIE L 89, like BRIGHT


def lab(rgb: np.ndarray) -> np.ndarray:
    return skcolor.rgb2lab(rgb[..., :3])


def chroma_of(rgb_color) -> np.ndarray:
    return lab(np.array([[rgb_color]], np.uint8))[0, 0, 1:]


def stripes(height: int = 96, width: int = 144) -> np.ndarray:
    """Dark | bright | dark vertical thirds: the two dark thirds look alike, the bright band between is an edge."""
    image = np.full((height, width), DARK, np.uint8)
    image[:, width // 3 : 2 * width // 3] = BRIGHT
    return image


def dots(shape, points, rgb=RED, size: int = 3) -> np.ndarray:
    """(H, W, 4) uint8 hints: ``size`` x ``size`` opaque squares of ``rgb`` at ``points``."""
    hints = np.zeros((*shape, 4), np.uint8)
    for row, col in points:
        hints[row : row + size, col : col + size] = (*rgb, 255)
    return hints


def ab_distance(rgb: np.ndarray, target) -> np.ndarray:
    return np.linalg.norm(lab(rgb)[..., 1:] - target, axis=-1)


# --- hints --------------------------------------------------------------------------------


def test_no_hint_is_bit_identical(tiny_colorizer) -> None:
    image = stripes()
    automatic = tiny_colorizer.colorize(image)
    np.testing.assert_array_equal(tiny_colorizer.colorize(image, hints=np.zeros((96, 144, 4), np.uint8)), automatic)
    painted_but_clear = np.dstack([np.full((96, 144, 3), 200, np.uint8), np.zeros((96, 144), np.uint8)])
    np.testing.assert_array_equal(tiny_colorizer.colorize(image, hints=painted_but_clear), automatic)
    batch = np.stack([image, image[::-1], 255 - image])
    np.testing.assert_array_equal(
        tiny_colorizer.colorize(batch, hints=np.zeros((3, 96, 144, 4), np.uint8)), tiny_colorizer.colorize(batch)
    )


def test_hinted_pixels_get_the_hint(tiny_colorizer) -> None:
    image = stripes()
    automatic = tiny_colorizer.colorize(image)
    # Each hint's color has about its region's lightness, so its chroma fits in the gamut there.
    points = {(20, 10): RED, (70, 30): RED, (40, 70): YELLOW, (80, 120): RED}
    hints = sum(dots(image.shape, [point], rgb) for point, rgb in points.items())
    out = tiny_colorizer.colorize(image, hints=hints)
    for (row, col), rgb in points.items():
        window = (slice(row, row + 3), slice(col, col + 3))
        assert ab_distance(out[window], chroma_of(rgb)).max() < 8, (row, col)
        assert ab_distance(automatic[window], chroma_of(rgb)).min() > 30  # the random head alone is far off


def test_hint_fills_its_object_and_stops_at_the_edge(tiny_colorizer) -> None:
    image = stripes()
    out = tiny_colorizer.colorize(image, hints=dots(image.shape, [(10, 10)]))
    automatic = tiny_colorizer.colorize(image)
    red = chroma_of(RED)
    near, band = (slice(40, 90), slice(5, 40)), (slice(0, 96), slice(56, 88))
    # The rest of the hinted dark third, far below the dot, turns red up to its edge.
    assert ab_distance(out[near], red).mean() < 0.25 * ab_distance(automatic[near], red).mean()
    # The bright band beyond the strong edge keeps its automatic color.
    assert ab_distance(out[band], lab(automatic[band])[..., 1:]).mean() < 3


def test_far_cells_that_look_alike_take_the_hint() -> None:
    """On a grid whose descriptors say "A B A" (the same object on both sides of another one)."""
    rows, cols = 8, 24
    features = np.zeros((rows, cols, FEATURE_DIMS), np.float32)
    features[..., 0] = 1.0  # A
    features[:, 8:16, :] = 0.0
    features[:, 8:16, 1] = 1.0  # B
    lightness = np.full((rows, cols), 50.0, np.float32)
    lightness[:, 8:16] = 70.0
    grid = Grid(lightness, np.zeros((rows, cols, 2), np.float32), features)
    hinted = np.zeros(rows * cols, bool)
    hinted[2 * cols + 2] = True
    wanted = np.zeros((rows * cols, 2), np.float32)
    wanted[2 * cols + 2] = (40.0, 20.0)
    residual = propagate_hints(grid, hinted, wanted, DEFAULT_SETTINGS)
    assert np.abs(residual[:, :8] - (40.0, 20.0)).max() < 2  # its own part of A
    assert np.abs(residual[:, 16:] - (40.0, 20.0)).max() < 8  # the far part of A, across B
    assert np.abs(residual[:, 8:16]).max() < 2  # B keeps the automatic color


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_hint_cells_are_the_alpha_weighted_means_of_their_pixels(dtype) -> None:
    from hypercol.inference.guidance import hint_cells

    rng = np.random.default_rng(5)
    height, width, working, cells = 37, 53, (22, 32), (6, 8)
    levels = rng.integers(0, 256, (height, width, 4)).astype(np.uint8)
    levels[..., 3] *= rng.random((height, width)) < 0.1  # about a tenth of the pixels hinted
    pixels = (
        levels.astype(np.float32) / 255
        if dtype == np.float32
        else levels.astype(dtype) * (257 if dtype == np.uint16 else 1)
    )
    total, chroma = hint_cells(pixels, working, cells)

    expected_total, expected_sums = np.zeros(cells), np.zeros((*cells, 2))
    for row, col in zip(*np.nonzero(levels[..., 3])):
        cell = (min(int((row + 0.5) * working[0] / (height * 4)), cells[0] - 1),
                min(int((col + 0.5) * working[1] / (width * 4)), cells[1] - 1))  # fmt: skip
        alpha = levels[row, col, 3] / 255
        expected_total[cell] += alpha
        expected_sums[cell] += alpha * lab(levels[row : row + 1, col : col + 1])[0, 0, 1:]
    hinted = expected_total.ravel() > 0
    np.testing.assert_allclose(total, expected_total.ravel(), rtol=1e-5)
    means = expected_sums.reshape(-1, 2)[hinted] / expected_total.ravel()[hinted, np.newaxis]
    np.testing.assert_allclose(chroma[hinted], means, atol=0.05)
    assert not chroma[~hinted].any() and hinted.sum() > 10


@pytest.mark.parametrize("shape", [(7, 11), (12, 5)])
def test_attraction_exponents_are_the_kernel_written_out(shape) -> None:
    rng = np.random.default_rng(3)
    cells = shape[0] * shape[1]
    features = rng.standard_normal((*shape, FEATURE_DIMS)).astype(np.float32)
    descriptors = features.reshape(cells, -1) / np.linalg.norm(features.reshape(cells, -1), axis=1, keepdims=True)
    grid = Grid(rng.uniform(0, 100, shape).astype(np.float32), np.zeros((*shape, 2), np.float32), features)
    hints = np.array([0, 5, cells - 1])
    settings = DEFAULT_SETTINGS
    rows, cols = np.divmod(np.arange(cells), shape[1])
    light = grid.lightness.ravel().astype(np.float64)
    reach = (settings.attraction_distance * max(shape)) ** 2
    expected = (
        1 - descriptors.astype(np.float64) @ descriptors[hints].T.astype(np.float64)
    ) / settings.attraction_scale
    expected += (light[:, None] - light[hints]) ** 2 / (2 * settings.attraction_lightness_sigma**2)
    expected += ((rows[:, None] - rows[hints]) ** 2 + (cols[:, None] - cols[hints]) ** 2) / (2 * reach)
    found = attraction_exponents(grid, descriptors, hints, settings).numpy()
    assert found.dtype == np.float32
    np.testing.assert_allclose(found, expected, atol=2e-3)


@pytest.mark.parametrize("shape", [(7, 11), (11, 7), (1, 5), (6, 1), (1, 1), (9, 9)])
def test_the_banded_solve_is_the_sparse_system_solved(shape) -> None:
    from scipy import sparse
    from scipy.sparse.linalg import spsolve

    rng = np.random.default_rng(3)
    first, second = neighbour_pairs(*shape)
    cells = shape[0] * shape[1]
    weights = rng.uniform(0, 5, first.size)
    data, pull = rng.uniform(0.01, 2, cells), rng.normal(0, 30, (cells, 2))
    laplacian = sparse.coo_matrix((weights, (first, second)), shape=(cells, cells))
    laplacian = laplacian + laplacian.T
    system = sparse.diags(np.asarray(laplacian.sum(axis=1)).ravel() + data) - laplacian
    expected = spsolve(sparse.csc_matrix(system), pull).reshape(*shape, 2)
    np.testing.assert_allclose(solve_residual(shape, weights, data, pull), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("candidates", [5, 100, 257, 1600])
def test_best_matches_are_the_exact_top_k(candidates) -> None:
    rng = np.random.default_rng(candidates)
    queries = rng.normal(size=(300, 16)).astype(np.float32)
    others = rng.normal(size=(candidates, 16)).astype(np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    others /= np.linalg.norm(others, axis=1, keepdims=True)
    cosines, best = best_matches(queries, others, 8)
    similarity = queries @ others.T
    k = min(8, candidates)
    expected = -np.sort(-similarity, axis=1)[:, :k]
    np.testing.assert_allclose(cosines, expected, atol=1e-5)
    np.testing.assert_allclose(np.take_along_axis(similarity, best, axis=1), expected, atol=1e-5)
    assert best.shape == (300, k) and all(len(set(row)) == k for row in best)


def test_lightness_is_kept(tiny_colorizer) -> None:
    image = stripes() // 2 + np.add.outer(np.arange(96), np.arange(144)).astype(np.uint8) // 4
    hints = dots(image.shape, [(5, 5), (50, 60), (80, 130)], rgb=(20, 200, 240))
    for out in (
        tiny_colorizer.colorize(image, hints=hints),
        tiny_colorizer.colorize(image, reference=_reference_photo()),
        tiny_colorizer.colorize(image, hints=hints, reference=_reference_photo()),
    ):
        assert np.abs(lab(out)[..., 0] - lab(np.dstack([image] * 3))[..., 0]).max() <= 1.0


def test_batch_of_hints_and_alpha(tiny_colorizer) -> None:
    image = stripes()
    rgba = np.dstack([image] * 3 + [np.full_like(image, 77)])
    batch = np.stack([rgba, rgba])
    hints = np.stack([dots(image.shape, [(10, 10)]), np.zeros((96, 144, 4), np.uint8)])
    out = tiny_colorizer.colorize(batch, hints=hints)
    assert out.shape == (2, 96, 144, 4) and np.all(out[..., 3] == 77)
    np.testing.assert_array_equal(out[0], tiny_colorizer.colorize(rgba, hints=hints[0]))
    np.testing.assert_array_equal(out[1], tiny_colorizer.colorize(rgba))


def test_float_hints_and_images(tiny_colorizer) -> None:
    image = stripes()
    hints = dots(image.shape, [(10, 10)])
    out = tiny_colorizer.colorize(image / 255.0, hints=hints / 255.0)
    assert out.dtype == np.float32
    expected = tiny_colorizer.colorize(image, hints=hints)
    assert np.abs(np.rint(out * 255) - expected).max() <= 2


# --- reference photos --------------------------------------------------------------------------


def _reference_photo() -> np.ndarray:
    """The stripes' scene in color at another size (120 x 200): blue dark thirds, a yellow bright band."""
    lab_image = np.zeros((120, 200, 3))
    lab_image[:] = (38, 10, -45)
    lab_image[:, 67:133] = (89, -5, 70)
    return (skcolor.lab2rgb(lab_image) * 255).round().astype(np.uint8)


def test_reference_colors_matching_places(tiny_weights) -> None:
    """The tiny head's 64-pixel canvas has 16 cells across: there single cells are matched, as groups of 4 x 4
    (the default ``match_stride``) are on the 64 cells across the shipped head's 256-pixel canvas."""
    from dataclasses import replace

    from hypercol import Colorizer

    colorizer = Colorizer(tiny_weights, guidance=replace(DEFAULT_SETTINGS, match_stride=1))
    image = stripes()
    out = lab(colorizer.colorize(image, reference=_reference_photo()))
    dark, bright = out[:, :40], out[:, 56:88]
    assert dark[..., 2].mean() < -25  # blue, from the dark part of the reference
    assert bright[..., 2].mean() > 35  # yellow, from the bright part


def test_prepared_reference_is_reused(tiny_colorizer) -> None:
    image = stripes()
    prepared = prepare_reference(tiny_colorizer, _reference_photo())
    assert isinstance(prepared, Reference)
    np.testing.assert_array_equal(
        tiny_colorizer.colorize(image, reference=prepared), tiny_colorizer.colorize(image, reference=_reference_photo())
    )
    batch = np.stack([image, image[::-1]])
    out = tiny_colorizer.colorize(batch, reference=[prepared, None])
    np.testing.assert_array_equal(out[1], tiny_colorizer.colorize(image[::-1]))
    with pytest.raises(TypeError, match=r"prepare_reference needs a Colorizer .* got None"):
        prepare_reference(None, _reference_photo())  # was an AttributeError on None.backbone


@pytest.mark.parametrize("reference_size", [64, 32])  # the working size (one backbone batch with the input), smaller
def test_a_new_reference_equals_the_same_one_prepared(tiny_weights, reference_size) -> None:
    from dataclasses import replace

    from hypercol import Colorizer

    settings = replace(DEFAULT_SETTINGS, reference_size=reference_size)
    colorizer = Colorizer(tiny_weights, guidance=settings)
    prepared = prepare_reference(colorizer, _reference_photo(), settings)
    new = colorizer.colorize(stripes(), reference=_reference_photo())
    np.testing.assert_array_equal(new, colorizer.colorize(stripes(), reference=prepared))
    assert not np.array_equal(new, colorizer.colorize(stripes()))  # steered


@pytest.mark.parametrize(("reference_size", "canvas"), [(32, 32), (48, 48), (1000, 64)])
def test_the_reference_canvas_is_a_fixed_size_capped_at_the_working_size(tiny_colorizer, reference_size, canvas):
    """A square reference is seen on a ``reference_size`` canvas (rounded to the stride, at most the working size 64),
    its cells pooled in groups of ``reference_stride`` on a side."""
    from dataclasses import replace

    from hypercol.inference.guidance import CELL

    photo = np.asarray(Image.fromarray(_reference_photo()).resize((96, 96)))
    for stride in (1, 2, 3):
        settings = replace(DEFAULT_SETTINGS, reference_size=reference_size, reference_stride=stride)
        prepared = prepare_reference(tiny_colorizer, photo, settings)
        assert len(prepared.lightness) == (-(-canvas // CELL // stride)) ** 2


# --- bad input ---------------------------------------------------------------------------------

IMAGE = stripes(24, 36)


@pytest.mark.parametrize(
    ("hints", "error", "match"),
    [
        (np.zeros((10, 10, 4), np.uint8), ValueError, r"hints must match the image: shape \(24, 36, 4\)"),
        (np.zeros((24, 36, 3), np.uint8), ValueError, "RGBA"),
        (np.zeros((24, 36), np.uint8), ValueError, "RGBA"),
        (np.zeros((2, 24, 36, 4), np.uint8), ValueError, "must match the image"),
        (np.zeros((24, 36, 4), np.int32), TypeError, "dtype int32"),
        (np.zeros((24, 36, 4), bool), TypeError, "dtype bool"),
        (np.full((24, 36, 4), np.nan, np.float32), ValueError, "NaN"),
        (np.full((24, 36, 4), 2.0, np.float32), ValueError, r"\[0, 1\]"),
        (np.zeros((0, 36, 4), np.uint8), ValueError, "empty"),
        (Image.new("RGBA", (36, 24)), TypeError, "PIL image"),
        ("hints.png", TypeError, "dtype"),
    ],
)
def test_bad_hints(tiny_colorizer, hints, error, match) -> None:
    with pytest.raises(error, match=match):
        tiny_colorizer.colorize(IMAGE, hints=hints)


def test_batch_needs_a_batch_of_hints(tiny_colorizer) -> None:
    with pytest.raises(ValueError, match=r"shape \(2, 24, 36, 4\) expected"):
        tiny_colorizer.colorize(np.stack([IMAGE, IMAGE]), hints=np.zeros((24, 36, 4), np.uint8))


GRAYISH = np.dstack([IMAGE, IMAGE, IMAGE + 1])  # chroma well under 1


@pytest.mark.parametrize(
    ("reference", "error", "match"),
    [
        (IMAGE, ValueError, "gray"),
        (IMAGE[..., None], ValueError, "gray"),
        (np.dstack([IMAGE] * 3), ValueError, "gray"),
        (GRAYISH, ValueError, "no color"),
        (np.zeros((0, 0, 3), np.uint8), ValueError, "empty"),
        (np.full((8, 8, 3), np.nan, np.float32), ValueError, "NaN"),
        (np.zeros((8, 8, 3), bool), TypeError, "dtype bool"),
        (np.zeros((2, 8, 8, 3), np.uint8), ValueError, "one photo"),
        ([_reference_photo()] * 3, ValueError, "one per image"),
        (Image.new("RGB", (8, 8)), TypeError, "PIL image"),
    ],
)
def test_bad_references(tiny_colorizer, reference, error, match) -> None:
    with pytest.raises(error, match=match):
        tiny_colorizer.colorize(IMAGE, reference=reference)


def test_top_level_colorize_takes_both(tiny_weights) -> None:
    out = colorize(IMAGE, weights=tiny_weights, hints=dots(IMAGE.shape, [(2, 2)]), reference=_reference_photo())
    assert out.shape == (24, 36, 3) and out.dtype == np.uint8


# --- Pillow filter -------------------------------------------------------------------------------


def test_filter_with_hints_and_reference(tiny_weights, tiny_colorizer) -> None:
    image = stripes()
    hints = Image.fromarray(dots(image.shape, [(10, 10)]), "RGBA")
    reference = Image.fromarray(_reference_photo())
    out = Image.fromarray(image).filter(ColorizeFilter(tiny_weights, hints=hints, reference=reference))
    assert out.mode == "RGB" and out.size == (144, 96)
    expected = tiny_colorizer.colorize(image, hints=np.asarray(hints), reference=np.asarray(reference))
    np.testing.assert_array_equal(np.asarray(out), expected)
    Image.fromarray(image).filter(ColorizeFilter(tiny_weights, hints=hints.convert("LA")))


@pytest.mark.parametrize(
    ("options", "error", "match"),
    [
        ({"hints": Image.new("RGB", (144, 96))}, ValueError, "transparency"),
        ({"hints": np.zeros((96, 144, 4), np.uint8)}, TypeError, "PIL image"),
        ({"reference": Image.new("L", (20, 20))}, ValueError, "gray"),
        ({"reference": Image.new("RGB", (20, 20), (90, 90, 90))}, ValueError, "gray"),
        ({"reference": "photo.jpg"}, TypeError, "PIL image"),
    ],
)
def test_filter_refuses_bad_guidance(tiny_weights, options, error, match) -> None:
    with pytest.raises(error, match=match):
        ColorizeFilter(tiny_weights, **options)


def test_filter_hints_of_another_size(tiny_weights) -> None:
    guided = ColorizeFilter(tiny_weights, hints=Image.new("RGBA", (10, 10)))
    with pytest.raises(ValueError, match="must match the image"):
        Image.fromarray(stripes()).filter(guided)


# --- command line ---------------------------------------------------------------------------------


@pytest.fixture
def scene(tmp_path):
    """tmp/gray.png, tmp/hints.png (one red dot), tmp/reference.jpg, tmp/gray_reference.png."""
    Image.fromarray(stripes()).save(tmp_path / "gray.png")
    Image.fromarray(dots((96, 144), [(10, 10)]), "RGBA").save(tmp_path / "hints.png")
    Image.fromarray(_reference_photo()).save(tmp_path / "reference.jpg", quality=95)
    Image.fromarray(stripes()).save(tmp_path / "gray_reference.png")
    return tmp_path


def _run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(map(str, argv)))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_cli_hints_and_reference(scene, tiny_weights, tiny_colorizer, capsys) -> None:
    out = scene / "out.png"
    code, stdout, _ = _run(
        capsys, "colorize", scene / "gray.png", "-o", out, "--weights", tiny_weights,
        "--hints", scene / "hints.png", "--reference", scene / "reference.jpg",
    )  # fmt: skip
    assert code == 0 and "1 colorized" in stdout
    with Image.open(scene / "reference.jpg") as reference:
        expected = tiny_colorizer.colorize(
            stripes(), hints=dots((96, 144), [(10, 10)]), reference=np.asarray(reference.convert("RGB"))
        )
    with Image.open(out) as image:
        np.testing.assert_array_equal(np.asarray(image), expected)


@pytest.mark.parametrize(
    ("inputs", "extra", "message"),
    [
        (["gray.png"], ["--hints", "gray_reference.png"], "transparency"),
        (["gray.png"], ["--reference", "gray_reference.png"], "gray"),
        (["gray.png"], ["--reference", "missing.jpg"], "missing.jpg"),
        (["gray.png", "gray_reference.png"], ["--hints", "hints.png"], "painted for one photo, but 2 images"),
    ],
)
def test_cli_guidance_usage_errors(scene, tiny_weights, capsys, inputs, extra, message) -> None:
    argv = [scene / name for name in inputs] + ["-o", scene / "out", "--weights", tiny_weights]
    argv += [extra[0], scene / extra[1]]
    code, _, stderr = _run(capsys, "colorize", *argv)
    assert code == 2 and message in stderr
    assert not (scene / "out").exists()


def test_cli_hints_of_another_size_fail_the_file(scene, tiny_weights, capsys) -> None:
    Image.new("RGBA", (10, 10)).save(scene / "small_hints.png")
    code, _, stderr = _run(
        capsys, "colorize", scene / "gray.png", "-o", scene / "out", "--weights", tiny_weights,
        "--hints", scene / "small_hints.png",
    )  # fmt: skip
    assert code == 1 and "must match the image" in stderr


def test_reference_confidence_comes_from_the_backbone_unless_set() -> None:
    from hypercol.inference.guidance import GuidanceSettings
    from hypercol.models.backbones import get_spec

    lite0, vgg16 = get_spec("efficientnet_lite0"), get_spec("vgg16")
    assert lite0.reference_confidence != vgg16.reference_confidence  # their cosines spread differently
    resolved = GuidanceSettings().for_backbone(lite0)
    assert (resolved.confidence_low, resolved.confidence_high) == lite0.reference_confidence
    chosen = GuidanceSettings(confidence_low=0.4).for_backbone(vgg16)
    assert (chosen.confidence_low, chosen.confidence_high) == (0.4, vgg16.reference_confidence[1])
    assert lite0.select(["head"]).reference_confidence == lite0.reference_confidence


def test_grouped_cells_are_the_means_of_their_groups() -> None:
    from hypercol.inference.guidance import grouped_cells

    values = np.arange(5 * 3 * 2, dtype=np.float64).reshape(5, 3, 2)
    grouped = grouped_cells(values, 2)
    assert grouped.shape == (3, 2, 2)
    np.testing.assert_allclose(grouped[0, 0], values[:2, :2].mean(axis=(0, 1)))
    np.testing.assert_allclose(grouped[2, 1], values[4, 2])  # the edge repeated into the missing cells
    assert grouped_cells(values, 1) is values


@pytest.mark.parametrize("match_stride", [1, 2, 3])
def test_reference_transfer_matches_in_groups_of_cells(tiny_weights, match_stride) -> None:
    from dataclasses import replace

    from hypercol import Colorizer

    colorizer = Colorizer(tiny_weights, guidance=replace(DEFAULT_SETTINGS, match_stride=match_stride))
    out = lab(colorizer.colorize(stripes(), reference=_reference_photo()))
    assert out[:, :40, 2].mean() < -25 and out[:, 56:88, 2].mean() > 35  # blue dark thirds, a yellow band


@pytest.mark.parametrize(
    "field, value",
    [
        ("prior", 0.0), ("transfer", 0.0), ("smoothness", -1.0), ("reference_smoothness", -1.0),
        ("hint", float("nan")), ("smoothness", float("inf")), ("attraction", True),
        # each divides a call's numbers: at 0 the colors became NaN and the output silently gray
        ("match_temperature", 0.0), ("attraction_scale", 0.0), ("feature_scale", -0.1),
        ("lightness_sigma", 0.0), ("attraction_lightness_sigma", float("inf")), ("attraction_distance", 0.0),
        ("selectivity", "1"), ("confidence_low", float("nan")),
        # counts: top_k 0 raised numpy's "kth out of bounds", match_stride 0 a ZeroDivisionError
        ("top_k", 0), ("top_k", 2.5), ("match_stride", 0), ("reference_size", -5), ("reference_stride", 0),
    ],
)  # fmt: skip
def test_settings_that_would_break_a_call_are_refused_when_made(field, value) -> None:
    from hypercol.inference.guidance import GuidanceSettings

    with pytest.raises(ValueError, match=f"GuidanceSettings.{field} must be"):
        GuidanceSettings(**{field: value})


def test_confidence_bounds_must_rise_also_against_the_backbone_s_own() -> None:
    from hypercol.inference.guidance import GuidanceSettings
    from hypercol.models.backbones import get_spec

    with pytest.raises(ValueError, match="confidence_high must be above confidence_low, got 0.5 and 0.5"):
        GuidanceSettings(confidence_low=0.5, confidence_high=0.5)
    high = get_spec("efficientnet_lite2").reference_confidence[1]
    settings = GuidanceSettings(confidence_low=high + 0.1)  # alone it is fine; the backbone's high bound is below it
    with pytest.raises(ValueError, match="confidence_high must be above confidence_low"):
        settings.for_backbone(get_spec("efficientnet_lite2"))


def test_a_smoothed_transfer_is_the_grid_system_pulled_to_the_unsmoothed_one() -> None:
    """``reference_smoothness`` 0 (the default): the residual is confidence x (transferred - automatic) per cell;
    above 0, the edge-aware grid system pulled towards exactly that, with ``transfer`` as its data weight."""
    from dataclasses import replace

    from hypercol.inference.guidance import neighbour_weights, normalised, transfer_reference

    rng = np.random.default_rng(5)
    grid = Grid(rng.uniform(20, 80, (9, 13)), rng.normal(0, 20, (9, 13, 2)), rng.normal(size=(9, 13, FEATURE_DIMS)))
    reference = Reference(
        "any", rng.uniform(20, 80, 30), rng.normal(0, 30, (30, 2)), grid.features[:5, :6].reshape(30, -1)
    )
    plain = replace(DEFAULT_SETTINGS, confidence_low=0.0, confidence_high=0.5)
    wanted = transfer_reference(grid, reference, plain)
    assert np.abs(wanted).max() > 1  # the reference's places are found in the grid
    smoothed = replace(plain, reference_smoothness=2.0, transfer=0.5)
    mean = np.concatenate([grid.features.reshape(-1, FEATURE_DIMS), reference.features]).mean(axis=0)
    weights = neighbour_weights(grid, normalised(grid.features - mean), replace(smoothed, smoothness=2.0))
    data = np.full(grid.lightness.size, 0.5)
    expected = solve_residual(grid.shape, weights, data, 0.5 * wanted.reshape(-1, 2))
    np.testing.assert_allclose(transfer_reference(grid, reference, smoothed), expected, rtol=1e-5, atol=1e-4)
    assert np.abs(np.diff(expected, axis=1)).mean() < np.abs(np.diff(wanted, axis=1)).mean()  # smoother


@pytest.mark.parametrize(
    ("groups", "stride", "shape"), [((3, 2), 2, (5, 4)), ((4, 4), 3, (12, 10)), ((1, 3), 2, (1, 6))]
)
def test_groups_are_upsampled_as_tensorflow_resizes(groups, stride, shape) -> None:
    import tensorflow as tf

    from hypercol.inference.guidance import upsampled_groups

    values = np.random.default_rng(1).normal(0, 40, (*groups, 3)).astype(np.float32)
    expected = tf.image.resize(values[np.newaxis], np.array(groups) * stride)[0, : shape[0], : shape[1]].numpy()
    np.testing.assert_allclose(upsampled_groups(values, stride, shape), expected, atol=1e-4)


def test_an_8_bit_reference_steers_as_the_same_photo_in_float(tiny_colorizer) -> None:
    """8-bit references go to the graph as they are and are scaled there; other dtypes as float in [0, 1]."""
    photo = np.asarray(Image.fromarray(_reference_photo()).resize((150, 90)))  # shrunk to the canvas in the graph
    as_uint8 = tiny_colorizer.colorize(stripes(), reference=photo)
    for other in (photo.astype(np.float32) / 255, photo.astype(np.uint16) * 257):
        out = tiny_colorizer.colorize(stripes(), reference=other)
        assert np.abs(out.astype(int) - as_uint8).max() <= 1


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (6, 5), (8, 12), (3, 1)])
def test_cells_are_the_means_of_the_pixels_inside(shape) -> None:
    from hypercol.inference.guidance import CELL, pool_cells

    values = np.random.default_rng(2).normal(0, 10, (2, *shape, 3)).astype(np.float32)
    rows, cols = -(-shape[0] // CELL), -(-shape[1] // CELL)
    expected = np.array(
        [
            [[image[r * CELL : (r + 1) * CELL, c * CELL : (c + 1) * CELL].mean(axis=(0, 1)) for c in range(cols)]
             for r in range(rows)]
            for image in values
        ]
    )  # fmt: skip
    np.testing.assert_allclose(pool_cells(values).numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("shape", [(2, 300), (300, 1), (700, 9)])
def test_guidance_on_photos_a_few_pixels_thin(tiny_colorizer, shape) -> None:
    """Their working shape is one pixel thin: a cut cell is the mean of what is inside it."""
    gray = np.random.default_rng(3).integers(0, 256, shape).astype(np.uint8)
    hints = dots(shape, [(0, 0)], size=1)
    thin_reference = np.asarray(Image.fromarray(_reference_photo()).resize((400, 3)))
    for out in (
        tiny_colorizer.colorize(gray, hints=hints),
        tiny_colorizer.colorize(gray, reference=_reference_photo()),
        tiny_colorizer.colorize(stripes(), reference=thin_reference),
    ):
        source = gray if out.shape[:2] == shape else stripes()
        truth = lab(np.dstack([source] * 3))[..., 0]
        assert np.abs(lab(out)[..., 0] - truth).max() <= 1.0
