"""Reading CSV files exactly as published: UTF-8 with an optional BOM, CRLF or LF, quoted
fields with embedded newlines. Each record comes with its first physical line, the byte
offset after it (to resume), its raw text (for the dead-letter topic) and any read error.

A record the reader cannot use is never allowed to swallow the records after it: when a
quoted field opened on one line runs over the following lines and the result is not a valid
record (a CSV error, or the wrong number of columns when ``columns`` is given), that first
line alone is the bad record (an unbalanced quote) and reading starts again on the next line.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

BOM = "\ufeff"
INVALID_UTF8 = "invalid UTF-8"
BOM_INSIDE = "byte order mark (U+FEFF) inside the file, not at its start"


@dataclass(frozen=True)
class CsvRecord:
    """One logical CSV record. ``fields`` is None when the record could not be read; it spans
    ``lines`` physical lines from ``line``."""

    line: int
    end_offset: int
    raw: str
    fields: list[str] | None
    error: str | None = None
    lines: int = 1

    @property
    def last_line(self) -> int:
        """The record's last physical line: where a reader resuming at ``end_offset`` starts
        counting from."""
        return self.line + self.lines - 1


class _Lines:
    """Decoded physical lines of a binary file, remembering what the reader consumed for the
    current record (its lines, and the offset after the first) and whether any of it was not
    UTF-8 or held a BOM."""

    def __init__(self, handle: BinaryIO, offset: int, line: int) -> None:
        self._handle = handle
        self.offset = offset
        self.line = line
        self.consumed: list[str] = []
        self.first_end = offset
        self.bad_encoding = False
        self.bom = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = self._handle.readline()
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
        if BOM in text:
            self.bom = True
        if not self.consumed:
            self.first_end = self.offset
        self.consumed.append(text)
        return text

    def take(self) -> tuple[list[str], str | None]:
        """The consumed lines and their encoding problem; then forget them."""
        texts = self.consumed
        self.consumed = []
        if self.bad_encoding or self.bom:
            problem = INVALID_UTF8 if self.bad_encoding else BOM_INSIDE
            self.bad_encoding = self.bom = False
            return texts, problem
        return texts, None


def read_records(
    path: Path, start_offset: int = 0, start_line: int = 0, columns: int | None = None
) -> Iterator[CsvRecord]:
    """Every record of ``path`` from ``start_offset`` (which must be a record boundary, with
    ``start_line`` physical lines before it). The header is an ordinary record here.
    ``columns``: the header's width, which lets a quoted field that never closes be told
    from a valid multi-line record."""
    with path.open("rb") as handle:
        handle.seek(start_offset)
        lines = _Lines(handle, start_offset, start_line)
        reader = csv.reader(lines, strict=True)
        while True:
            first_line = lines.line + 1
            shape: str | None = None
            try:
                fields: list[str] | None = next(reader)
                if columns is not None and len(fields) != columns:
                    shape = f"expected {columns} columns, got {len(fields)}"
            except StopIteration:
                return
            except csv.Error as exc:
                fields, shape = None, str(exc)
            end = lines.first_end
            texts, problem = lines.take()
            if shape is not None and len(texts) > 1:
                # A quote opened on the first line swallowed the lines after it: that line
                # alone is rejected, and reading resumes on the next one.
                yield CsvRecord(
                    first_line,
                    end,
                    texts[0],
                    None,
                    f"malformed CSV: unbalanced quote on line {first_line} ({shape} when read "
                    f"through line {first_line + len(texts) - 1})",
                )
                handle.seek(end)
                lines = _Lines(handle, end, first_line)
                reader = csv.reader(lines, strict=True)
                continue
            raw = "".join(texts)
            error = f"malformed CSV: {shape}" if fields is None else problem
            if not raw.strip() and error is None:
                continue  # blank line
            yield CsvRecord(
                first_line, lines.offset, raw, None if error else fields, error, len(texts)
            )
