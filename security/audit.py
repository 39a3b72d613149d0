"""The audit trail: append-only JSON lines, each entry chained to the previous one by hash and
authenticated with an HMAC key from the vault.

``verify`` recomputes the chain and names the first bad entry: an edited field changes the
entry's hash, a deleted, inserted or moved entry breaks the sequence or the chain, and nobody
without the key can recompute the MACs. Cutting entries off the end leaves a valid chain, so
the head (sequence number and hash) is also anchored where the file's writer cannot rewrite it
(``ops.audit_anchor`` in PostgreSQL); ``verify`` checks the file still contains that head.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from security.errors import AuditError

GENESIS = "0" * 64
FIELDS = ("seq", "ts", "actor", "action", "target", "outcome", "prev")


class Anchor(Protocol):
    """Where the chain head is kept out of the audit file's reach."""

    def read(self) -> tuple[int, str] | None: ...

    def write(self, seq: int, entry_hash: str) -> None: ...


def entry_hash(entry: dict[str, object]) -> str:
    canonical = json.dumps({k: entry[k] for k in FIELDS}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class Verification:
    """The outcome of ``AuditTrail.verify``."""

    entries: int
    head: tuple[int, str] | None
    anchored: tuple[int, str] | None

    def summary(self) -> str:
        anchor = f"anchored at entry {self.anchored[0]}" if self.anchored else "no anchor yet"
        return f"audit trail intact: {self.entries} entries, {anchor}"


class AuditTrail:
    """An audit file plus its HMAC key and an optional anchor."""

    def __init__(self, path: Path, key: bytes, anchor: Anchor | None = None) -> None:
        self.path = path
        self._key = key
        self.anchor = anchor

    def __repr__(self) -> str:
        return f"AuditTrail(path={str(self.path)!r})"

    def _mac(self, digest: str) -> str:
        return hmac.new(self._key, digest.encode(), hashlib.sha256).hexdigest()

    def append(self, actor: str, action: str, target: str, outcome: str) -> dict[str, object]:
        """Add one entry (under an exclusive file lock) and return it."""
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            with os.fdopen(fd, "a+b") as handle:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
                last = _last_line(handle)
                prev = json.loads(last) if last else None
                entry: dict[str, object] = {
                    "seq": int(prev["seq"]) + 1 if prev else 1,
                    "ts": datetime.now(UTC).isoformat(timespec="milliseconds"),
                    "actor": actor,
                    "action": action,
                    "target": target,
                    "outcome": outcome,
                    "prev": prev["hash"] if prev else GENESIS,
                }
                entry["hash"] = entry_hash(entry)
                entry["mac"] = self._mac(str(entry["hash"]))
                line = json.dumps(entry, sort_keys=True, ensure_ascii=False) + "\n"
                handle.write(line.encode())
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise AuditError(f"cannot write the audit trail {self.path}: {exc}") from exc
        return entry

    def entries(self) -> Iterator[tuple[int, bytes]]:
        """(line number, raw line) of every line in the file."""
        if not self.path.exists():
            return
        with self.path.open("rb") as handle:
            yield from enumerate(handle, start=1)

    def verify(self) -> Verification:
        """Check every entry and the anchor; raise AuditError naming the first bad entry."""
        prev_hash, count, head = GENESIS, 0, None
        for line_no, raw in self.entries():
            where = f"{self.path} line {line_no}"
            try:
                entry = json.loads(raw)
                fields_ok = isinstance(entry, dict) and all(k in entry for k in (*FIELDS, "hash"))
            except (ValueError, UnicodeDecodeError):
                fields_ok = False
            if not fields_ok:
                raise AuditError(f"{where}: not a well-formed audit entry")
            if entry["seq"] != count + 1:
                raise AuditError(
                    f"{where}: entry {entry['seq']} where entry {count + 1} was expected "
                    "(an entry was deleted, inserted or moved)"
                )
            if entry["prev"] != prev_hash:
                raise AuditError(
                    f"{where}: entry {entry['seq']} does not chain to the previous one"
                )
            if entry_hash(entry) != entry["hash"]:
                raise AuditError(f"{where}: entry {entry['seq']} was modified (hash mismatch)")
            mac = str(entry.get("mac", "")).encode("utf-8", errors="replace")
            if not hmac.compare_digest(self._mac(str(entry["hash"])).encode(), mac):
                raise AuditError(f"{where}: entry {entry['seq']} has an invalid HMAC")
            prev_hash, count, head = entry["hash"], count + 1, (entry["seq"], entry["hash"])
        anchored = self.anchor.read() if self.anchor else None
        if anchored:
            self._check_anchor(anchored)
        return Verification(count, head, anchored)

    def _check_anchor(self, anchored: tuple[int, str]) -> None:
        seq, digest = anchored
        for _line_no, raw in self.entries():
            entry = json.loads(raw)
            if entry["seq"] == seq:
                if entry["hash"] != digest:
                    raise AuditError(
                        f"entry {seq} differs from the anchored head: the trail was rewritten"
                    )
                return
        raise AuditError(
            f"the anchored head is entry {seq} but the file ends before it: entries were removed"
        )

    def anchor_head(self) -> tuple[int, str] | None:
        """Record the verified head in the anchor; returns it."""
        result = self.verify()
        if self.anchor and result.head:
            self.anchor.write(*result.head)
        return result.head


def _last_line(handle: BinaryIO) -> bytes | None:
    """The last non-empty line of an open binary file (reads backwards in blocks)."""
    pos = handle.seek(0, os.SEEK_END)
    data = b""
    while pos > 0:
        step = min(4096, pos)
        pos -= step
        handle.seek(pos)
        data = handle.read(step) + data
        stripped = data.rstrip(b"\n")
        if b"\n" in stripped:
            return stripped.rsplit(b"\n", 1)[1]
    return data.rstrip(b"\n") or None
