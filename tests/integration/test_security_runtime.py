"""The vault and the audit trail as users drive them: the CLI on a throw-away home (master key
rotation locks the old key out), and the audit anchor in the real PostgreSQL."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lakehouse.settings import load_secrets
from security.anchor import PostgresAnchor
from security.audit import AuditTrail
from security.errors import AuditError
from security.keys import MasterKey
from security.runtime import AUDIT_KEY_SECRET, anchor_audit, audit_path, open_vault

LAKEHOUSE = str(Path(sys.executable).parent / "lakehouse")


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LAKEHOUSE, *args], env=env, input=stdin, capture_output=True, text=True, timeout=120
    )


def test_vault_cli_rotation_round_trip(tmp_path: Path) -> None:
    old_key, new_key = MasterKey.generate().encoded(), MasterKey.generate().encoded()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LAKEHOUSE_")}
    env.update(LAKEHOUSE_HOME=str(tmp_path / "home"), LAKEHOUSE_MASTER_KEY=old_key)

    init = _cli(env, "vault", "init")
    assert init.returncode == 0, init.stderr
    assert "generated: s3_access_key, s3_secret_key" in init.stdout
    assert _cli(env, "vault", "put", "openweather_api_key", stdin="canary-key-42\n").returncode == 0
    names = _cli(env, "vault", "list").stdout.split()
    assert {"openweather_api_key", "s3_secret_key", "postgres_password"} <= set(names)
    before = {n: _cli(env, "vault", "get", n).stdout for n in names}

    rotated = _cli(
        {**env, "LAKEHOUSE_NEW_MASTER_KEY": new_key}, "vault", "rotate", "--new-master-key"
    )
    assert rotated.returncode == 0, rotated.stderr
    assert "data key v2" in rotated.stdout

    locked_out = _cli(env, "vault", "get", "openweather_api_key")
    assert locked_out.returncode == 1
    assert "does not open" in locked_out.stderr and "canary-key-42" not in locked_out.stderr

    env["LAKEHOUSE_MASTER_KEY"] = new_key
    assert {n: _cli(env, "vault", "get", n).stdout for n in names} == before
    assert "vault intact" in _cli(env, "vault", "verify").stdout
    audit = _cli(env, "audit", "verify", "--no-anchor")
    assert audit.returncode == 0, audit.stderr
    assert "audit trail intact" in audit.stdout
    raw = b"".join(p.read_bytes() for p in (tmp_path / "home").rglob("*") if p.is_file())
    assert b"canary-key-42" not in raw


def test_audit_anchor_in_postgres_catches_truncation(settings, tmp_path: Path) -> None:
    head = anchor_audit(settings)
    assert head is not None
    anchor = PostgresAnchor(settings, load_secrets(settings))
    assert anchor.read()[0] >= head[0]

    vault = open_vault(settings)
    with vault.unaudited():
        key = vault.get(AUDIT_KEY_SECRET, actor="test").encode()
    copy = tmp_path / "audit.log"
    shutil.copy(audit_path(settings), copy)
    lines = copy.read_bytes().splitlines(keepends=True)
    anchored_seq = anchor.read()[0]
    copy.write_bytes(b"".join(lines[: anchored_seq - 1]))
    with pytest.raises(AuditError, match="file ends before it"):
        AuditTrail(copy, key, anchor).verify()
