"""Master key rotation survives a failure at every step: afterwards the vault opens with the
key on disk and every secret is intact (a rotation cut short after the vault was written is
finished by the next open)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import security.vault as vault_module
from lakehouse.settings import Settings
from security import runtime
from security.errors import VaultError
from security.keys import MasterKey, key_file_path, staged_key_path
from security.runtime import audit_path, init_vault, rotate_vault, vault_path
from security.vault import Vault

CANARY = "canary-value-7"


class Crash(Exception):
    """The process dying at this point."""


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """A home whose vault has a generated master key in a key file of its own."""
    for name in list(os.environ):
        if name.startswith("LAKEHOUSE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("LAKEHOUSE_MASTER_KEY_FILE", str(tmp_path / "keys" / "master.key"))
    settings = Settings(home=tmp_path / "home")
    assert init_vault(settings)
    runtime.open_vault(settings).put("openweather_api_key", CANARY, actor="test")
    return settings


def _opens_with_the_key_on_disk(settings: Settings) -> None:
    with runtime.open_vault(settings).unaudited() as vault:
        assert vault.get("openweather_api_key", actor="test") == CANARY
        assert vault.verify() >= 2


def _crash(monkeypatch: pytest.MonkeyPatch, target: object, name: str) -> None:
    def crash(*_args: object, **_kwargs: object) -> None:
        raise Crash(name)

    monkeypatch.setattr(target, name, crash)


STEPS: dict[str, Callable[[pytest.MonkeyPatch], None]] = {
    "staging the new key": lambda mp: _crash(mp, runtime, "stage_key_file"),
    "writing the vault": lambda mp: _crash(mp, Vault, "_save"),
    "replacing the vault file": lambda mp: _crash(mp, vault_module.os, "replace"),
    "promoting the staged key": lambda mp: _crash(mp, runtime, "promote_staged_key"),
}


@pytest.mark.parametrize("step", list(STEPS))
def test_a_rotation_cut_short_at_each_step_leaves_a_vault_that_opens(
    home: Settings, step: str
) -> None:
    with pytest.MonkeyPatch.context() as failing:
        STEPS[step](failing)
        with pytest.raises(Crash):
            rotate_vault(home, MasterKey.generate())
    _opens_with_the_key_on_disk(home)
    if step == "promoting the staged key":  # the open finished the rotation
        assert not staged_key_path(key_file_path(home.home)).exists()
    rotate_vault(home, MasterKey.generate())  # and the next rotation goes through
    _opens_with_the_key_on_disk(home)


def test_a_refused_audit_entry_changes_nothing(home: Settings) -> None:
    key_file = key_file_path(home.home)
    before = (key_file.read_bytes(), vault_path(home).read_bytes())
    with audit_path(home).open("ab") as trail:
        trail.write(b'{"seq": 99, "torn')  # a torn last line: appends are refused
    with pytest.raises(VaultError, match=r"refusing vault\.rotate"):
        rotate_vault(home, MasterKey.generate())
    assert (key_file.read_bytes(), vault_path(home).read_bytes()) == before


def test_the_cli_keeps_the_vault_openable_when_the_audit_fails(home: Settings) -> None:
    """What was seen: the vault saved under a new key the key file never received."""
    env = {**os.environ, "LAKEHOUSE_HOME": str(home.home)}
    with audit_path(home).open("ab") as trail:
        trail.write(b'{"seq": 99, "torn')
    lakehouse = [sys.executable, "-m", "lakehouse.cli"]
    rotate = [*lakehouse, "vault", "rotate", "--new-master-key"]
    rotated = subprocess.run(rotate, env=env, capture_output=True, text=True, timeout=60)
    assert rotated.returncode == 1 and "refusing vault.rotate" in rotated.stderr
    listed = subprocess.run(
        [*lakehouse, "vault", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0, listed.stderr
    assert "openweather_api_key" in listed.stdout
