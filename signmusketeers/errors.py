"""The one kind of error a command reports as one line: bad input a person can fix."""

from __future__ import annotations

import sys


class InputError(ValueError):
    """Bad input, said in one line that names the file (or option) and the problem.

    Library functions raise it (or a subclass: ``ManifestError``, ``ShardError``, ``EncoderError``, ...); the console
    script prints ``signmusketeers COMMAND: message`` and exits with ``exit_code``, never with a traceback.
    """

    exit_code = 2


def print_error(command: str, error: BaseException | str) -> None:
    """Print ``signmusketeers COMMAND: error`` on stderr, on one line."""
    text = " ".join(str(error).split("\n")).strip()
    print(f"signmusketeers {command}: {text}", file=sys.stderr)
