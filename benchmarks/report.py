"""Turns pytest-benchmark's JSON (benchmarks/results.json) into benchmarks/results.md.

    python benchmarks/report.py [results.json] [results.md]

Times are the median of the timed rounds; every ratio is between two rows of the same
run (same JSON), never across runs.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path

from cases import (
    HYPERCOL_FLOAT32,
    PEER_BATCHED,
    PEER_NAMES,
    PEER_ROUNDS,
    PUBLISHED_SEED001,
    SIZES,
    TARGET_2048_VS_256,
    TARGET_GUIDANCE,
    TARGET_TRAINING_SPEEDUP,
    TARGET_VIDEO_COST,
    TARGET_VIDEO_FLICKER,
    TARGET_VIDEO_PSNR_DROP,
    TARGET_VS_VGG16,
    TARGET_VS_VGG16_EVERY_CPU,
)

HERE = Path(__file__).resolve().parent


def _ms(seconds: float) -> str:
    ms = seconds * 1000
    return f"{ms:,.0f}" if ms >= 100 else f"{ms:.1f}"


def _rate(seconds_per_image: float) -> str:
    rate = 1 / seconds_per_image
    return f"{rate:.1f}" if rate < 100 else f"{rate:.0f}"


def _ratio(value: float) -> str:
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


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


def _median(values: list[float]) -> float:
    """The middle value (the upper one of an even count)."""
    return sorted(values)[len(values) // 2]


def _cpu_name(cpu: dict) -> str:
    name = cpu.get("model_name", "?")
    if "family" in cpu:
        name += f" (family {cpu['family']}, model {cpu.get('model', '?')})"
    return name


def _speed_vs_vgg16(rows: list, cpu_name: str) -> list[str]:
    """Issue 22's table: colorize against the float32 Keras VGG16, per CPU class."""
    if not rows:
        return []
    lines = [
        "## Issue 22: colorize against a float32 Keras VGG16 forward, on every CPU class (alternating, one process each)",
        "",
        (
            f"CPU: {cpu_name}. `colorize` of 16 uint8 256x256 images with the default head against the eager "
            "float32 Keras VGG16 conv stack on the same batch. *native*: this machine's own precision and "
            "instructions; *float32*: `HYPERCOL_PRECISION=float32` (a CPU without bf16); *AVX2*: float32 with "
            "oneDNN held to AVX2 (`ONEDNN_MAX_CPU_ISA=AVX2`: the kernels a CPU without AVX-512 runs)."
        ),
        "",
        "| CPU class | path | colorize ms / image | VGG16 ms / image | ratio (medians) | per-round ratios | target | |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        mine, theirs = (_median(row.get(key)) / row.get("batch") for key in ("colorize_s", "reference_s"))
        rounds = [a / b for a, b in zip(row.get("colorize_s"), row.get("reference_s"))]
        verdict = "met" if mine / theirs <= TARGET_VS_VGG16_EVERY_CPU else "**missed**"
        lines.append(
            f"| {row.get('cpu_class')} | {row.get('path')} | {_ms(mine)} | {_ms(theirs)} | "
            f"**{mine / theirs:.2f}** | {min(rounds):.2f} to {max(rounds):.2f} | ≤ {TARGET_VS_VGG16_EVERY_CPU:g} | "
            f"{verdict} |"
        )
    lines.append("")
    return lines


def _issue11_training(rows: list) -> list[str]:
    """Images/s of the two training steps in float32 (batch 16 at 224), per oneDNN ISA."""
    if not rows:
        return []
    lines = [
        "Training in float32 (`HYPERCOL_PRECISION=float32`, bench_train.py's steps, batch 16 at 224, alternating):",
        "",
        "| oneDNN ISA | from photos, images / s | from the feature cache, images / s | cache speed-up |",
        "|---|---|---|---|",
    ]
    for row in rows:
        online, cached = (_median(row.get(key)) / row.get("batch") for key in ("online_s", "cached_s"))
        lines.append(
            f"| {row.get('onednn_max_cpu_isa') or 'native'} | {_rate(online)} | {_rate(cached)} | {online / cached:.1f}x |"
        )
    lines.append("")
    return lines


class Row:
    def __init__(self, bench: dict) -> None:
        self.info = bench.get("extra_info", {})
        self.stats = bench["stats"]
        self.images = self.info.get("images", 1)
        self.per_image = self.stats["median"] / self.images
        self.rounds = self.stats["rounds"]

    def get(self, key, default=None):
        return self.info.get(key, default)


def build(data: dict) -> str:
    rows = [Row(b) for b in data["benchmarks"]]
    session = data.get("hypercol_session", {})
    by_kind: dict[str, list[Row]] = {}
    for row in rows:
        by_kind.setdefault(row.get("kind", "other"), []).append(row)

    def hypercol(size: int, batch: int) -> Row | None:
        return next((r for r in by_kind.get("hypercol", []) if r.get("size") == size and r.get("batch") == batch), None)

    lines: list[str] = []
    add = lines.append
    cpu = session.get("cpu", {})
    stamp = data.get("datetime", "")
    try:
        stamp = datetime.fromisoformat(stamp).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        pass
    add("# hypercol throughput benchmarks")
    add("")
    add(
        f"Generated by `make bench` ({stamp}; the pytest session took "
        f"{session.get('duration_s', float('nan')) / 60:.1f} min). Machine: {_cpu_name(cpu)}, "
        f"{cpu.get('cpus', '?')} CPUs (flags: {', '.join(cpu.get('isa_flags', [])) or 'none'}), "
        f"TensorFlow {session.get('tensorflow', '?')}; hypercol precision: **{session.get('precision', '?')}**."
    )
    add("")

    # --- issue 2 ----------------------------------------------------------------------
    add("## Issue 2 targets (both sides measured alternately, round by round, in this run)")
    add("")
    add("| check | hypercol | reference | ratio (medians) | per-round ratios | target | |")
    add("|---|---|---|---|---|---|---|")
    checks = (
        (
            "issue2_vgg16",
            (
                "`colorize` of 16 uint8 256x256 images vs a float32 Keras VGG16 forward (eager, conv stack) of the "
                "same 16x256x256x3 batch, per image"
            ),
            TARGET_VS_VGG16,
            "",
        ),
        ("issue2_sizes", "`colorize` of one 2048x2048 image vs one 256x256 image", TARGET_2048_VS_256, "x"),
    )
    for kind, title, target, unit in checks:
        row = next(iter(by_kind.get(kind, [])), None)
        if row is None or not row.get("reference_s"):
            add(f"| {title} | not run | | | | ≤ {target:g}{unit} | |")
            continue
        mine, theirs = row.per_image, row.get("reference_median_s") / row.images
        ratio = mine / theirs
        rounds = [a / b for a, b in zip(row.stats.get("data", []), row.get("reference_s"))]
        spread = f"{min(rounds):.2f} to {max(rounds):.2f}" if rounds else ""
        verdict = "met" if ratio <= target else "**missed**"
        path = f" (hypercol: {row.get('path')})" if row.get("path") else ""
        add(
            f"| {title}{path} | {_ms(mine)} ms | {_ms(theirs)} ms | **{ratio:.2f}{unit}** | {spread} | "
            f"≤ {target:g}{unit} | {verdict} |"
        )
    add("")

    lines.extend(_speed_vs_vgg16(by_kind.get("vs_vgg16", []), _cpu_name(cpu)))
    lines.extend(_issue11_training(by_kind.get("issue11_train", [])))

    # --- issue 9 --------------------------------------------------------------------------
    guided = by_kind.get("issue9_guidance", [])
    if guided:
        add("## Issue 9: hints and reference photos (each against the automatic call, alternating round by round)")
        add("")
        add("| call | guided | automatic | ratio (medians) | per-round ratios | target | |")
        add("|---|---|---|---|---|---|---|")
        for row in guided:
            mine, theirs = row.per_image, row.get("reference_median_s")
            rounds = [a / b for a, b in zip(row.stats.get("data", []), row.get("reference_s"))]
            verdict = "met" if mine / theirs <= TARGET_GUIDANCE else "**missed**"
            add(
                f"| {row.get('name')}, {row.get('size')}x{row.get('size')} | {_ms(mine)} ms | {_ms(theirs)} ms | "
                f"**{mine / theirs:.2f}x** | {min(rounds):.2f} to {max(rounds):.2f} | ≤ {TARGET_GUIDANCE:g}x | {verdict} |"
            )
        add("")

    # --- issue 12 -------------------------------------------------------------------------
    beam_rows = by_kind.get("issue12_beam", [])
    if beam_rows:
        add("## Issue 12: the Beam pipeline against the command line (alternating round by round)")
        add("")
        add(
            "| run | images | Beam: s, images/s | command line: s, images/s | Beam / command line, images/s | per round |"
        )
        add("|---|---|---|---|---|---|")
        for row in beam_rows:
            mine, theirs = row.stats["median"], row.get("reference_median_s")
            rounds = [b / a for a, b in zip(row.stats.get("data", []), row.get("reference_s"))]
            add(
                f"| {row.get('name')} (`{row.get('options')}`), long side {row.get('size')} | {row.images} | "
                f"{mine:.1f}, {row.images / mine:.2f} | {theirs:.1f}, {row.images / theirs:.2f} | "
                f"**{theirs / mine:.2f}x** | {', '.join(f'{r:.2f}' for r in rounds)} |"
            )
        add("")

    lines.extend(_issue25(by_kind, _cpu_name(cpu)))

    # --- hypercol end to end -----------------------------------------------------------
    add("## hypercol `colorize`, end to end (uint8 gray in, uint8 RGB out)")
    add("")
    add(
        "| size | batch | ms / image | images / s | peak RSS MiB (+ over start) | precision | rounds "
        "| published seed 001, GPU s / image | published seed 001, CPU s / image |"
    )
    add("|---|---|---|---|---|---|---|---|---|")
    for row in sorted(by_kind.get("hypercol", []), key=lambda r: (r.get("batch") > 1, r.get("size"), r.get("batch"))):
        published = PUBLISHED_SEED001.get(row.get("size")) if row.get("batch") == 1 else None
        gpu = f"{published['gpu_s']}" if published else ""
        cpu_s = f"{published['cpu_s']}" if published else ""
        add(
            f"| {row.get('size')} | {row.get('batch')} | {_ms(row.per_image)} | {_rate(row.per_image)} | "
            f"{_memory(row.info)} | {row.get('precision')} | {row.rounds} | {gpu} | {cpu_s} |"
        )
    add("")
    add(
        "The two *published* columns are seed 001's table 4 (Kaushik et al., their global+local fusion model on "
        "an NVIDIA GeForce GTX 1060 and an Intel Core i7-8750H, mean of 100 conversions), copied exactly: "
        "**published figures on other hardware, not measured here**. The table prints no unit; the text speaks "
        "of seconds."
    )
    add("")
    float32 = next(iter(by_kind.get("hypercol_float32", [])), None)
    if float32:
        add(
            "hypercol with the bf16 rewrite off (`HYPERCOL_PRECISION=float32`, separate process, same run; "
            f"path: {float32.get('path', 'float32')}):"
        )
        add("")
        add("| size | batch | ms / image (float32) | ms / image (bf16, table above) | bf16 speed-up |")
        add("|---|---|---|---|---|")
        for timing in float32.get("timings", []):
            seconds = _median(timing["seconds"]) / timing["batch"]
            bf16 = hypercol(timing["size"], timing["batch"])
            bf16_ms = _ms(bf16.per_image) if bf16 else "n/a"
            speedup = f"{seconds / bf16.per_image:.1f}x" if bf16 else ""
            add(f"| {timing['size']} | {timing['batch']} | {_ms(seconds)} | {bf16_ms} | {speedup} |")
        add("")

    # --- peers ---------------------------------------------------------------------------
    add("## Peers, same pre/post-processing, same run")
    add("")
    add(
        "Ratio = peer ms / image ÷ hypercol ms / image on the same images, hypercol's `colorize` being timed "
        "before every round of the peer (alternating, so both see the same machine load): **above 1, hypercol "
        "is faster**. The **hypercol** rows are its own benchmark from the table above. GFLOP = network only, "
        "per image, TF profiler count (2 per multiply-add); effective GFLOP/s = that ÷ end-to-end time."
    )
    add("")
    peers = by_kind.get("peer", [])
    skipped = session.get("skipped", {})
    summary: dict[tuple[str, str], dict[int, str]] = {}
    slower: list[tuple] = []
    add(
        "| size | batch | model | network input | GFLOP / image | precision | ms / image | images / s "
        "| effective GFLOP/s | peak RSS MiB (+) | hypercol ms / image, interleaved | ratio to hypercol |"
    )
    add("|---|---|---|---|---|---|---|---|---|---|---|---|")
    cases = [(size, 1) for size in PEER_ROUNDS] + list(PEER_BATCHED)
    for size, batch in cases:
        reference = hypercol(size, batch)
        if reference:
            add(
                f"| {size} | {batch} | **hypercol** | {reference.get('network_input')} (working size) | "
                f"{reference.get('network_gflop', '')} | {reference.get('precision')} | {_ms(reference.per_image)} | "
                f"{_rate(reference.per_image)} | {_gflops(reference)} | {_memory(reference.info)} | | |"
            )
        for name in PEER_NAMES:
            found = [r for r in peers if r.get("name") == name and r.get("size") == size and r.get("batch") == batch]
            if not found:
                reason = next((why for node, why in skipped.items() if f"[{name}-{size}-b{batch}-" in node), None)
                add(f"| {size} | {batch} | {name} | | | | not run{': ' + reason if reason else ''} | | | | | |")
                for label in ("bf16", "f32"):
                    summary.setdefault((name, label), {})[size if batch == 1 else -size] = "n/a"
                continue
            for row in sorted(found, key=lambda r: "eager" in r.get("precision")):
                ratio = row.per_image / _interleaved(row)
                label = "f32" if "eager" in row.get("precision") else "bf16"
                summary.setdefault((name, label), {})[size if batch == 1 else -size] = _ratio(ratio)
                if ratio < 1:
                    slower.append((label, name, size, batch, ratio))
                add(
                    f"| {size} | {batch} | {name} | {row.get('network_input')} | {row.get('network_gflop', '')} | "
                    f"{row.get('precision')} | {_ms(row.per_image)} | {_rate(row.per_image)} | {_gflops(row)} | "
                    f"{_memory(row.info)} | {_ms(_interleaved(row))} | {_ratio(ratio)} |"
                )
    add("")
    add("Ratio to hypercol at a glance (single image; last column batch 8 at 224):")
    add("")
    columns = list(SIZES) + [-size for size, _ in PEER_BATCHED]
    add("| peer | precision | " + " | ".join(f"{s}" if s > 0 else f"{-s} b8" for s in columns) + " |")
    add("|---|---|" + "---|" * len(columns))
    for (name, label), values in summary.items():
        add(f"| {name} | {label} | " + " | ".join(values.get(s, "") for s in columns) + " |")
    add("")
    add(_where_slower(slower, hypercol, peers))
    add("")

    # --- other measurements ----------------------------------------------------------------
    add("## Hypercolumns, training, memory")
    add("")
    add("| benchmark | size | batch | ms / image | images / s | peak RSS MiB (+) | precision |")
    add("|---|---|---|---|---|---|---|")
    for kind in ("hypercolumns", "train_step_photos", "train_step"):
        for row in by_kind.get(kind, []):
            add(
                f"| {row.get('name')} | {row.get('size')} | {row.get('batch')} | {_ms(row.per_image)} | "
                f"{_rate(row.per_image)} | {_memory(row.info)} | {row.get('precision')} |"
            )
    add("")
    for row in by_kind.get("train_step_photos", []):
        if row.get("reference_median_s"):
            earlier = row.get("reference_median_s") / row.images
            ratio = earlier / row.per_image
            verdict = "met" if ratio >= TARGET_TRAINING_SPEEDUP else "**missed**"
            add(
                f"Training from photos with the default head costs {_ms(row.per_image)} ms per example against "
                f"{_ms(earlier)} ms for the earlier VGG16 default, timed in alternating rounds: **{ratio:.1f}x the "
                f"examples per second** (issue 22: at least {TARGET_TRAINING_SPEEDUP:g}x; {verdict})."
            )
            add("")
    for row in by_kind.get("train_step", []):
        if row.get("reference_median_s"):
            online = row.get("reference_median_s") / row.images
            add(
                f"Training from the feature cache costs {_ms(row.per_image)} ms per example against {_ms(online)} ms "
                f"for the step from photos, timed in alternating rounds: **{online / row.per_image:.1f}x cheaper**."
            )
            add("")
    memory = next(iter(by_kind.get("memory", [])), None)
    if memory:
        info = memory.info
        size = info.get("size")
        add(
            f"Peak resident memory of `colorize` on one {size}x{size} uint8 image, in a fresh process "
            f"(VmHWM from /proc/self/status, which restarts at exec; `ru_maxrss` would carry the forking pytest "
            f"process's high-water mark; precision {info.get('precision')}):"
        )
        add("")
        add(
            "| after `import hypercol` | + model loaded | + warm-up colorize (256x256) | + input array | peak during colorize | increment of the big call | time |"
        )
        add("|---|---|---|---|---|---|---|")
        add(
            f"| {info['after_import_mib']:,.0f} MiB | {info['after_load_mib']:,.0f} MiB | "
            f"{info['after_warmup_mib']:,.0f} MiB | {info['after_input_mib']:,.0f} MiB | **{info['peak_mib']:,.0f} MiB** | "
            f"{info['peak_mib'] - info['after_input_mib']:,.0f} MiB (input {info['input_mib']:.0f} MiB, "
            f"output {info['output_mib']:.0f} MiB) | {info['seconds']:.1f} s |"
        )
        add("")

    # --- notes ------------------------------------------------------------------------------
    add("## How this was measured")
    add("")
    add(
        "- **Same run, ratios only.** Every ratio above compares rows of this one run. The machine has "
        f"{cpu.get('cpus', '?')} cores and is shared: load average {_load(session.get('loadavg_start'))} at the start, "
        f"{_load(session.get('loadavg_end'))} at the end. Absolute times move a lot between runs; ratios less so."
    )
    busy = sorted(set(session.get("busy_processes_at_start", []) + session.get("busy_processes_at_end", [])))
    if busy:
        add("  Other busy processes seen: " + "; ".join(f"`{b}`" for b in busy) + ".")
    add(
        "- Times are the median of a few timed rounds (see `rounds` in results.json), each after one untimed "
        "warm-up call (tracing, oneDNN primitive creation). ms / image = median call time ÷ images per call."
    )
    add(
        "- **Weights are random** for the peers (speed does not depend on the weights); hypercol runs its shipped "
        "default head (hypercol/weights/, working size from its model card)."
    )
    add(
        "- **Precision.** The oneDNN bf16 graph rewrite is process-global and applies to every `tf.function` graph "
        "once the first `Colorizer` exists; eager Keras calls never go through grappler. So each peer runs twice: "
        "inside `tf.function` (*bf16*, the same policy as hypercol's best) and as an eager "
        "`model(x, training=False)` call (*float32*). The Keras VGG16 yardstick is eager float32."
    )
    add(
        "- **Same pre/post-processing.** Peers run `gray uint8 -> CIE L (hypercol.core.arrays.lightness) -> network "
        "-> chroma resized to the image and joined with the full-resolution L (hypercol.inference.colorizer.compose) -> "
        "RGB uint8`, the path `colorize` takes; only the network differs. plain_cnn, global_local_fusion and "
        "naive_hypercolumn run at the image's full resolution; zhang_eccv16 runs at 256x256 as published (its "
        "ab output is upsampled); hypercol runs on its working canvas (long side from its model card) whatever the image size. "
        "Architectures: benchmarks/peers.py."
    )
    add(
        "- Peak RSS per row is the process's high-water mark during that benchmark (reset through "
        "`/proc/self/clear_refs`); memory kept by the allocator from earlier rows can hide in the start value. "
        "The 8000x8000 figure comes from a fresh process and is the clean one."
    )
    add(
        f"- hypercol float32 rows: {', '.join(f'{s}x{s} batch {b}' for s, b in HYPERCOL_FLOAT32)}, "
        "median of a few calls in a separate process with `HYPERCOL_PRECISION=float32`."
    )
    add("- Raw data: benchmarks/results.json (pytest-benchmark).")
    add("")
    return "\n".join(lines)


def _verdict(met: bool) -> str:
    return "met" if met else "**missed**"


def _issue25(by_kind: dict, cpu_name: str) -> list[str]:
    """Issue 25: colorize_video against per-frame colorize: flicker, PSNR, cuts, speed."""
    quality, speed = by_kind.get("issue25_quality", []), by_kind.get("issue25_speed", [])
    if not quality and not speed:
        return []
    lines = ["## Issue 25: video without flicker (`colorize_video` against `colorize` of each frame)", ""]
    add = lines.append
    for row in quality:
        info = row.info
        ratio = info["video_flicker"] / info["per_frame_flicker"]
        drop = info["per_frame_psnr"] - info["video_psnr"]
        add(
            f"{row.get('clips')} clips of {row.get('shots_per_clip')} shots x {row.get('frames_per_shot')} frames, "
            f"{row.get('size')}: pans and zooms over validation photos, a cut between shots, grayed with a "
            f"little grain (benchmarks/video_clips.py); hypercol: {row.get('path')}."
        )
        add("")
        add("| check | per frame | video | ratio / difference | target | |")
        add("|---|---|---|---|---|---|")
        add(
            f"| flicker: mean \\|Δab\\| along the true motion (the truth's own: {info['truth_flicker']:.2f}) | "
            f"{info['per_frame_flicker']:.2f} | {info['video_flicker']:.2f} | **{ratio:.2f}x** | "
            f"≤ {TARGET_VIDEO_FLICKER:g}x | {_verdict(ratio <= TARGET_VIDEO_FLICKER)} |"
        )
        add(
            f"| PSNR against the true frames, dB | {info['per_frame_psnr']:.2f} | {info['video_psnr']:.2f} | "
            f"**{-drop:+.2f} dB** | ≥ -{TARGET_VIDEO_PSNR_DROP:g} dB | {_verdict(drop <= TARGET_VIDEO_PSNR_DROP)} |"
        )
        add(
            f"| cuts reset (the frame at a cut is exactly the per-frame one) | | {info['cuts_reset']} of "
            f"{info['cuts']} | | all | {_verdict(info['cuts_reset'] == info['cuts'])} |"
        )
        add(
            f"| resets where there is no cut | | {info['false_resets']} of {info['frames_within_shots']} frames | | | |"
        )
        add("")
        pairs = zip(info["per_frame_clip_flicker"], info["video_clip_flicker"])
        add("Flicker per clip, per frame → video: " + ", ".join(f"{a:.2f} → {b:.2f}" for a, b in pairs) + ".")
        add("")
    if speed:
        add(f"Speed on {cpu_name} (a shared machine; the two modes alternate round by round):")
        add("")
        add(
            "| frame size | video: ms / frame, frames / s | each frame by `colorize`: ms, frames / s | ratio | rounds | target | |"
        )
        add("|---|---|---|---|---|---|---|")
        for row in speed:
            mine, theirs = row.per_image, row.get("reference_median_s") / row.images
            rounds = [a / b for a, b in zip(row.stats.get("data", []), row.get("reference_s"))]
            add(
                f"| {row.get('size')} | {_ms(mine)}, {_rate(mine)} | {_ms(theirs)}, {_rate(theirs)} | "
                f"**{mine / theirs:.2f}x** | {min(rounds):.2f} to {max(rounds):.2f} | ≤ {TARGET_VIDEO_COST:g}x | "
                f"{_verdict(mine / theirs <= TARGET_VIDEO_COST)} |"
            )
        add("")
    return lines


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
    text = ["**Where hypercol is not the fastest** (ratio < 1, this run) " + "; ".join(groups) + "."]
    single = {size: hypercol(size, 1) for size in SIZES}
    reference = next((r for r in single.values() if r is not None), None)
    why: list[str] = []
    if reference and reference.get("network_gflop"):
        gflop = reference.get("network_gflop")
        first, last = single.get(SIZES[0]), single.get(SIZES[-1])
        flat = (
            f" (single image: {_ms(first.per_image)} ms at {SIZES[0]}, {_ms(last.per_image)} ms at {SIZES[-1]}; "
            "the growth is the full-resolution colour math, which the peers pay too)"
            if first and last
            else ""
        )
        why.append(
            f"hypercol always runs its network (VGG16 conv stack + head) on its {reference.get('network_input')}"
            f"x{reference.get('network_input')} working canvas: {gflop} GFLOP per "
            f"image whatever the image size{flat}."
        )
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
    return " ".join(text) + "\n\nWhy, from the numbers above:\n\n" + "\n".join(f"- {line}" for line in why)


def _load(value) -> str:
    return "/".join(f"{v:.1f}" for v in value) if value else "?"


def main(argv: list[str]) -> None:
    source = Path(argv[0]) if argv else HERE / "results.json"
    target = Path(argv[1]) if len(argv) > 1 else HERE / "results.md"
    data = json.loads(source.read_text())
    target.write_text(build(data))
    print(f"wrote {target}")


if __name__ == "__main__":
    main(sys.argv[1:])
