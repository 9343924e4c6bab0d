"""One way to read tables: JSON lines, CSV and TSV files as rows with their line numbers, and one-line errors that
name the file and the line."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from signmusketeers.errors import InputError

TABLE_SUFFIXES = (".jsonl", ".csv", ".tsv")


class TableError(InputError):
    """A table that cannot be read: one line naming the file (and the line) and the problem."""


def read_rows(
    path: str | os.PathLike, *, delimiter: str | None = None, jsonl: bool | None = None
) -> list[tuple[int, Any]]:
    """``(line number, row)`` of every row of a ``.jsonl`` file (each non-blank line a JSON value, usually an object)
    or of a CSV/TSV file with a header (each row a ``dict`` by column name; line numbers count the header as 1).

    ``jsonl``: JSON lines (True) or CSV/TSV (False) whatever the suffix; default: JSON lines for ``.jsonl``.
    ``delimiter``: for CSV/TSV, else a tab when the suffix is ``.tsv`` or the header holds one, else a comma.
    Raises :class:`TableError` for a missing or unreadable file and for a line that is not valid JSON.
    """
    path = Path(path)
    text = _text(path)
    if jsonl if jsonl is not None else path.suffix.lower() == ".jsonl":
        rows = []
        for number, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append((number, json.loads(line)))
                except json.JSONDecodeError as error:
                    raise TableError(f"{path}: line {number}: not valid JSON ({error.msg})") from None
        return rows
    if delimiter is None:
        delimiter = "\t" if path.suffix.lower() == ".tsv" or text.split("\n", 1)[0].count("\t") else ","
    return [(number, row) for number, row in enumerate(csv.DictReader(text.splitlines(), delimiter=delimiter), 2)]


def read_fields(path: str | os.PathLike, delimiter: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """Header and ``(line number, fields)`` of a delimited file read without CSV quoting (one line, one row; blank
    lines skipped), for corpus files whose texts hold quote characters. A row with another number of fields than
    the header raises :class:`TableError`; so does a file without a header."""
    path = Path(path)
    text = _text(path, encoding="utf-8-sig")
    reader = csv.reader(text.splitlines(), delimiter=delimiter, quoting=csv.QUOTE_NONE)
    lines = [(number, row) for number, row in enumerate(reader, start=1) if any(field.strip() for field in row)]
    if not lines:
        raise TableError(f"{path}: the file is empty")
    (_, header), rows = lines[0], lines[1:]
    header = [name.strip() for name in header]
    for number, row in rows:
        if len(row) != len(header):
            raise TableError(
                f"{path}: line {number}: {len(row)} fields, the header has {len(header)} "
                f"(a {'tab' if delimiter == chr(9) else repr(delimiter)} inside a field?)"
            )
    return header, rows


def _text(path: Path, encoding: str = "utf-8") -> str:
    try:
        return path.read_text(encoding=encoding)
    except FileNotFoundError:
        raise TableError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise TableError(f"{path}: cannot be read ({error})") from None
