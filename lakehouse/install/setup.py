"""``lakehouse setup``: install every part of the runtime into the home, idempotently.

Python packages are installed before this runs (``scripts/bootstrap``). A second run finds
everything present and verified and does no network work.
"""

from __future__ import annotations

import logging
import time

from lakehouse import versions
from lakehouse.install.class_archive import ensure_archive
from lakehouse.install.jars import install_jars
from lakehouse.install.toolchain import install_versitygw, java_binary
from lakehouse.settings import Settings, load_secrets
from lakehouse.stack.control import managed_services
from security.runtime import ensure_stack_credentials

log = logging.getLogger(__name__)


def run_setup(settings: Settings, *, update_lock: bool = False) -> None:
    """The vault with the stack's credentials, jars, the Spark driver's class archive, the S3
    server binary, and one-time preparation of each service."""
    began = time.monotonic()
    settings.home.mkdir(parents=True, exist_ok=True)
    java_binary()
    ensure_stack_credentials(settings)
    install_jars(settings, update_lock=update_lock)
    ensure_archive(settings)
    if settings.s3.managed:
        install_versitygw(settings)
    for service in managed_services(settings, load_secrets(settings)):
        service.prepare()
    log.info("setup complete in %.1fs (home: %s)", time.monotonic() - began, settings.home)


def packages_option() -> str:
    """The ``--packages`` value for users who let spark-submit resolve the jars itself."""
    return ",".join(versions.spark_maven_coordinates())
