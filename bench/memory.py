"""Peak memory of the stack's processes while a benchmark runs: the proportional set size
(PSS, so shared pages such as PostgreSQL's shared buffers count once) of each group of
processes, sampled every half second from /proc."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from pathlib import Path

SAMPLE_S = 0.5


def pss_kib(pid: int) -> int:
    """The process's PSS in KiB, 0 when it is gone or unreadable."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1])
    return 0


def children(pid: int) -> list[int]:
    """Every descendant of ``pid`` (from /proc/*/stat parent ids)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def tree(pid: int | None) -> list[int]:
    """``pid`` and its descendants (empty for None)."""
    return [] if pid is None else [pid, *children(pid)]


class PeakMemory(threading.Thread):
    """Samples the summed PSS of each named group of processes until stopped; ``peaks_mib``
    holds each group's highest sum."""

    def __init__(self, groups: dict[str, Callable[[], Iterable[int]]]) -> None:
        super().__init__(name="peak-memory", daemon=True)
        self.groups = groups
        self.peaks_mib: dict[str, float] = dict.fromkeys(groups, 0.0)
        self._halt = threading.Event()

    def run(self) -> None:
        while not self._halt.wait(SAMPLE_S):
            self.sample()

    def sample(self) -> None:
        for name, pids in self.groups.items():
            mib = sum(pss_kib(pid) for pid in pids()) / 1024
            self.peaks_mib[name] = max(self.peaks_mib[name], mib)

    def stop(self) -> dict[str, float]:
        self._halt.set()
        self.join(timeout=5)
        self.sample()
        return {name: round(mib, 1) for name, mib in self.peaks_mib.items()}
