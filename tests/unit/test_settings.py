"""Typed settings from the environment; secrets redacted and required by name."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest

from lakehouse.errors import MissingSecretError
from lakehouse.logs import RedactSecrets, register_secret
from lakehouse.registry import bronze_topic, checkpoint_path, kafka_topic, table_path
from lakehouse.settings import Secrets, Settings
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


def test_loaded_secrets_are_redacted_from_logs(caplog: pytest.LogCaptureFixture) -> None:
    register_secret("s3cr3t-value-123")
    logger = logging.getLogger("lakehouse.test")
    handler = logging.StreamHandler(io.StringIO())
    handler.addFilter(RedactSecrets())
    logger.addHandler(handler)
    try:
        logger.warning("connecting with %s to %s", "s3cr3t-value-123", "db")
    finally:
        logger.removeHandler(handler)
    output = handler.stream.getvalue()
    assert "s3cr3t-value-123" not in output
    assert "connecting with ********** to db" in output


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


def test_namespace_prefixes_topics_and_lake_paths(tmp_path: Path) -> None:
    plain = Settings(home=tmp_path)
    spaced = Settings(home=tmp_path, namespace="ci-42")
    assert kafka_topic(plain, "olist.orders") == "olist.orders"
    assert kafka_topic(spaced, "olist.orders") == "ci-42.olist.orders"
    assert table_path(plain, "silver", "orders") == "s3a://lakehouse/silver/orders"
    assert table_path(spaced, "bronze", "bcb.sgs") == "s3a://lakehouse/ci-42/bronze/bcb_sgs"
    assert checkpoint_path(spaced, "gold") == "s3a://lakehouse/ci-42/_checkpoints/gold"
    # bronze is one table; bronze.<topic> names one topic's rows of it
    assert bronze_topic("olist_orders") == "olist.orders"
    assert bronze_topic("olist_dlq") == "olist.dlq"
    assert bronze_topic("events") is None
    with pytest.raises(ValueError, match=r"no bronze\.smoke_events"):
        bronze_topic("smoke_events")
    with pytest.raises(ValueError, match="namespace"):
        Settings(home=tmp_path, namespace="Bad Name/..")
