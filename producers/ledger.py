"""A small local ledger of how far each file was acknowledged by Kafka, so a restarted
producer does not re-send what the broker already has.

Acknowledgements arrive out of order across partitions; the ledger advances a file's
watermark only over a contiguous run of acknowledged records, so after a crash it may re-send
a few records (with the same event_id), never skip one.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger(__name__)


@dataclass
class Position:
    """Where to resume a file: after ``records`` records, at byte ``offset``, line ``line``."""

    records: int = 0
    offset: int = 0
    line: int = 0
    size: int = 0  # the file's size when the position was taken (a changed file restarts)


@dataclass
class _Tracker:
    committed: Position
    pending: dict[int, Position] = field(default_factory=dict)
    acked: set[int] = field(default_factory=set)


class Ledger:
    """Per-file positions in a JSON file, written atomically and at most every second."""

    def __init__(self, path: Path, flush_every_s: float = 1.0) -> None:
        self.path = path
        self._flush_every_s = flush_every_s
        self._last_flush = 0.0
        self._trackers: dict[str, _Tracker] = {}
        saved = json.loads(path.read_text()) if path.is_file() else {}
        for name, pos in saved.items():
            self._trackers[name] = _Tracker(Position(**pos))

    def position(self, name: str, size: int) -> Position:
        """The committed position of ``name``; a fresh one if the file's size changed."""
        tracker = self._trackers.get(name)
        if tracker is None or tracker.committed.size != size:
            if tracker is not None:
                log.warning("%s changed since the last run: replaying it from the start", name)
            tracker = self._trackers[name] = _Tracker(Position(size=size))
        return tracker.committed

    def sent(self, name: str, seq: int, after: Position) -> None:
        """Record ``seq`` (1-based, in file order) as sent; ``after`` is where it ends."""
        self._trackers[name].pending[seq] = after

    def acked(self, name: str, seq: int) -> None:
        """Record ``seq`` as acknowledged and move the watermark over contiguous acks."""
        tracker = self._trackers[name]
        tracker.acked.add(seq)
        nxt = tracker.committed.records + 1
        while nxt in tracker.acked:
            tracker.acked.discard(nxt)
            tracker.committed = tracker.pending.pop(nxt)
            nxt += 1
        if time.monotonic() - self._last_flush >= self._flush_every_s:
            self.flush()

    def flush(self) -> None:
        self._last_flush = time.monotonic()
        data = {name: vars(t.committed) for name, t in self._trackers.items()}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, self.path)
