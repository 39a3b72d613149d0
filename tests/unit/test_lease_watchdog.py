"""The lease watchdog's decisions, with a stand-in lease: held, unreachable for longer than
the grace period, taken by another driver."""

from __future__ import annotations

from collections.abc import Iterator

from batch.lake_jobs import LeaseLostError, LeaseWatchdog
from lakehouse.settings import Settings


class ScriptedLease:
    """``check()`` answers from a script: True (held), False (unreachable) or an error."""

    def __init__(self, answers: list[bool | Exception]) -> None:
        self._answers: Iterator[bool | Exception] = iter(answers)
        self.settings = Settings()

    def check(self) -> bool:
        answer = next(self._answers)
        if isinstance(answer, Exception):
            raise answer
        return answer


def _watchdog(answers: list[bool | Exception], grace_s: float) -> LeaseWatchdog:
    return LeaseWatchdog(ScriptedLease(answers), interval_s=0.01, grace_s=grace_s)  # type: ignore[arg-type]


def test_a_short_outage_is_ridden_out() -> None:
    watchdog = _watchdog([True, False, False, True, True], grace_s=60)
    for _ in range(5):
        watchdog.check_once()
    assert watchdog.error is None


def test_an_outage_past_the_grace_period_stops_the_driver() -> None:
    watchdog = _watchdog([False, False], grace_s=0)
    watchdog.check_once()  # the outage begins
    assert watchdog.error is None
    watchdog.check_once()
    assert watchdog.error is not None and "unreachable" in str(watchdog.error)


def test_a_lease_taken_by_another_driver_stops_it_at_once() -> None:
    watchdog = _watchdog([LeaseLostError("taken by lakehouse:other@host")], grace_s=60)
    watchdog.check_once()
    assert isinstance(watchdog.error, LeaseLostError)
    assert "other@host" in str(watchdog.error)


def test_the_thread_stops_at_the_first_error() -> None:
    watchdog = _watchdog([True, RuntimeError("boom")], grace_s=60)
    watchdog.start()
    watchdog.join(timeout=5)
    assert not watchdog.is_alive()
    assert "boom" in str(watchdog.error)
