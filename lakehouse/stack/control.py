"""``lakehouse stack up | down | status``: start, stop and report the local services."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from lakehouse.settings import Secrets, Settings, load_secrets
from lakehouse.stack import spark_cluster
from lakehouse.stack.private import make_private
from lakehouse.stack.process import check_ports_free
from lakehouse.stack.services import Service, all_services, dir_size

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # running | stopped | external
    pid: int | None
    address: str
    data_bytes: int


def managed_services(
    settings: Settings, secrets: Secrets | None = None, base: Path | None = None
) -> list[Service]:
    """The services the project runs (``base``: their folder, default the home)."""
    services = all_services(settings, secrets or load_secrets(settings), base)
    return [s for s in services if s.managed]


def up(settings: Settings, secrets: Secrets | None = None, base: Path | None = None) -> list[str]:
    """Start every managed service that is not running and wait until each is ready.

    Services already running are left as they are; each service's idempotent post-start step
    (bucket, database, migrations) runs every time. If any service fails, the ones this call
    started are stopped again, so nothing is left half-started. Returns the names started.
    """
    services = managed_services(settings, secrets, base)
    to_start = [s for s in services if s.process().pid() is None]
    for service in to_start:  # fail on a taken port before anything starts
        check_ports_free(service.name, service.host, service.ports)
    for service in to_start:
        service.prepare()
    if services:  # data and logs readable by their owner only (and a service's own user)
        foreign = tuple(s.root for s in services if s.user() is not None)
        make_private(services[0].base, foreign)
    started: list[Service] = []
    try:
        for service in to_start:
            began = time.monotonic()
            pid = service.start()
            started.append(service)
            service.process().wait_ready(pid, service.probe, service.start_deadline_s)
            log.info(
                "%s ready at %s (pid %d, %.1fs)",
                service.name, service.address, pid, time.monotonic() - began,
            )  # fmt: skip
        for service in services:  # idempotent: bucket, database, pending migrations
            service.after_start()
    except BaseException:
        for service in reversed(started):
            service.process().stop()
        raise
    return [s.name for s in started]


def down(settings: Settings, secrets: Secrets | None = None, base: Path | None = None) -> list[str]:
    """Stop every service the project started, in reverse order, after the Spark standalone
    cluster if it runs (``lakehouse cluster``); returns the names stopped."""
    stopped = spark_cluster.down(settings, base)
    for service in reversed(managed_services(settings, secrets, base)):
        if service.process().stop():
            stopped.append(service.name)
    return stopped


def status(settings: Settings, secrets: Secrets | None = None) -> list[ServiceStatus]:
    """State, address and data size of each service."""
    rows = []
    for service in all_services(settings, secrets or load_secrets(settings)):
        if not service.managed:
            rows.append(ServiceStatus(service.name, "external", None, service.address, 0))
            continue
        pid = service.process().pid()
        size = dir_size(service.data_dir) if service.data_dir.exists() else 0
        state = "running" if pid else "stopped"
        rows.append(ServiceStatus(service.name, state, pid, service.address, size))
    return rows
