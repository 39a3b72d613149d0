"""The masking key: new vaults get a kind-bound (version 2) key, a version-1 key warns, and
`lakehouse vault rotate-masking-key` moves to the next version."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from lakehouse.settings import Settings
from security import runtime
from security.masking import KIND_BOUND_FROM_VERSION


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for name in list(os.environ):
        if name.startswith("LAKEHOUSE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LAKEHOUSE_MASTER_KEY_FILE", str(tmp_path / "keys" / "master.key"))
    settings = Settings(home=tmp_path / "home")
    runtime.ensure_stack_credentials(settings)
    return settings


def test_a_new_vault_gets_a_kind_bound_key(home: Settings) -> None:
    version, key = runtime.masking_key(home)
    assert version == KIND_BOUND_FROM_VERSION
    assert len(key) == 32


def test_a_version_one_key_warns_and_rotation_moves_it_on(
    home: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    runtime.open_vault(home).put(runtime.MASKING_KEY_SECRET, runtime.new_masking_key(1), actor="t")
    with caplog.at_level(logging.WARNING, logger="security.runtime"):
        assert runtime.masking_key(home)[0] == 1
    assert "rotate-masking-key" in caplog.text

    env = {**os.environ, "LAKEHOUSE_HOME": str(home.home)}
    command = [sys.executable, "-m", "lakehouse.cli", "vault", "rotate-masking-key"]
    for expected in (2, 3):
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert f"masking key v{expected}" in done.stdout
        assert runtime.masking_key(home)[0] == expected
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="security.runtime"):
        old_key = runtime.masking_key(home)[1]
    assert "rotate-masking-key" not in caplog.text
    assert runtime.masking_key(home)[1] == old_key  # stable between reads
