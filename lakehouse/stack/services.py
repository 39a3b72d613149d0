"""The three services of the local stack and what each needs to prepare, start and check."""

from __future__ import annotations

import base64
import logging
import os
import pwd
import shutil
import signal
import uuid
from abc import ABC, abstractmethod
from pathlib import Path

from lakehouse.errors import SetupError, StackError
from lakehouse.install.commands import run
from lakehouse.install.toolchain import java_binary, postgres_bin_dir, versitygw_binary
from lakehouse.settings import Secrets, Settings
from lakehouse.stack.process import ManagedProcess, port_accepts

log = logging.getLogger(__name__)


def dir_size(path: Path) -> int:
    """Bytes on disk of the files under ``path``: allocated blocks, not apparent sizes, as
    Kafka preallocates its index files sparse (10 MiB each, a few KiB used)."""
    total = 0
    for root, _dirs, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
            except OSError:
                continue
    return total


def kafka_cluster_id(random_bytes: bytes | None = None) -> str:
    """A new KRaft cluster id: 16 random bytes, URL-safe base64 without padding.

    An id starting with ``-`` is drawn again (as Kafka's own ``Uuid.randomUuid`` does): the
    storage tool's argument parser reads it as an option and refuses to format.
    """
    while True:
        raw = random_bytes if random_bytes is not None else uuid.uuid4().bytes
        random_bytes = None
        cluster_id = base64.urlsafe_b64encode(raw).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


class Service(ABC):
    """A service the stack can prepare (once), start, probe and stop.

    ``base`` holds its data (``services/<name>``), pid file (``run/``) and log (``logs/``):
    the home by default; another folder runs a second, separate stack (on other ports).
    """

    name: str
    start_deadline_s: float = 90.0

    def __init__(self, settings: Settings, secrets: Secrets, base: Path | None = None) -> None:
        self.settings = settings
        self.secrets = secrets
        self.base = base or settings.home
        self.root = self.base / "services" / self.name

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    @abstractmethod
    def managed(self) -> bool: ...

    @property
    @abstractmethod
    def host(self) -> str: ...

    @property
    @abstractmethod
    def ports(self) -> list[int]: ...

    @property
    @abstractmethod
    def address(self) -> str: ...

    @abstractmethod
    def prepare(self) -> None:
        """One-time initialisation (formatting storage, initdb); idempotent."""

    @abstractmethod
    def argv(self) -> list[str]: ...

    def env(self) -> dict[str, str]:
        return {}

    def user(self) -> str | None:
        return None

    stop_signal: int = signal.SIGTERM

    def process(self) -> ManagedProcess:
        return ManagedProcess(
            name=self.name,
            pid_file=self.base / "run" / f"{self.name}.pid",
            log_file=self.base / "logs" / f"{self.name}.log",
            marker=str(self.base),
            stop_signal=self.stop_signal,
        )

    def start(self) -> int:
        """Start the service's process; returns its pid."""
        return self.process().start(self.argv(), self.env(), self.user())

    def probe(self) -> bool:
        """True when the service answers requests (default: its first port accepts)."""
        return port_accepts(self.host, self.ports[0])

    def after_start(self) -> None:
        """Idempotent work once the service is ready (create a bucket, a database)."""
        return None


class KafkaService(Service):
    """Apache Kafka in KRaft combined mode (broker + controller in one JVM)."""

    name = "kafka"

    @property
    def managed(self) -> bool:
        return self.settings.kafka.managed

    @property
    def host(self) -> str:
        return self.settings.kafka.host

    @property
    def ports(self) -> list[int]:
        return [self.settings.kafka.port, self.settings.kafka.controller_port]

    @property
    def address(self) -> str:
        return self.settings.kafka.bootstrap

    @property
    def libs(self) -> Path:
        return self.settings.home / "kafka" / "libs"

    @property
    def config_file(self) -> Path:
        return self.root / "server.properties"

    def _write_config(self) -> None:
        k = self.settings.kafka
        self.root.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@{k.host}:{k.controller_port}",
                    f"listeners=PLAINTEXT://{k.host}:{k.port},CONTROLLER://{k.host}:{k.controller_port}",
                    f"advertised.listeners=PLAINTEXT://{k.host}:{k.port}",
                    "controller.listener.names=CONTROLLER",
                    "inter.broker.listener.name=PLAINTEXT",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    f"log.dirs={self.data_dir}",
                    f"num.partitions={k.default_partitions}",
                    "auto.create.topics.enable=false",
                    "offsets.topic.replication.factor=1",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "share.coordinator.state.topic.replication.factor=1",
                    "share.coordinator.state.topic.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "",
                ]
            )
        )
        (self.root / "log4j2.properties").write_text(
            "\n".join(
                [
                    "appender.out.type=Console",
                    "appender.out.name=out",
                    "appender.out.layout.type=PatternLayout",
                    "appender.out.layout.pattern=[%d] %p %m (%c)%n",
                    "rootLogger.level=WARN",
                    "rootLogger.appenderRef.out.ref=out",
                    "logger.server.name=kafka.server",
                    "logger.server.level=INFO",
                    "",
                ]
            )
        )

    def _java(self, main: str, *args: str) -> list[str]:
        return [
            java_binary(),
            f"-Xms{self.settings.kafka.heap}",
            f"-Xmx{self.settings.kafka.heap}",
            "-XX:+UseG1GC",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile=file:{self.root / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.base / 'logs'}",
            "-cp",
            f"{self.libs}/*",
            main,
            *args,
        ]

    def prepare(self) -> None:
        if not any(self.libs.glob("kafka_*.jar")):
            raise SetupError(f"Kafka jars are missing in {self.libs}: run `lakehouse setup`")
        self._write_config()
        if (self.data_dir / "meta.properties").is_file():
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cluster_id = kafka_cluster_id()
        log.info("formatting Kafka storage in %s", self.data_dir)
        run(
            self._java(
                "kafka.tools.StorageTool", "format", "--cluster-id", cluster_id,
                "--config", str(self.config_file), "--ignore-formatted",
            ),
            what="formatting the Kafka storage (kafka.tools.StorageTool)",
            log_file=self.base / "logs" / "kafka-format.log",
        )  # fmt: skip

    def argv(self) -> list[str]:
        self._write_config()
        return self._java("kafka.Kafka", str(self.config_file))

    def probe(self) -> bool:
        if not port_accepts(self.host, self.settings.kafka.port):
            return False
        from confluent_kafka.admin import AdminClient

        admin = AdminClient({"bootstrap.servers": self.address, "log_level": 0})
        try:
            metadata = admin.list_topics(timeout=2)
        except Exception:  # the broker accepts TCP before it serves metadata
            return False
        return bool(metadata.brokers)

    def after_start(self) -> None:
        from lakehouse.kafka import ensure_topics
        from lakehouse.registry import all_topics

        ensure_topics(self.settings, all_topics())


class S3Service(Service):
    """versitygw serving a POSIX folder over the S3 API."""

    name = "s3"

    @property
    def managed(self) -> bool:
        return self.settings.s3.managed

    @property
    def host(self) -> str:
        return self.settings.s3.host

    @property
    def ports(self) -> list[int]:
        return [self.settings.s3.port]

    @property
    def address(self) -> str:
        return self.settings.s3.url

    def prepare(self) -> None:
        if not versitygw_binary(self.settings).exists():
            raise SetupError("the versitygw binary is missing: run `lakehouse setup`")
        self.data_dir.mkdir(parents=True, exist_ok=True)

    def argv(self) -> list[str]:
        s3 = self.settings.s3
        return [
            str(versitygw_binary(self.settings)),
            "--port", f"{s3.host}:{s3.port}",
            "--region", s3.region,
            "--quiet",
            "posix", str(self.data_dir),
        ]  # fmt: skip

    def env(self) -> dict[str, str]:
        # Credentials go through the environment, never the command line (visible in ps).
        return {
            "ROOT_ACCESS_KEY_ID": self.secrets.require("s3_access_key"),
            "ROOT_SECRET_ACCESS_KEY": self.secrets.require("s3_secret_key"),
        }

    def probe(self) -> bool:
        from lakehouse.storage import s3_answers

        return port_accepts(self.host, self.settings.s3.port) and s3_answers(
            self.settings, self.secrets
        )

    def after_start(self) -> None:
        from lakehouse.storage import ensure_bucket

        ensure_bucket(self.settings, self.secrets)


class PostgresService(Service):
    """A PostgreSQL cluster owned by the project (initdb + postgres from Debian's packages)."""

    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: does not wait for clients to disconnect

    @property
    def managed(self) -> bool:
        return self.settings.postgres.managed

    @property
    def host(self) -> str:
        return self.settings.postgres.host

    @property
    def ports(self) -> list[int]:
        return [self.settings.postgres.port]

    @property
    def address(self) -> str:
        return f"postgresql://{self.host}:{self.settings.postgres.port}/{self.settings.postgres.database}"

    @property
    def socket_dir(self) -> Path:
        return self.root / "socket"

    def user(self) -> str | None:
        """PostgreSQL refuses to run as root: as root, run it as the `postgres` system user."""
        if os.geteuid() != 0:
            return None
        try:
            pwd.getpwnam("postgres")
        except KeyError as exc:
            raise SetupError("running as root needs the `postgres` system user") from exc
        return "postgres"

    def _own(self, *paths: Path) -> None:
        user = self.user()
        if user:
            for path in paths:
                shutil.chown(path, user, user)
            # The server user must be able to reach its folder: grant traverse (x) only.
            for parent in self.root.parents:
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    log.info("granting traverse permission on %s for PostgreSQL", parent)
                    parent.chmod(mode | 0o001)

    def prepare(self) -> None:
        bin_dir = postgres_bin_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        self._own(self.root, self.socket_dir)
        if (self.data_dir / "PG_VERSION").is_file():
            return
        pwfile = self.root / ".initdb-password"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(self.secrets.require("postgres_superuser_password") + "\n")
        self._own(pwfile)
        log.info("initialising the PostgreSQL cluster in %s", self.data_dir)
        try:
            run(
                [
                    bin_dir / "initdb", "-D", self.data_dir, "-U", self.settings.postgres.superuser,
                    f"--pwfile={pwfile}", "--auth-local=peer", "--auth-host=scram-sha-256",
                    "--encoding=UTF8", "--locale=C", "--no-instructions",
                ],
                what="initdb of the project's PostgreSQL cluster",
                log_file=self.base / "logs" / "postgres-initdb.log",
                user=self.user(),
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)

    def argv(self) -> list[str]:
        pg = self.settings.postgres
        return [
            str(postgres_bin_dir() / "postgres"),
            "-D", str(self.data_dir),
            "-p", str(pg.port),
            "-c", f"listen_addresses={pg.host}",
            "-c", f"unix_socket_directories={self.socket_dir}",
            "-c", "logging_collector=off",
        ]  # fmt: skip

    def probe(self) -> bool:
        from lakehouse.postgres import can_connect

        return can_connect(self.settings, self.secrets, role="superuser")

    def after_start(self) -> None:
        from lakehouse.postgres import ensure_database

        ensure_database(self.settings, self.secrets)


def all_services(settings: Settings, secrets: Secrets, base: Path | None = None) -> list[Service]:
    """The stack's services in start order (``base``: see :class:`Service`)."""
    return [
        KafkaService(settings, secrets, base),
        S3Service(settings, secrets, base),
        PostgresService(settings, secrets, base),
    ]


def require_service(services: list[Service], name: str) -> Service:
    for service in services:
        if service.name == name:
            return service
    raise StackError(f"no service named {name!r}; known: {', '.join(s.name for s in services)}")
