"""Turns pytest-benchmark's JSON (benchmarks/results.json) into benchmarks/results.md.

    python benchmarks/report.py [results.json] [results.md]

Times are the median of the timed rounds (``statistics.median``, as conftest.py and
pytest-benchmark take it: the mean of the middle two of an even count); every ratio is
between two rows of the same run (same JSON), never across runs. Each section of
results.md has one function below, which returns its lines; ``build`` joins them in order.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from statistics import median

from cases import (
    HYPERCOL_FLOAT32,
    PEER_BATCHED,
    PEER_NAMES,
    PEER_ROUNDS,
    PUBLISHED_SEED001,
    SIZES,
    TARGET_2048_VS_256,
    TARGET_ENSEMBLE_VS_DEFAULT,
    TARGET_GUIDANCE,
    TARGET_TRAINING_SPEEDUP,
    TARGET_VIDEO_COST,
    TARGET_VIDEO_FLICKER,
    TARGET_VIDEO_PSNR_DROP,
    TARGET_VS_VGG16,
    TARGET_VS_VGG16_EVERY_CPU,
)

HERE = Path(__file__).resolve().parent


# --- formatting -------------------------------------------------------------------------


def table(headers: list[str], rows: list[list]) -> list[str]:
    """A markdown table: the header line, the separator, one line per row, then a blank line.

    Cells are formatted with ``str``; an empty cell is written ``| |``.
    """

    def line(cells) -> str:
        return "|" + "|".join(f" {cell} " if f"{cell}" else " " for cell in cells) + "|"

    return [line(headers), "|" + "---|" * len(headers), *(line(row) for row in rows), ""]


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:,.0f}" if ms >= 100 else f"{ms:.1f}"


def _rate(seconds_per_image: float) -> str:
    rate = 1 / seconds_per_image
    return f"{rate:.1f}" if rate < 100 else f"{rate:.0f}"


def _ratio(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


def _verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def _spread(mine: list[float], theirs: list[float]) -> str:
    """The lowest and highest round-by-round ratio of two alternating timings."""
    rounds = [a / b for a, b in zip(mine, theirs)]
    return f"{min(rounds):.2f} to {max(rounds):.2f}" if rounds else ""


def _titled(lead: list[str], headers: list[str], rows: list[list]) -> list[str]:
    """Each lead paragraph (a heading, a sentence) and a blank line, then the table; nothing without rows."""
    return [*(line for paragraph in lead for line in (paragraph, "")), *table(headers, rows)] if rows else []


# The last four columns of a row timed against an alternating yardstick (see _against).
AGAINST = ("ratio (medians)", "per-round ratios", "target", "")


def _against(mine: float, theirs: float, spread: str, target: float, unit: str = "") -> list[str]:
    """The ratio of the medians, the per-round spread, the target and whether it is met."""
    ratio = mine / theirs
    return [f"**{ratio:.2f}{unit}**", spread, f"≤ {target:g}{unit}", _verdict(ratio <= target)]


def _ms_against(label: str, row, target: float, unit: str) -> list[str]:
    """A whole row: ``label``, ms per image of ``row`` and of its alternating yardstick, then ``_against``."""
    mine, theirs = row.per_image, row.reference_per_image()
    return [label, f"{_ms(mine)} ms", f"{_ms(theirs)} ms", *_against(mine, theirs, row.spread(), target, unit)]


def _interleaved(row) -> float:
    """hypercol's seconds per image timed alternately with this peer's rounds."""
    return row.get("reference_median_s", float("nan")) / row.images


def _gflops(row) -> str:
    gflop = row.get("network_gflop")
    return f"{gflop / row.per_image:.0f}" if gflop else ""


def _memory(info: dict) -> str:
    peak = info.get("peak_rss_mib")
    if peak is None:
        return "n/a"
    return f"{peak:,.0f} (+{max(0.0, peak - info['rss_start_mib']):,.0f})"


def _cpu_name(cpu: dict) -> str:
    name = cpu.get("model_name", "?")
    if "family" in cpu:
        name += f" (family {cpu['family']}, model {cpu.get('model', '?')})"
    return name


def _load(value) -> str:
    return "/".join(f"{v:.1f}" for v in value) if value else "?"


# --- the data ---------------------------------------------------------------------------


class Row:
    """One benchmark of the JSON: its ``extra_info`` and pytest-benchmark's statistics."""

    def __init__(self, bench: dict) -> None:
        self.info = bench.get("extra_info", {})
        self.stats = bench["stats"]
        self.images = self.info.get("images", 1)
        self.per_image = self.stats["median"] / self.images
        self.rounds = self.stats["rounds"]

    def get(self, key, default=None):
        return self.info.get(key, default)

    def timing(self) -> list:
        """Size, batch, ms / image, images / s, peak RSS, precision: the first columns of a timing table."""
        size, batch, precision = self.get("size"), self.get("batch"), self.get("precision")
        return [size, batch, _ms(self.per_image), _rate(self.per_image), _memory(self.info), precision]

    def reference_per_image(self) -> float:
        """The alternating yardstick's median seconds per image."""
        return self.get("reference_median_s") / self.images

    def spread(self) -> str:
        """The range of the round-by-round ratios to the alternating yardstick."""
        return _spread(self.stats.get("data", []), self.get("reference_s"))


class Results:
    """The rows of one run by kind, and the session information conftest.py added."""

    def __init__(self, data: dict) -> None:
        self.data = data
        self.session = data.get("hypercol_session", {})
        self.cpu = self.session.get("cpu", {})
        self.cpu_name = _cpu_name(self.cpu)
        self.by_kind: dict[str, list[Row]] = {}
        for row in (Row(b) for b in data["benchmarks"]):
            self.by_kind.setdefault(row.get("kind", "other"), []).append(row)

    def kind(self, kind: str) -> list[Row]:
        return self.by_kind.get(kind, [])

    def first(self, kind: str) -> Row | None:
        return next(iter(self.kind(kind)), None)

    def hypercol(self, size: int, batch: int) -> Row | None:
        return next((r for r in self.kind("hypercol") if r.get("size") == size and r.get("batch") == batch), None)


# --- the sections, in the order of results.md --------------------------------------------


def _title(results: Results) -> list[str]:
    session, cpu = results.session, results.cpu
    stamp = results.data.get("datetime", "")
    try:
        stamp = datetime.fromisoformat(stamp).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        pass
    return [
        "# hypercol throughput benchmarks",
        "",
        (
            f"Generated by `make bench` ({stamp}; the pytest session took "
            f"{session.get('duration_s', float('nan')) / 60:.1f} min). Machine: {results.cpu_name}, "
            f"{cpu.get('cpus', '?')} CPUs (flags: {', '.join(cpu.get('isa_flags', [])) or 'none'}), "
            f"TensorFlow {session.get('tensorflow', '?')}; hypercol precision: **{session.get('precision', '?')}**."
        ),
        "",
    ]


def _yardstick_targets(results: Results) -> list[str]:
    """colorize against a Keras VGG16 forward, 2048x2048 against 256x256 and the ensemble against the default
    head, in the benchmark process."""
    checks = (
        (
            "colorize_batch_vs_vgg16",
            (
                "`colorize` of 16 uint8 256x256 images vs a float32 Keras VGG16 forward (eager, conv stack) of the "
                "same 16x256x256x3 batch, per image"
            ),
            TARGET_VS_VGG16,
            "",
        ),
        ("colorize_2048_vs_256", "`colorize` of one 2048x2048 image vs one 256x256 image", TARGET_2048_VS_256, "x"),
        (
            "ensemble_vs_default",
            "`colorize` of 16 uint8 256x256 images with `head='ensemble'` vs the default head, per image",
            TARGET_ENSEMBLE_VS_DEFAULT,
            "x",
        ),
    )
    rows = []
    for kind, title, target, unit in checks:
        row = results.first(kind)
        if row is None or not row.get("reference_s"):
            rows.append([title, "not run", "", "", "", f"≤ {target:g}{unit}", ""])
            continue
        path = f" (hypercol: {row.get('path')})" if row.get("path") else ""
        rows.append(_ms_against(f"{title}{path}", row, target, unit))
    heading = "## `colorize` against its yardsticks, in the benchmark process (both sides measured alternately, round by round, in this run)"
    return _titled([heading], ["check", "hypercol", "reference", *AGAINST], rows)


def _speed_vs_vgg16(results: Results) -> list[str]:
    """colorize against the float32 Keras VGG16, per CPU class (one child process each)."""
    rows = []
    for row in results.kind("vs_vgg16"):
        mine, theirs = (median(row.get(key)) / row.get("batch") for key in ("colorize_s", "reference_s"))
        spread = _spread(row.get("colorize_s"), row.get("reference_s"))
        rows.append(
            [
                row.get("cpu_class"),
                row.get("path"),
                _ms(mine),
                _ms(theirs),
                *_against(mine, theirs, spread, TARGET_VS_VGG16_EVERY_CPU),
            ]
        )
    heading = "## `colorize` against a float32 Keras VGG16 forward, on every CPU class (alternating, one process each)"
    intro = (
        f"CPU: {results.cpu_name}. `colorize` of 16 uint8 256x256 images with the default head against the eager "
        "float32 Keras VGG16 conv stack on the same batch. *native*: this machine's own precision and "
        "instructions; *float32*: `HYPERCOL_PRECISION=float32` (a CPU without bf16); *AVX2*: float32 with "
        "oneDNN held to AVX2 (`ONEDNN_MAX_CPU_ISA=AVX2`: the kernels a CPU without AVX-512 runs)."
    )
    return _titled([heading, intro], ["CPU class", "path", "colorize ms / image", "VGG16 ms / image", *AGAINST], rows)


def _float32_training(results: Results) -> list[str]:
    """Images/s of the two training steps in float32 (batch 16 at 224), per oneDNN ISA."""
    rows = []
    for row in results.kind("float32_training_steps"):
        online, cached = (median(row.get(key)) / row.get("batch") for key in ("online_s", "cached_s"))
        rows.append(
            [row.get("onednn_max_cpu_isa") or "native", _rate(online), _rate(cached), f"{online / cached:.1f}x"]
        )
    lead = "Training in float32 (`HYPERCOL_PRECISION=float32`, bench_train.py's steps, batch 16 at 224, alternating):"
    headers = ["oneDNN ISA", "from photos, images / s", "from the feature cache, images / s", "cache speed-up"]
    return _titled([lead], headers, rows)


def _guidance(results: Results) -> list[str]:
    """Hints and reference photos against the automatic call of the same image."""
    rows = []
    for row in results.kind("guidance_vs_automatic"):
        rows.append(_ms_against(f"{row.get('name')}, {row.get('size')}x{row.get('size')}", row, TARGET_GUIDANCE, "x"))
    heading = "## Hints and reference photos (each against the automatic call, alternating round by round)"
    return _titled([heading], ["call", "guided", "automatic", *AGAINST], rows)


def _beam(results: Results) -> list[str]:
    """The Beam pipeline against the command line, whole runs as fresh processes."""
    rows = []
    for row in results.kind("beam_vs_command_line"):
        mine, theirs = row.stats["median"], row.get("reference_median_s")
        rounds = [b / a for a, b in zip(row.stats.get("data", []), row.get("reference_s"))]
        rows.append(
            [
                f"{row.get('name')} (`{row.get('options')}`), long side {row.get('size')}",
                row.images,
                f"{mine:.1f}, {row.images / mine:.2f}",
                f"{theirs:.1f}, {row.images / theirs:.2f}",
                f"**{theirs / mine:.2f}x**",
                ", ".join(f"{r:.2f}" for r in rounds),
            ]
        )
    heading = "## The Beam pipeline against the command line (alternating round by round)"
    headers = ["run", "images", "Beam: s, images/s", "command line: s, images/s", "Beam / command line, images/s"]
    return _titled([heading], [*headers, "per round"], rows)


def _video_quality(row: Row) -> list[str]:
    """Flicker, PSNR and cuts of ``colorize_video`` against per-frame ``colorize`` on the test clips."""
    info = row.info
    ratio = info["video_flicker"] / info["per_frame_flicker"]
    drop = info["per_frame_psnr"] - info["video_psnr"]
    rows = [
        [
            f"flicker: mean \\|Δab\\| along the true motion (the truth's own: {info['truth_flicker']:.2f})",
            f"{info['per_frame_flicker']:.2f}",
            f"{info['video_flicker']:.2f}",
            f"**{ratio:.2f}x**",
            f"≤ {TARGET_VIDEO_FLICKER:g}x",
            _verdict(ratio <= TARGET_VIDEO_FLICKER),
        ],
        [
            "PSNR against the true frames, dB",
            f"{info['per_frame_psnr']:.2f}",
            f"{info['video_psnr']:.2f}",
            f"**{-drop:+.2f} dB**",
            f"≥ -{TARGET_VIDEO_PSNR_DROP:g} dB",
            _verdict(drop <= TARGET_VIDEO_PSNR_DROP),
        ],
        [
            "cuts reset (the frame at a cut is exactly the per-frame one)",
            "",
            f"{info['cuts_reset']} of {info['cuts']}",
            "",
            "all",
            _verdict(info["cuts_reset"] == info["cuts"]),
        ],
        ["resets where there is no cut", "", f"{info['false_resets']} of {info['frames_within_shots']} frames"]
        + [""] * 3,
    ]
    pairs = zip(info["per_frame_clip_flicker"], info["video_clip_flicker"])
    return [
        (
            f"{row.get('clips')} clips of {row.get('shots_per_clip')} shots x {row.get('frames_per_shot')} frames, "
            f"{row.get('size')}: pans and zooms over validation photos, a cut between shots, grayed with a "
            f"little grain (benchmarks/video_clips.py); hypercol: {row.get('path')}."
        ),
        "",
        *table(["check", "per frame", "video", "ratio / difference", "target", ""], rows),
        "Flicker per clip, per frame → video: " + ", ".join(f"{a:.2f} → {b:.2f}" for a, b in pairs) + ".",
        "",
    ]


def _video_speed(rows: list[Row], cpu_name: str) -> list[str]:
    """Frames per second of ``colorize_video`` against per-frame ``colorize``, alternating."""
    cells = []
    for row in rows:
        mine, theirs = row.per_image, row.reference_per_image()
        cells.append(
            [
                row.get("size"),
                f"{_ms(mine)}, {_rate(mine)}",
                f"{_ms(theirs)}, {_rate(theirs)}",
                *_against(mine, theirs, row.spread(), TARGET_VIDEO_COST, "x"),
            ]
        )
    lead = f"Speed on {cpu_name} (a shared machine; the two modes alternate round by round):"
    headers = ["frame size", "video: ms / frame, frames / s", "each frame by `colorize`: ms, frames / s"]
    return _titled([lead], [*headers, "ratio", "rounds", "target", ""], cells)


def _video(results: Results) -> list[str]:
    """colorize_video against per-frame colorize: flicker, PSNR, cuts, speed."""
    quality, speed = results.kind("video_quality"), results.kind("video_speed")
    lines = ["## Video without flicker (`colorize_video` against `colorize` of each frame)", ""]
    skipped = {node: why for node, why in results.session.get("skipped", {}).items() if "bench_video.py" in node}
    if skipped:
        reasons = "; ".join(sorted(set(skipped.values())))
        lines += [f"Not measured in this run: {len(skipped)} video benchmarks skipped ({reasons}).", ""]
    if not quality and not speed:
        return lines if skipped else []
    for row in quality:
        lines += _video_quality(row)
    if speed:
        lines += _video_speed(speed, results.cpu_name)
    return lines


def _end_to_end(results: Results) -> list[str]:
    """hypercol's own colorize at every size and batch, next to seed 001's published figures."""
    rows = []
    for row in sorted(results.kind("hypercol"), key=lambda r: (r.get("batch") > 1, r.get("size"), r.get("batch"))):
        published = PUBLISHED_SEED001.get(row.get("size")) if row.get("batch") == 1 else None
        rows.append(
            [
                *row.timing(),
                row.rounds,
                published["gpu_s"] if published else "",
                published["cpu_s"] if published else "",
            ]
        )
    headers = ["size", "batch", "ms / image", "images / s", "peak RSS MiB (+ over start)", "precision", "rounds"]
    headers += ["published seed 001, GPU s / image", "published seed 001, CPU s / image"]
    return [
        "## hypercol `colorize`, end to end (uint8 gray in, uint8 RGB out)",
        "",
        *table(headers, rows),
        (
            "The two *published* columns are seed 001's table 4 (Kaushik et al., their global+local fusion model on "
            "an NVIDIA GeForce GTX 1060 and an Intel Core i7-8750H, mean of 100 conversions), copied exactly: "
            "**published figures on other hardware, not measured here**. The table prints no unit; the text speaks "
            "of seconds."
        ),
        "",
        *_float32(results),
    ]


def _float32(results: Results) -> list[str]:
    """hypercol with the bf16 rewrite off (a child process), against the bf16 rows of the same run."""
    float32 = results.first("hypercol_float32")
    if not float32:
        return []
    rows = []
    for timing in float32.get("timings", []):
        seconds = median(timing["seconds"]) / timing["batch"]
        bf16 = results.hypercol(timing["size"], timing["batch"])
        bf16_ms = _ms(bf16.per_image) if bf16 else "n/a"
        speedup = f"{seconds / bf16.per_image:.1f}x" if bf16 else ""
        rows.append([timing["size"], timing["batch"], _ms(seconds), bf16_ms, speedup])
    headers = ["size", "batch", "ms / image (float32)", "ms / image (bf16, table above)", "bf16 speed-up"]
    return [
        (
            "hypercol with the bf16 rewrite off (`HYPERCOL_PRECISION=float32`, separate process, same run; "
            f"path: {float32.get('path', 'float32')}):"
        ),
        "",
        *table(headers, rows),
    ]


def _peers(results: Results) -> list[str]:
    """Every peer at every size next to hypercol, the ratios at a glance, and where hypercol is slower."""
    peers = results.kind("peer")
    summary: dict[tuple[str, str], dict[int, str]] = {}
    slower: list[tuple] = []
    rows = []
    for size, batch in [(size, 1) for size in PEER_ROUNDS] + list(PEER_BATCHED):
        rows += _peer_rows(results, size, batch, summary, slower)
    headers = ["size", "batch", "model", "network input", "GFLOP / image", "precision", "ms / image", "images / s"]
    headers += ["effective GFLOP/s", "peak RSS MiB (+)", "hypercol ms / image, interleaved", "ratio to hypercol"]
    columns = list(SIZES) + [-size for size, _ in PEER_BATCHED]
    glance = [[name, label, *(values.get(s, "") for s in columns)] for (name, label), values in summary.items()]
    return [
        "## Peers, same pre/post-processing, same run",
        "",
        (
            "Ratio = peer ms / image ÷ hypercol ms / image on the same images, hypercol's `colorize` being timed "
            "before every round of the peer (alternating, so both see the same machine load): **above 1, hypercol "
            "is faster**. The **hypercol** rows are its own benchmark from the table above. GFLOP = network only, "
            "per image, TF profiler count (2 per multiply-add); effective GFLOP/s = that ÷ end-to-end time."
        ),
        "",
        *table(headers, rows),
        "Ratio to hypercol at a glance (single image; last column batch 8 at 224):",
        "",
        *table(["peer", "precision", *(f"{s}" if s > 0 else f"{-s} b8" for s in columns)], glance),
        _where_slower(slower, results.hypercol, peers),
        "",
    ]


def _peer_rows(results: Results, size: int, batch: int, summary: dict, slower: list) -> list[list]:
    """The table rows of one (size, batch) case: hypercol's, then each peer's; fills ``summary`` and ``slower``."""
    rows = []
    reference = results.hypercol(size, batch)
    if reference:
        rows.append(
            [
                size,
                batch,
                "**hypercol**",
                f"{reference.get('network_input')} (working size)",
                reference.get("network_gflop", ""),
                reference.get("precision"),
                _ms(reference.per_image),
                _rate(reference.per_image),
                _gflops(reference),
                _memory(reference.info),
                "",
                "",
            ]
        )
    column = size if batch == 1 else -size
    for name in PEER_NAMES:
        found = [
            r for r in results.kind("peer") if (r.get("name"), r.get("size"), r.get("batch")) == (name, size, batch)
        ]
        if not found:
            skipped = results.session.get("skipped", {}).items()
            reason = next((why for node, why in skipped if f"[{name}-{size}-b{batch}-" in node), None)
            rows.append([size, batch, name, "", "", "", f"not run{': ' + reason if reason else ''}"] + [""] * 5)
            for label in ("bf16", "f32"):
                summary.setdefault((name, label), {})[column] = "n/a"
            continue
        for row in sorted(found, key=lambda r: "eager" in r.get("precision")):
            ratio = row.per_image / _interleaved(row)
            label = "f32" if "eager" in row.get("precision") else "bf16"
            summary.setdefault((name, label), {})[column] = _ratio(ratio)
            if ratio < 1:
                slower.append((label, name, size, batch, ratio))
            rows.append(
                [
                    size,
                    batch,
                    name,
                    row.get("network_input"),
                    row.get("network_gflop", ""),
                    row.get("precision"),
                    _ms(row.per_image),
                    _rate(row.per_image),
                    _gflops(row),
                    _memory(row.info),
                    _ms(_interleaved(row)),
                    _ratio(ratio),
                ]
            )
    return rows


def _where_slower(slower: list[tuple], hypercol, peers: list[Row]) -> str:
    if not slower:
        return "**hypercol is faster than every peer at every size measured.**"
    groups = []
    for label, title in (("bf16", "against peers in bf16 (tf.function)"), ("f32", "against peers in float32 (eager)")):
        cases = [c for c in slower if c[0] == label]
        if cases:
            listed = ", ".join(
                f"{name} at {size}" + (f" batch {batch}" if batch > 1 else "") + f" ({ratio:.2f})"
                for _, name, size, batch, ratio in cases
            )
            groups.append(f"{title}: {listed}")
    text = "**Where hypercol is not the fastest** (ratio < 1, this run) " + "; ".join(groups) + "."
    why = _why_slower(hypercol, peers)
    return text + "\n\nWhy, from the numbers above:\n\n" + "\n".join(f"- {line}" for line in why)


def _why_slower(hypercol, peers: list[Row]) -> list[str]:
    """The reasons, from the numbers of this run, where some peer is faster than hypercol."""
    single = {size: hypercol(size, 1) for size in SIZES}
    reference = next((r for r in single.values() if r is not None), None)
    if not (reference and reference.get("network_gflop")):
        return []
    gflop = reference.get("network_gflop")
    first, last = single.get(SIZES[0]), single.get(SIZES[-1])
    flat = (
        f" (single image: {_ms(first.per_image)} ms at {SIZES[0]}, {_ms(last.per_image)} ms at {SIZES[-1]}; "
        "the growth is the full-resolution colour math, which the peers pay too)"
        if first and last
        else ""
    )
    why = [
        (
            f"hypercol always runs its network (backbone + head) on its {reference.get('network_input')}"
            f"x{reference.get('network_input')} working canvas: {gflop} GFLOP per "
            f"image whatever the image size{flat}."
        )
    ]
    parity = []
    for name in PEER_NAMES:
        row = next((r for r in peers if r.get("name") == name and r.get("size") == SIZES[0]), None)
        if row and row.get("network_input") == SIZES[0] and row.get("network_gflop"):
            side = SIZES[0] * (gflop / row.get("network_gflop")) ** 0.5
            parity.append(
                f"{name} {row.get('network_gflop')} GFLOP at {SIZES[0]} (same FLOPs as hypercol at ~{side:.0f}x{side:.0f})"
            )
    if parity:
        why.append(
            "Full-resolution peers are smaller networks whose cost grows with the pixels: "
            + "; ".join(parity)
            + ". Below that size they do less arithmetic than hypercol, above it more."
        )
    for size, batch in [(SIZES[0], 1), *PEER_BATCHED]:
        better = [
            f"{r.get('name')} {r.get('network_gflop') / r.per_image:.0f} (hypercol alongside: "
            f"{gflop / _interleaved(r):.0f})"
            for r in peers
            if r.get("network_gflop")
            and "eager" not in r.get("precision")
            and r.get("size") == size
            and r.get("batch") == batch
            and r.get("network_gflop") / r.per_image > gflop / _interleaved(r)
        ]
        if better:
            why.append(
                f"Per FLOP, hypercol's network also runs less efficiently than some bf16 peers: at {size}x{size}, "
                f"batch {batch}, effective GFLOP/s {', '.join(better)}."
            )
    zhang = [r for r in peers if r.get("name") == "zhang_eccv16" and "eager" not in r.get("precision")]
    if any(r.per_image < _interleaved(r) for r in zhang):
        why.append(
            "zhang_eccv16 runs on a fixed 256x256 canvas with more FLOPs than hypercol, so where it wins, "
            "that is per-FLOP efficiency alone."
        )
    return why


def _other(results: Results) -> list[str]:
    """Hypercolumn extraction and the training steps, with their alternating ratios, and peak memory."""
    rows = [
        [row.get("name"), *row.timing()]
        for kind in ("hypercolumns", "train_step_photos", "train_step")
        for row in results.kind(kind)
    ]
    headers = ["benchmark", "size", "batch", "ms / image", "images / s", "peak RSS MiB (+)", "precision"]
    lines = ["## Hypercolumns, training, memory", "", *table(headers, rows)]
    for row in results.kind("train_step_photos"):
        if row.get("reference_median_s"):
            earlier = row.reference_per_image()
            ratio = earlier / row.per_image
            lines += [
                (
                    f"Training from photos with the default head costs {_ms(row.per_image)} ms per example against "
                    f"{_ms(earlier)} ms for the earlier VGG16 default, timed in alternating rounds: **{ratio:.1f}x the "
                    f"examples per second** (target: at least {TARGET_TRAINING_SPEEDUP:g}x; "
                    f"{_verdict(ratio >= TARGET_TRAINING_SPEEDUP)})."
                ),
                "",
            ]
    for row in results.kind("train_step"):
        if row.get("reference_median_s"):
            online = row.reference_per_image()
            lines += [
                (
                    f"Training from the feature cache costs {_ms(row.per_image)} ms per example against {_ms(online)} ms "
                    f"for the step from photos, timed in alternating rounds: **{online / row.per_image:.1f}x cheaper**."
                ),
                "",
            ]
    return lines + _memory_8000(results.first("memory"))


def _memory_8000(memory: Row | None) -> list[str]:
    """Peak resident memory of one big colorize in a fresh process, step by step."""
    if not memory:
        return []
    info = memory.info
    size = info.get("size")
    headers = ["after `import hypercol`", "+ model loaded", "+ warm-up colorize (256x256)", "+ input array"]
    headers += ["peak during colorize", "increment of the big call", "time"]
    row = [f"{info[key]:,.0f} MiB" for key in ("after_import_mib", "after_load_mib", "after_warmup_mib")]
    row += [f"{info['after_input_mib']:,.0f} MiB", f"**{info['peak_mib']:,.0f} MiB**"]
    row += [
        (
            f"{info['peak_mib'] - info['after_input_mib']:,.0f} MiB (input {info['input_mib']:.0f} MiB, "
            f"output {info['output_mib']:.0f} MiB)"
        ),
        f"{info['seconds']:.1f} s",
    ]
    return [
        (
            f"Peak resident memory of `colorize` on one {size}x{size} uint8 image, in a fresh process "
            f"(VmHWM from /proc/self/status, which restarts at exec; `ru_maxrss` would carry the forking pytest "
            f"process's high-water mark; precision {info.get('precision')}):"
        ),
        "",
        *table(headers, [row]),
    ]


def _method(results: Results) -> list[str]:
    """How this was measured: same run, load, rounds, weights, precision, processing, memory."""
    session = results.session
    busy = sorted(set(session.get("busy_processes_at_start", []) + session.get("busy_processes_at_end", [])))
    return [
        "## How this was measured",
        "",
        (
            "- **Same run, ratios only.** Every ratio above compares rows of this one run. The machine has "
            f"{results.cpu.get('cpus', '?')} cores and is shared: load average {_load(session.get('loadavg_start'))} "
            f"at the start, {_load(session.get('loadavg_end'))} at the end. Absolute times move a lot between runs; "
            "ratios less so."
        ),
        *(["  Other busy processes seen: " + "; ".join(f"`{b}`" for b in busy) + "."] if busy else []),
        (
            "- Times are the median of a few timed rounds (see `rounds` in results.json), each after one untimed "
            "warm-up call (tracing, oneDNN primitive creation). ms / image = median call time ÷ images per call."
        ),
        (
            "- **Weights are random** for the peers (speed does not depend on the weights); hypercol runs its shipped "
            "default head (hypercol/weights/, working size from its model card)."
        ),
        (
            "- **Precision.** The oneDNN bf16 graph rewrite is process-global and applies to every `tf.function` graph "
            "once the first `Colorizer` exists; eager Keras calls never go through grappler. So each peer runs twice: "
            "inside `tf.function` (*bf16*, the same policy as hypercol's best) and as an eager "
            "`model(x, training=False)` call (*float32*). The Keras VGG16 yardstick is eager float32."
        ),
        (
            "- **Same pre/post-processing.** Peers run `gray uint8 -> CIE L (hypercol.core.arrays.lightness) -> network "
            "-> chroma resized to the image and joined with the full-resolution L (hypercol.inference.colorizer.compose) "
            "-> RGB uint8`, the path `colorize` takes; only the network differs. plain_cnn, global_local_fusion and "
            "naive_hypercolumn run at the image's full resolution; zhang_eccv16 runs at 256x256 as published (its "
            "ab output is upsampled); hypercol runs on its working canvas (long side from its model card) whatever the "
            "image size. Architectures: benchmarks/peers.py."
        ),
        (
            "- Peak RSS per row is the process's high-water mark during that benchmark (reset through "
            "`/proc/self/clear_refs`); memory kept by the allocator from earlier rows can hide in the start value. "
            "The 8000x8000 figure comes from a fresh process and is the clean one."
        ),
        (
            f"- hypercol float32 rows: {', '.join(f'{s}x{s} batch {b}' for s, b in HYPERCOL_FLOAT32)}, "
            "median of a few calls in a separate process with `HYPERCOL_PRECISION=float32`."
        ),
        "- Raw data: benchmarks/results.json (pytest-benchmark).",
        "",
    ]


SECTIONS = (
    _title,
    _yardstick_targets,
    _speed_vs_vgg16,
    _float32_training,
    _guidance,
    _beam,
    _video,
    _end_to_end,
    _peers,
    _other,
    _method,
)


def build(data: dict) -> str:
    results = Results(data)
    return "\n".join(line for section in SECTIONS for line in section(results))


def main(argv: list[str]) -> None:
    source = Path(argv[0]) if argv else HERE / "results.json"
    target = Path(argv[1]) if len(argv) > 1 else HERE / "results.md"
    data = json.loads(source.read_text())
    target.write_text(build(data))
    print(f"wrote {target}")


if __name__ == "__main__":
    main(sys.argv[1:])
