"""Typed settings from the environment; secrets redacted and required by name."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.errors import MissingSecretError
from lakehouse.install.credentials import ensure_credentials, read_env_file
from lakehouse.settings import Secrets, Settings, load_secrets
from lakehouse.spark import trigger_options


def test_nested_environment_overrides(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LAKEHOUSE_HOME", str(tmp_path))
    monkeypatch.setenv("LAKEHOUSE_KAFKA__BOOTSTRAP_SERVERS", "b1:9092,b2:9092")
    monkeypatch.setenv("LAKEHOUSE_S3__ENDPOINT", "https://s3.example.com")
    monkeypatch.setenv("LAKEHOUSE_SPARK__MASTER", "spark://m:7077")
    settings = Settings()
    assert settings.home == tmp_path
    assert settings.kafka.bootstrap == "b1:9092,b2:9092"
    assert settings.s3.url == "https://s3.example.com" and settings.s3.secure
    assert settings.spark.master == "spark://m:7077"
    assert settings.s3.lake_root == "s3a://lakehouse"


def test_secrets_are_redacted_in_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_S3_SECRET_KEY", "very-secret-value")
    secrets = Secrets()
    assert "very-secret-value" not in repr(secrets)
    assert "very-secret-value" not in str(secrets.model_dump())
    assert secrets.require("s3_secret_key") == "very-secret-value"


def test_missing_secret_fails_with_its_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAKEHOUSE_POSTGRES_PASSWORD", raising=False)
    with pytest.raises(MissingSecretError, match=r"postgres_password.*LAKEHOUSE_POSTGRES_PASSWORD"):
        Secrets(_env_file=None).require("postgres_password")  # type: ignore[call-arg]


def test_generated_credentials_are_private_and_stable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name in ("S3_ACCESS_KEY", "S3_SECRET_KEY", "POSTGRES_PASSWORD"):
        monkeypatch.delenv(f"LAKEHOUSE_{name}", raising=False)
    settings = Settings(home=tmp_path)
    added = ensure_credentials(settings)
    assert set(added) >= {"s3_access_key", "s3_secret_key", "postgres_password"}
    assert settings.secrets_file.stat().st_mode & 0o777 == 0o600
    first = read_env_file(settings.secrets_file)
    assert ensure_credentials(settings) == []
    assert read_env_file(settings.secrets_file) == first
    loaded = load_secrets(settings)
    assert loaded.require("s3_secret_key") == first["LAKEHOUSE_S3_SECRET_KEY"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("availableNow", {"availableNow": True}),
        ("processingTime=2 seconds", {"processingTime": "2 seconds"}),
    ],
)
def test_trigger_options(spec: str, expected: dict[str, object]) -> None:
    assert trigger_options(spec) == expected


def test_unknown_trigger_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown trigger"):
        trigger_options("once")
