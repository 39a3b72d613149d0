"""Integration tests run against the real stack; ``stack up`` is idempotent, so the fixture
starts whatever is not running and otherwise changes nothing."""

from __future__ import annotations

import pytest

from lakehouse.settings import Secrets, Settings
from lakehouse.stack import control


@pytest.fixture(scope="session", autouse=True)
def stack(settings: Settings, secrets: Secrets) -> Settings:
    control.up(settings, secrets)
    states = {row.name: row.state for row in control.status(settings, secrets)}
    assert all(state in {"running", "external"} for state in states.values()), states
    return settings
