"""The ``hypercol`` command's entry point: Ctrl+C and SIGTERM are caught before anything else is imported.

Python raises KeyboardInterrupt for a Ctrl+C from its start; one that arrives while the
command's modules are imported (before :func:`hypercol.cli.main` installs its handlers)
would print Python's traceback. Here a handler that only remembers the signal is
installed first, the command is imported, and a remembered signal ends the run with the
command's one line and exit code (130, or 143 for SIGTERM).
"""

from __future__ import annotations

import signal
import sys

_CODES = {signal.SIGINT: (130, "")}
if hasattr(signal, "SIGTERM"):
    _CODES[signal.SIGTERM] = (143, " (SIGTERM)")


def main() -> int:
    received: list[int] = []

    def remember(signum, frame) -> None:
        received.append(signum)

    for number in _CODES:
        signal.signal(number, remember)
    from hypercol.cli import main as run_command  # its handlers replace ``remember`` when it starts

    if received:
        code, what = _CODES[received[0]]
        print(f"hypercol: interrupted{what}", file=sys.stderr)
        return code
    return run_command()
