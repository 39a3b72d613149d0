"""Shared fixtures. Tests are marked by folder: tests/unit -> unit, tests/integration ->
integration, tests/e2e -> e2e, tests/faults -> faults, so ``pytest -m unit`` runs the fast
tier alone."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import hypothesis  # noqa: F401 -- see below
import pytest

from lakehouse.settings import Secrets, Settings, get_settings, load_secrets

# hypothesis is a pytest plugin, so pytest rewrites its modules with ast.parse when they are
# imported. Imported lazily from a Spark callback thread (foreachBatch) while another thread
# parses, CPython 3.11.7 fails with "AST constructor recursion depth mismatch" (gh-106905);
# importing it here, in the main thread at start-up, takes it out of that race.

TIERS = ("unit", "integration", "e2e", "faults")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        parts = Path(str(item.fspath)).parts
        for tier in TIERS:
            if tier in parts:
                item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def stack(settings: Settings, secrets: Secrets) -> Settings:
    """The real stack, started if needed (``stack up`` is idempotent)."""
    from lakehouse.stack import control

    control.up(settings, secrets)
    states = {row.name: row.state for row in control.status(settings, secrets)}
    assert all(state in {"running", "external"} for state in states.values()), states
    return settings


@pytest.fixture(autouse=True)
def _services_for_tier(request: pytest.FixtureRequest) -> None:
    """Integration and end-to-end tests run against the real stack (the fault-injection
    tests start a private one: tests/faults/conftest.py)."""
    if request.node.get_closest_marker("integration") or request.node.get_closest_marker("e2e"):
        request.getfixturevalue("stack")


@pytest.fixture(scope="session")
def settings() -> Settings:
    return get_settings()


@pytest.fixture(scope="session")
def secrets(settings: Settings) -> Secrets:
    return load_secrets(settings)


@pytest.fixture(scope="session")
def run_id() -> str:
    """A short id that keeps this run's topics, tables and checkpoints apart from others'."""
    return uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def spark(settings: Settings) -> Iterator[object]:
    """One local Spark session for the whole run (a JVM start costs seconds)."""
    from lakehouse.spark import build_spark_session

    session = build_spark_session("lakehouse-tests", settings)
    yield session
    session.stop()


@pytest.fixture
def ns_settings(
    settings: Settings, secrets: Secrets, run_id: str, request: pytest.FixtureRequest
) -> Iterator[Settings]:
    """Settings in a namespace of this test's own (its topics, lake folder, producer state and
    warehouse database, created here and dropped afterwards), so tests that run the whole
    pipeline see only their own data."""
    from lakehouse.postgres import drop_database, ensure_database

    name = request.node.name.lower().replace("_", "-")[5:25].strip("-")
    namespaced = settings.model_copy(update={"namespace": f"t{run_id}-{name}"})
    ensure_database(namespaced, secrets)
    yield namespaced
    drop_database(namespaced, secrets)
