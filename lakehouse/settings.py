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
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator
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
    # How long the broker may hold a fetch of Spark's Kafka source waiting for more data. A
    # micro-batch reads ranges that exist; the client's default (500 ms) cost half a second per
    # topic partition read (7.7 s of a 48k-record batch over 27 partitions, 0.8 s at 10 ms).
    source_fetch_max_wait_ms: int = Field(default=10, ge=0)

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
    # silver tables a micro-batch writes at once (each write is mostly waiting on the store)
    write_threads: int = Field(default=4, ge=1)
    # "availableNow" drains what is there and stops; "processingTime=2 seconds" runs as a service.
    trigger: str = "availableNow"
    # gold's trigger when the application runs as a service (processingTime): gold is not on
    # the path to the warehouse, and each batch recomputes whole sale dates
    gold_trigger: str = "processingTime=15 seconds"
    # Executors, with any master but local[...]: one executor of this size (spark.cores.max).
    executor_cores: int = Field(default=2, ge=1)
    executor_memory: str = "2g"
    cores_max: int = Field(default=2, ge=1)


class SparkClusterSettings(BaseModel):
    """``lakehouse cluster``: a Spark standalone master and one worker on this machine, run
    from the pyspark distribution in the virtualenv. The master's address is ``master_url``;
    point the streaming application at it with ``--master`` (``lakehouse demo --master``)."""

    host: str = "127.0.0.1"
    port: int = 7077  # the master's RPC port
    web_ui_port: int = 8080  # the master's web UI and its /json state
    worker_port: int = 7078
    worker_web_ui_port: int = 8081
    worker_cores: int = Field(default=2, ge=1)
    worker_memory: str = "4g"  # what the worker offers to executors
    daemon_memory: str = "512m"  # heap of the master's and the worker's own JVMs

    @property
    def master_url(self) -> str:
        return f"spark://{self.host}:{self.port}"

    @property
    def web_ui(self) -> str:
        return f"http://{self.host}:{self.web_ui_port}"


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


class MaintenanceSettings(BaseModel):
    """Delta table maintenance (``lakehouse batch maintain``) and erasure."""

    # VACUUM keeps removed files this long: time travel and lagging streams need them.
    vacuum_retention_hours: int = Field(default=168, ge=168)
    small_file_mb: int = 32  # files below this size count as small in the statistics
    # Erasure deletes rows at once; the files that held them go at the next VACUUM of the
    # tables it changed, with this retention (0: at once, and older versions lose time travel).
    erasure_vacuum_hours: int = Field(default=168, ge=0)
    # Lifecycle: bronze partitions (ingest dates) older than this many days leave bronze,
    # moved to the cold prefix (``cold/bronze/<topic>``) or, with ``expire``, deleted.
    bronze_hot_days: int = Field(default=90, ge=1)
    bronze_expiry: Literal["cold", "expire"] = "cold"


class ScheduledJob(BaseModel):
    """One periodic job of ``lakehouse schedule``: the arguments of a ``lakehouse`` sub-command,
    run as a subprocess on ``schedule`` (an interval such as ``30m`` or a crontab in UTC; left
    unset, ``bcb`` and ``weather`` follow ``bcb.schedule`` and ``weather.schedule``) and killed
    after ``timeout_s``."""

    schedule: str | None = None
    command: tuple[str, ...] = ()
    enabled: bool = True
    timeout_s: float = Field(default=3600.0, gt=0)


DEFAULT_SCHEDULED_JOBS: dict[str, dict[str, Any]] = {
    "bcb": {"command": ("produce", "bcb")},
    "weather": {"command": ("produce", "weather"), "timeout_s": 900.0},
    "maintenance": {"schedule": "0 3 * * *", "command": ("batch", "maintain"), "timeout_s": 7200.0},
    "quality": {"schedule": "15 * * * *", "command": ("batch", "quality"), "timeout_s": 1800.0},
    "promote": {"schedule": "20 * * * *", "command": ("batch", "promote"), "timeout_s": 1800.0},
    "lifecycle": {"schedule": "30 4 * * *", "command": ("batch", "lifecycle")},
}


class ScheduleSettings(BaseModel):
    """``lakehouse schedule``: its jobs by name, how many run at once, and on SIGTERM how long
    running jobs may finish before they are terminated (then killed after ``kill_after_s``).
    A job's fields merge over its defaults (``LAKEHOUSE_SCHEDULE__JOBS__QUALITY__SCHEDULE=30m``
    changes only the schedule); a new name adds a job (its ``COMMAND`` as a JSON list)."""

    jobs: dict[str, ScheduledJob] = Field(
        default_factory=lambda: {n: ScheduledJob(**s) for n, s in DEFAULT_SCHEDULED_JOBS.items()}
    )
    max_parallel_runs: int = Field(default=2, ge=1)
    stop_timeout_s: float = Field(default=60.0, ge=0)
    kill_after_s: float = Field(default=10.0, ge=0)

    @field_validator("jobs", mode="before")
    @classmethod
    def _merge_over_defaults(cls, value: Any) -> Any:
        if not isinstance(value, Mapping):
            return value
        merged: dict[str, Any] = {n: dict(s) for n, s in DEFAULT_SCHEDULED_JOBS.items()}
        for name, given in value.items():
            if isinstance(given, ScheduledJob):
                given = given.model_dump(exclude_unset=True)
            if isinstance(given, Mapping):
                given = {**merged.get(name, {}), **given}
            merged[name] = given
        return merged


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
    spark_cluster: SparkClusterSettings = SparkClusterSettings()
    bcb: BcbSettings = BcbSettings()
    weather: WeatherSettings = WeatherSettings()
    maintenance: MaintenanceSettings = MaintenanceSettings()
    schedule: ScheduleSettings = ScheduleSettings()

    @property
    def scheduled_jobs(self) -> dict[str, ScheduledJob]:
        """``schedule.jobs``, with a producer job that has no schedule of its own on its
        producer's (``bcb.schedule``, ``weather.schedule``)."""
        producers = {"bcb": self.bcb.schedule, "weather": self.weather.schedule}
        return {
            name: job.model_copy(update={"schedule": producers[name]})
            if job.schedule is None and name in producers
            else job
            for name, job in self.schedule.jobs.items()
        }

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
