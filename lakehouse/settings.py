"""Typed settings, read from environment variables (prefix ``LAKEHOUSE_``, nested with ``__``).

Plain settings and secrets are separate types: secrets are ``SecretStr`` (redacted in repr and
logs) and a missing one fails fast with its name. Examples::

    LAKEHOUSE_HOME=/data/lakehouse
    LAKEHOUSE_KAFKA__MANAGED=false                                  # use an existing Kafka...
    LAKEHOUSE_KAFKA__BOOTSTRAP_SERVERS=broker1:9092,broker2:9092    # ...at these brokers
    LAKEHOUSE_S3__MANAGED=false                                     # use an existing S3...
    LAKEHOUSE_S3__ENDPOINT=https://s3.example.com                   # ...at this endpoint
    LAKEHOUSE_SPARK__MASTER=spark://master:7077                     # use a Spark cluster
"""

from __future__ import annotations

import functools
import os
from datetime import date
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from lakehouse.errors import MissingSecretError

ENV_PREFIX = "LAKEHOUSE_"


def project_root() -> Path:
    """The source checkout this package runs from (where pyproject.toml is), else the cwd."""
    here = Path(__file__).resolve().parent.parent
    return here if (here / "pyproject.toml").is_file() else Path.cwd()


def default_home() -> Path:
    """``$LAKEHOUSE_HOME`` or ``.lakehouse/`` in the project root: the one git-ignored folder
    for everything downloaded, built, generated or started."""
    env = os.environ.get(f"{ENV_PREFIX}HOME")
    return Path(env).expanduser().resolve() if env else project_root() / ".lakehouse"


class KafkaSettings(BaseModel):
    """The Kafka broker. ``managed=False`` with ``bootstrap_servers`` uses an existing cluster."""

    managed: bool = True
    host: str = "127.0.0.1"
    port: int = 9092
    controller_port: int = 9093
    bootstrap_servers: str | None = None
    default_partitions: int = 3
    heap: str = "512m"

    @property
    def bootstrap(self) -> str:
        return self.bootstrap_servers or f"{self.host}:{self.port}"


class S3Settings(BaseModel):
    """The S3-compatible object store that holds the lake."""

    managed: bool = True
    host: str = "127.0.0.1"
    port: int = 7070
    endpoint: str | None = None
    region: str = "us-east-1"
    bucket: str = "lakehouse"
    path_style: bool = True

    @property
    def url(self) -> str:
        return self.endpoint or f"http://{self.host}:{self.port}"

    @property
    def secure(self) -> bool:
        return self.url.startswith("https://")

    @property
    def lake_root(self) -> str:
        return f"s3a://{self.bucket}"


class PostgresSettings(BaseModel):
    """The PostgreSQL warehouse."""

    managed: bool = True
    host: str = "127.0.0.1"
    port: int = 5433
    database: str = "lakehouse"
    user: str = "lakehouse"  # owns the database and runs the migrations
    loader_user: str = "lakehouse_loader"  # the streaming application's warehouse writes
    reader_user: str = "lakehouse_grafana"  # dashboards: read only
    superuser: str = "postgres"


class SparkSettings(BaseModel):
    """The Spark session: master, resources and triggers."""

    master: str = "local[*]"
    driver_memory: str = "2g"
    shuffle_partitions: int = 2
    delta_snapshot_partitions: int = 1
    ui_enabled: bool = False
    log_level: str = "WARN"
    max_offsets_per_trigger: int = 200_000  # Kafka records per bronze micro-batch, at most
    max_files_per_trigger: int = 1000  # Delta files per silver micro-batch and table, at most
    # "availableNow" drains what is there and stops; "processingTime=2 seconds" runs as a service.
    trigger: str = "availableNow"


class HttpSettings(BaseModel):
    """HTTP behaviour of a poller: per-request timeout; retries on 5xx, 429 and network errors
    with exponential backoff and full jitter, bounded in attempts and in total time."""

    timeout_s: float = 30.0
    max_attempts: int = 5
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    max_total_s: float = 120.0


class BcbSettings(BaseModel):
    """The Banco Central do Brasil SGS poller. ``schedule``: a crontab (UTC) or an interval
    such as ``6h``."""

    base_url: str = "https://api.bcb.gov.br"
    series: tuple[int, ...] = (433, 432, 11)  # IPCA monthly %, Selic target % a.a., Selic daily
    since: date = date(2016, 1, 1)  # backfill start when a series has no watermark yet
    schedule: str = "0 12 * * *"  # daily, 09:00 in Brasília
    http: HttpSettings = HttpSettings()


class WeatherSettings(BaseModel):
    """The OpenWeather current-weather poller of the 27 state capitals."""

    base_url: str = "https://api.openweathermap.org"
    calls_per_minute: int = 50
    schedule: str = "1h"
    http: HttpSettings = HttpSettings(timeout_s=10.0)


class Settings(BaseSettings):
    """All non-secret settings. Build with ``get_settings()``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="ignore", frozen=True
    )

    home: Path = Field(default_factory=default_home)
    # Keeps several pipelines apart on one broker and one bucket: topics become
    # ``<namespace>.<topic>`` and the lake lives under ``s3a://<bucket>/<namespace>``.
    namespace: str = Field(default="", pattern=r"^([a-z0-9][a-z0-9_-]{0,39})?$")
    kafka: KafkaSettings = KafkaSettings()
    s3: S3Settings = S3Settings()
    postgres: PostgresSettings = PostgresSettings()
    spark: SparkSettings = SparkSettings()
    bcb: BcbSettings = BcbSettings()
    weather: WeatherSettings = WeatherSettings()

    @property
    def jars_dir(self) -> Path:
        return self.home / "jars" / "spark"

    @property
    def warehouse_database(self) -> str:
        """The PostgreSQL database: ``postgres.database``, suffixed ``_<namespace>`` in one."""
        suffix = f"_{self.namespace.replace('-', '_')}" if self.namespace else ""
        return self.postgres.database + suffix

    @property
    def lake_root(self) -> str:
        """``s3a://<bucket>`` or ``s3a://<bucket>/<namespace>``."""
        return f"{self.s3.lake_root}/{self.namespace}" if self.namespace else self.s3.lake_root


class Secrets(BaseSettings):
    """Credentials. An environment variable (``LAKEHOUSE_<NAME>``) wins; otherwise the value
    comes from the encrypted vault (``lakehouse vault``), where ``lakehouse setup`` generates
    the local stack's. Values are ``SecretStr``: repr and logs show ``**********``."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore", frozen=True)

    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    postgres_password: SecretStr | None = None
    postgres_loader_password: SecretStr | None = None
    postgres_reader_password: SecretStr | None = None
    postgres_superuser_password: SecretStr | None = None
    openweather_api_key: SecretStr | None = None

    def require(self, name: str) -> str:
        """The clear value of secret ``name``; raises ``MissingSecretError`` naming it if unset."""
        value = getattr(self, name, None)
        if value is None or not value.get_secret_value():
            raise MissingSecretError(
                f"secret {name} is not configured: set {ENV_PREFIX}{name.upper()}, store it with "
                f"`lakehouse vault put {name}`, or run `lakehouse setup` for the local stack's"
            )
        return value.get_secret_value()


@functools.cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()


def load_secrets(settings: Settings | None = None) -> Secrets:
    """Secrets from the environment, then from the vault (each vault read is audited). Every
    value loaded is registered with the log redaction filter."""
    from lakehouse.logs import register_secret
    from security.runtime import vault_values

    settings = settings or get_settings()
    from_env = {n for n in Secrets.model_fields if os.environ.get(f"{ENV_PREFIX}{n.upper()}")}
    values = vault_values(settings, [n for n in Secrets.model_fields if n not in from_env])
    secrets = Secrets(**values)
    for name in Secrets.model_fields:
        value = getattr(secrets, name)
        if value is not None:
            register_secret(value.get_secret_value())
    return secrets
