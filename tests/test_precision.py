"""hypercol.core.precision: CPU flag parsing and precision names."""

from __future__ import annotations

from pathlib import Path

import pytest

from hypercol.core import precision
from hypercol.core.precision import PRECISIONS, _resolve, cpu_has_amx

SAPPHIRE_RAPIDS = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz
flags\t\t: fpu vme sse sse2 avx avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8
bugs\t\t: spectre_v1

processor\t: 1
flags\t\t: fpu vme sse sse2 avx avx2 avx512f avx512_bf16 amx_bf16 amx_tile amx_int8
"""
ZEN4 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_fp16x\n"
SKYLAKE = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512bw avx512_vnni\nbugs\t\t: amx_bf16\n"
AMX_ONLY = "flags : fpu amx_bf16\n"


@pytest.mark.parametrize(
    ("cpuinfo", "expected"),
    [
        (SAPPHIRE_RAPIDS, True),
        (ZEN4, False),
        (AMX_ONLY, True),
        (SKYLAKE, False),
        ("", False),
        ("flags\t: avx512_bf16x amx_bf16_y\n", False),
        ("model name : amx_bf16 marketing\n", False),
    ],
    ids=[
        "sapphire_rapids",
        "zen4_avx512_bf16_without_amx",
        "amx_only",
        "skylake_bf16_in_bugs_line",
        "empty",
        "similar_names",
        "not_flags",
    ],
)
def test_cpu_has_amx(cpuinfo, expected) -> None:
    assert cpu_has_amx(cpuinfo) is expected


def test_reads_proc_cpuinfo_by_default() -> None:
    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.exists():
        pytest.skip("no /proc/cpuinfo")
    assert cpu_has_amx() is cpu_has_amx(cpuinfo.read_text())


@pytest.mark.parametrize("name", ["float64", "bf16", "", "FLOAT32", "mixed_bfloat16"])
def test_invalid_precision_name(name) -> None:
    with pytest.raises(ValueError, match="precision must be one of"):
        _resolve(name)


def test_valid_names_resolve(monkeypatch) -> None:
    for name in PRECISIONS[1:]:
        assert _resolve(name) == name
    monkeypatch.setattr(precision, "cpu_has_amx", lambda cpuinfo=None: False)
    assert _resolve("auto") in ("float32", "mixed_float16")
    monkeypatch.setattr(precision, "cpu_has_amx", lambda cpuinfo=None: True)
    assert _resolve("auto") in ("bfloat16", "mixed_float16")


def test_auto_is_float32_on_avx512_bf16_without_amx(monkeypatch) -> None:
    """Where the bf16 rewrite has no tile units it does not speed up the default head (docs/measurements/speed.md)."""
    monkeypatch.setattr(precision.tf.config, "list_physical_devices", lambda kind=None: [])
    has_amx = precision.cpu_has_amx
    for cpuinfo, expected in ((ZEN4, "float32"), (SKYLAKE, "float32"), (SAPPHIRE_RAPIDS, "bfloat16")):
        monkeypatch.setattr(precision, "cpu_has_amx", lambda cpuinfo=None, text=cpuinfo: has_amx(text))
        assert _resolve("auto") == expected


def test_configure_precision_rejects_bad_names_before_anything_is_set(monkeypatch) -> None:
    monkeypatch.setattr(precision, "_active", None)
    with pytest.raises(ValueError, match="precision must be one of"):
        precision.configure_precision("fp8")
    assert precision._active is None


@pytest.mark.parametrize("name", ["HYPERCOL_PRECISION", "HYPERCOL_CANVAS"])
def test_an_empty_variable_means_unset(monkeypatch, name) -> None:
    from hypercol.core.precision import check_environment, wants_small_canvas

    monkeypatch.setattr(precision, "_active", None)
    for variable in ("HYPERCOL_PRECISION", "HYPERCOL_CANVAS"):  # the other one as a user may have set it: unset
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv(name, "")
    check_environment()
    assert precision._active == _resolve("auto")
    assert wants_small_canvas(precision._active) is not precision.backbone_is_fast(precision._active)


@pytest.mark.parametrize("name", ["HYPERCOL_PRECISION", "HYPERCOL_CANVAS"])
@pytest.mark.parametrize("value", ["fp8", " ", "AUTO"])
def test_a_bad_variable_is_named(monkeypatch, name, value) -> None:
    from hypercol.core.precision import check_environment

    monkeypatch.setattr(precision, "_active", None)
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError, match=f"^{name} must be one of .*, got {value!r}"):
        check_environment()


def test_a_later_request_is_checked_and_a_conflicting_one_refused(monkeypatch) -> None:
    """The first call decides; later ones asked for another precision used to be ignored without a word."""
    monkeypatch.setattr(precision, "_active", "float32")
    for bad in ("fp8", 32):
        with pytest.raises(ValueError, match="precision must be one of"):
            precision.configure_precision(bad)
    with pytest.raises(ValueError, match="precision 'bfloat16' cannot be set: this process already runs 'float32'"):
        precision.configure_precision("bfloat16")
    assert [precision.configure_precision(same) for same in (None, "", "auto", "float32")] == ["float32"] * 4
    assert precision._active == "float32"
