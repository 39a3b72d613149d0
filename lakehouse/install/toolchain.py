"""Checks of the machine's toolchain (Java, Go, Maven, PostgreSQL) and the Go-built S3 server."""

from __future__ import annotations

import logging
import os
import re
import shutil
import subprocess
from pathlib import Path

from lakehouse import versions
from lakehouse.errors import SetupError
from lakehouse.install.commands import run, which
from lakehouse.settings import Settings

log = logging.getLogger(__name__)


def java_binary() -> str:
    """``$JAVA_HOME/bin/java`` or ``java`` on PATH, checked to be Java 17 or newer."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise SetupError("no Java found: install a JDK 17+ (Debian `openjdk-17-jre-headless`)")
    out = subprocess.run([java, "-version"], capture_output=True, text=True, check=False).stderr
    match = re.search(r'version "(\d+)', out)
    major = int(match.group(1)) if match else 0
    if major < versions.JAVA_MIN_MAJOR:
        raise SetupError(
            f"{java} is Java {major or '?'}; Spark 4 and Kafka 4 need {versions.JAVA_MIN_MAJOR}+"
        )
    return java


def versitygw_binary(settings: Settings) -> Path:
    return settings.home / "bin" / "versitygw"


def install_versitygw(settings: Settings) -> Path:
    """Build the pinned versitygw with ``go install`` into the home, unless already built."""
    binary = versitygw_binary(settings)
    stamp = binary.with_name(".versitygw.version")
    if binary.exists() and stamp.is_file() and stamp.read_text() == versions.VERSITYGW_VERSION:
        log.info("versitygw %s present", versions.VERSITYGW_VERSION)
        return binary
    go = which("go", "install Go 1.25+ (Debian `golang` or go.dev) to build the S3 server")
    cache = settings.home / "cache" / "go"
    log.info("building versitygw %s with go install (a few minutes)", versions.VERSITYGW_VERSION)
    run(
        [go, "install", f"{versions.VERSITYGW_MODULE}/cmd/versitygw@{versions.VERSITYGW_VERSION}"],
        what="go install of the versitygw S3 server",
        env={
            "GOBIN": str(binary.parent),
            "GOMODCACHE": str(cache / "mod"),
            "GOCACHE": str(cache / "build"),
            "GOFLAGS": "-modcacherw",
        },
        log_file=settings.home / "build" / "versitygw.log",
    )
    stamp.write_text(versions.VERSITYGW_VERSION)
    return binary


def postgres_bin_dir() -> Path:
    """The PostgreSQL server binaries of the pinned major version from Debian's packages."""
    bin_dir = Path("/usr/lib/postgresql") / versions.POSTGRES_MAJOR / "bin"
    if not (bin_dir / "postgres").exists():
        raise SetupError(
            f"PostgreSQL {versions.POSTGRES_MAJOR} server binaries are missing in {bin_dir}: "
            f"install the Debian package postgresql-{versions.POSTGRES_MAJOR}"
        )
    return bin_dir
