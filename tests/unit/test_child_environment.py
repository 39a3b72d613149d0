"""Child processes do not inherit the vault's master key or credentials from the environment:
a service gets only what it needs, a build command everything else, the Spark JVM none of
them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lakehouse.environment import secret_variables, secrets_hidden
from lakehouse.install.commands import run
from lakehouse.stack.process import ManagedProcess, cmdline_of
from security.cli import NEW_MASTER_KEY_ENV
from security.keys import ENV_MASTER_KEY, ENV_PASSPHRASE

SECRETS = {
    "LAKEHOUSE_MASTER_KEY": "master-key-canary",
    "LAKEHOUSE_VAULT_PASSPHRASE": "passphrase-canary",
    "LAKEHOUSE_POSTGRES_PASSWORD": "password-canary",
}


@pytest.fixture
def secret_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    monkeypatch.setenv("UNRELATED_SETTING", "kept for build tools")


def _environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.split("=", 1) for item in raw.decode().split("\0") if "=" in item)


def test_the_vault_key_variables_are_all_named() -> None:
    assert {ENV_MASTER_KEY, ENV_PASSPHRASE, NEW_MASTER_KEY_ENV} <= secret_variables()
    assert "LAKEHOUSE_S3_SECRET_KEY" in secret_variables()


def test_a_service_gets_its_settings_and_no_secret(
    secret_environment: None, tmp_path: Path
) -> None:
    process = ManagedProcess(
        name="sleeper",
        pid_file=tmp_path / "run" / "sleeper.pid",
        log_file=tmp_path / "logs" / "sleeper.log",
        marker=str(tmp_path),
    )
    argv = ["sh", "-c", "sleep 30", str(tmp_path)]  # the marker on its command line
    pid = process.start(argv, {"SERVICE_SETTING": "on"})
    try:
        # until it has exec'd, the forked child's environment is still ours
        process.wait_ready(pid, lambda: str(tmp_path) in cmdline_of(pid), 30)
        seen = _environ_of(pid)
    finally:
        process.stop()
    assert seen["SERVICE_SETTING"] == "on" and seen["LC_ALL"] == "C.UTF-8" and "PATH" in seen
    assert not set(SECRETS) & set(seen)
    assert "UNRELATED_SETTING" not in seen


def test_a_build_command_gets_everything_but_the_secrets(secret_environment: None) -> None:
    printed = run(["env"], what="env")
    assert "UNRELATED_SETTING=kept for build tools" in printed
    assert not any(value in printed for value in SECRETS.values())


def test_secrets_are_hidden_only_for_the_block(secret_environment: None) -> None:
    with secrets_hidden():
        assert not set(SECRETS) & set(os.environ)
    assert {name: os.environ[name] for name in SECRETS} == SECRETS


JVM_CHECK = """
import sys
from lakehouse.settings import Secrets
from lakehouse.spark import build_spark_session
spark = build_spark_session("env-check", secrets=Secrets(s3_access_key="a", s3_secret_key="b"))
print(spark.sparkContext._gateway.proc.pid)
sys.stdout.flush()
input()
"""


def test_the_spark_jvm_does_not_inherit_the_master_key(secret_environment: None) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", JVM_CHECK],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=os.environ.copy(),
    )
    try:
        assert child.stdout is not None
        jvm = int(child.stdout.readline())
        seen = _environ_of(jvm)
        assert _environ_of(child.pid)["LAKEHOUSE_MASTER_KEY"] == "master-key-canary"
    finally:
        child.communicate("\n", timeout=60)
    assert not set(SECRETS) & set(seen)
