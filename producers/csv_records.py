"""Reading CSV files exactly as published: UTF-8 with an optional BOM, CRLF or LF, quoted
fields with embedded newlines. Each record comes with its first physical line, the byte
offset after it (to resume), its raw text (for the dead-letter topic) and any read error."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

BOM = "\ufeff"


@dataclass(frozen=True)
class CsvRecord:
    """One logical CSV record. ``fields`` is None when the record could not be read."""

    line: int
    end_offset: int
    raw: str
    fields: list[str] | None
    error: str | None = None


class _Lines:
    """Decoded physical lines of a binary file, remembering what the reader consumed."""

    def __init__(self, handle: object, offset: int, line: int) -> None:
        self._handle = handle
        self.offset = offset
        self.line = line
        self.consumed: list[str] = []
        self.bad_encoding = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw: bytes = self._handle.readline()  # type: ignore[attr-defined]
        if not raw:
            raise StopIteration
        self.offset += len(raw)
        self.line += 1
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            self.bad_encoding = True
            text = raw.decode("utf-8", errors="backslashreplace")
        if self.line == 1:
            text = text.removeprefix(BOM)
        self.consumed.append(text)
        return text


def read_records(path: Path, start_offset: int = 0, start_line: int = 0) -> Iterator[CsvRecord]:
    """Every record of ``path`` from ``start_offset`` (which must be a record boundary, with
    ``start_line`` physical lines before it). The header is an ordinary record here."""
    with path.open("rb") as handle:
        handle.seek(start_offset)
        lines = _Lines(handle, start_offset, start_line)
        reader = csv.reader(lines, strict=True)
        while True:
            first_line = lines.line + 1
            try:
                fields: list[str] | None = next(reader)
                error = "invalid UTF-8" if lines.bad_encoding else None
            except StopIteration:
                return
            except csv.Error as exc:
                fields, error = None, f"malformed CSV: {exc}"
            raw = "".join(lines.consumed)
            lines.consumed.clear()
            lines.bad_encoding = False
            if not raw.strip() and error is None:
                continue  # blank line
            yield CsvRecord(first_line, lines.offset, raw, None if error else fields, error)
