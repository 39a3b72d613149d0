"""A stack of its own for the fault-injection tests: Kafka, the S3 server and PostgreSQL on
free ports, with data, pid files and logs under ``<home>/stacks/<name>``, so that killing and
restarting them leaves the shared stack (and any test using it) alone."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from lakehouse.settings import Secrets, Settings
from lakehouse.stack import control
from lakehouse.stack.process import pid_alive
from lakehouse.stack.services import Service, all_services, require_service


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports free on 127.0.0.1 right now."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    return ports


@dataclass
class PrivateStack:
    settings: Settings
    secrets: Secrets
    base: Path

    @classmethod
    def create(
        cls, settings: Settings, secrets: Secrets, name: str, namespace: str
    ) -> PrivateStack:
        kafka, controller, s3, postgres = free_ports(4)
        private = settings.model_copy(
            update={
                "namespace": namespace,
                "kafka": settings.kafka.model_copy(
                    update={"managed": True, "port": kafka, "controller_port": controller,
                            "bootstrap_servers": None}
                ),
                "s3": settings.s3.model_copy(
                    update={"managed": True, "port": s3, "endpoint": None,
                            "bucket": f"{settings.s3.bucket}-{name}"}
                ),
                "postgres": settings.postgres.model_copy(
                    update={"managed": True, "port": postgres}
                ),
            }
        )  # fmt: skip
        return cls(private, secrets, settings.home / "stacks" / name)

    def env(self) -> dict[str, str]:
        """Environment variables that point a ``lakehouse`` process at this stack."""
        s = self.settings
        return {
            "LAKEHOUSE_NAMESPACE": s.namespace,
            "LAKEHOUSE_KAFKA__MANAGED": "true",
            "LAKEHOUSE_KAFKA__PORT": str(s.kafka.port),
            "LAKEHOUSE_KAFKA__CONTROLLER_PORT": str(s.kafka.controller_port),
            "LAKEHOUSE_S3__MANAGED": "true",
            "LAKEHOUSE_S3__PORT": str(s.s3.port),
            "LAKEHOUSE_S3__BUCKET": s.s3.bucket,
            "LAKEHOUSE_POSTGRES__MANAGED": "true",
            "LAKEHOUSE_POSTGRES__PORT": str(s.postgres.port),
        }

    def service(self, name: str) -> Service:
        return require_service(all_services(self.settings, self.secrets, self.base), name)

    def up(self) -> None:
        control.up(self.settings, self.secrets, base=self.base)

    def down(self) -> None:
        control.down(self.settings, self.secrets, base=self.base)

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        """Send ``sig`` to a service's process group and wait until it is gone."""
        process = self.service(name).process()
        pid = process.pid()
        assert pid is not None, f"{name} is not running"
        os.killpg(pid, sig)
        deadline = time.monotonic() + 60
        while pid_alive(pid):
            assert time.monotonic() < deadline, f"{name} (pid {pid}) did not die"
            time.sleep(0.1)
        process.pid_file.unlink(missing_ok=True)

    def stop(self, name: str) -> None:
        """The service's own stop (SIGTERM; SIGINT for PostgreSQL, a fast shutdown)."""
        self.service(name).process().stop()

    def start(self, name: str) -> float:
        """Start a stopped service and wait until it answers; returns the seconds it took."""
        began = time.monotonic()
        service = self.service(name)
        pid = service.start()
        service.process().wait_ready(pid, service.probe, service.start_deadline_s)
        return time.monotonic() - began

    def running(self, name: str) -> bool:
        return self.service(name).process().pid() is not None


@contextlib.contextmanager
def private_stack(
    settings: Settings, secrets: Secrets, name: str, namespace: str
) -> Iterator[PrivateStack]:
    """A fresh private stack, up for the block, then stopped and removed."""
    stack = PrivateStack.create(settings, secrets, name, namespace)
    shutil.rmtree(stack.base, ignore_errors=True)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
        shutil.rmtree(stack.base, ignore_errors=True)
