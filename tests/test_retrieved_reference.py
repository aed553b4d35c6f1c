"""examples/retrieved_reference.py: its summary line, on made-up rows."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
from retrieved_reference import summary


def _row(gray: float, head: float, colorful: float) -> dict:
    return {
        "gray": {"psnr": gray, "auc": 90.0},
        "head": {"psnr": head, "auc": 91.0, "colorfulness": colorful},
        "truth_colorfulness": 40.0,
    }


def test_summary_gives_the_mean_gains_the_colorfulness_of_the_means_and_the_share_beating_gray() -> None:
    rows = [_row(20.0, 21.0, 30.0), _row(22.0, 21.5, 10.0), _row(25.0, 25.5, 20.0), _row(18.0, 18.0, 20.0)]
    assert summary(rows, "head") == "PSNR +0.25 dB, AuC +1.00, colorfulness 0.50x, beats gray 50%"
