"""hypercol.io.files.write_atomically: the one atomic writer of weights, cards, caches' metadata and manifests."""

from __future__ import annotations

import os
import stat

import pytest

from hypercol.io.files import remove_stale_temporaries, write_atomically


def test_the_file_gets_the_mode_open_would_give(tmp_path) -> None:
    previous = os.umask(0o022)
    try:
        write_atomically(tmp_path / "card.json", lambda temporary: temporary.write_text("{}"))
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "card.json").stat().st_mode) == 0o644  # not mkstemp's private 0o600


def test_the_writer_sees_the_target_suffixes_and_no_temporary_stays(tmp_path) -> None:
    seen = []
    write_atomically(
        tmp_path / "head.weights.h5", lambda temporary: (seen.append(temporary.name), temporary.write_bytes(b"x"))
    )
    assert seen[0].endswith(".weights.h5") and seen[0].startswith(".hypercol-")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["head.weights.h5"]


def test_a_failed_write_leaves_the_old_file(tmp_path) -> None:
    target = tmp_path / "cache.json"
    target.write_text("old")

    def fail(temporary):
        temporary.write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, fail)
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["cache.json"]


def test_a_killed_writer_s_temporary_is_known_as_stale(tmp_path) -> None:
    stale = tmp_path / ".hypercol-999999999-abcdefgh.head.weights.h5.tmp.weights.h5"
    stale.write_bytes(b"x")
    assert remove_stale_temporaries([tmp_path]) == [stale] and not stale.exists()
