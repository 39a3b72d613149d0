"""The lake's lease when its PostgreSQL session goes away under a running driver (a server
restart, a terminated backend): taken again on a new session while it is free, or lost with a
clear error when another driver took it meanwhile."""

from __future__ import annotations

import pytest

from batch.lake_jobs import LakeLease, LeaseLostError, LeaseWatchdog, lease_holder
from lakehouse.postgres import connect
from lakehouse.settings import Secrets, Settings
from tests.faults.private_stack import PrivateStack


def _terminate_session_of(settings: Settings, secrets: Secrets, holder: str) -> int:
    """Terminate the backend whose application name is ``holder``; its pid."""
    with connect(settings, secrets, role="superuser") as conn:
        row = conn.execute(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = %s AND datname = %s",
            (holder, settings.warehouse_database),
        ).fetchone()
    assert row is not None and row[1], f"no session of {holder}"
    return int(row[0])


def _session_of(settings: Settings, secrets: Secrets, holder: str) -> int | None:
    with connect(settings, secrets, role="superuser") as conn:
        row = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (holder,)
        ).fetchone()
    return int(row[0]) if row else None


def test_lease_is_taken_again_on_a_new_session(
    faults_stack: PrivateStack, secrets: Secrets
) -> None:
    settings = faults_stack.settings
    with LakeLease(settings, secrets, "lease-test") as lease:
        assert lease.check()
        before = _terminate_session_of(settings, secrets, lease.holder)
        assert lease.check()  # noticed, and held again
        assert lease_holder(settings, secrets) == lease.holder
        assert _session_of(settings, secrets, lease.holder) not in (None, before)
        watchdog = LeaseWatchdog(lease, interval_s=0.1)
        watchdog.check_once()
        assert watchdog.error is None
    assert lease_holder(settings, secrets) is None


def test_lease_taken_by_another_driver_meanwhile_is_lost(
    faults_stack: PrivateStack, secrets: Secrets
) -> None:
    settings = faults_stack.settings
    with LakeLease(settings, secrets, "lease-test") as lease:
        _terminate_session_of(settings, secrets, lease.holder)
        with LakeLease(settings, secrets, "other-driver") as other:
            with pytest.raises(LeaseLostError, match="other-driver"):
                lease.check()
            watchdog = LeaseWatchdog(lease)
            watchdog.check_once()
            assert watchdog.error is not None and "other-driver" in str(watchdog.error)
            assert lease_holder(settings, secrets) == other.holder
