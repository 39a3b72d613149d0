"""The fault-injection suite runs on a stack of its own (``private_stack``): it kills and
restarts Kafka, the S3 server and PostgreSQL, which must not disturb the shared stack or the
tests using it. One private stack serves the whole suite."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from lakehouse.scheduling import state_dir
from lakehouse.settings import Secrets, Settings
from tests.faults.private_stack import PrivateStack, private_stack

RECOVERIES = pytest.StashKey[list[str]]()


@pytest.fixture(scope="session")
def faults_stack(settings: Settings, secrets: Secrets, run_id: str) -> Iterator[PrivateStack]:
    """Kafka, S3 server and PostgreSQL on free ports under ``<home>/stacks/faults``, with a
    namespace (topics, lake folder, database, producer state) of this run."""
    with private_stack(settings, secrets, "faults", f"f{run_id}") as stack:
        yield stack
        shutil.rmtree(state_dir(stack.settings), ignore_errors=True)


@pytest.fixture(scope="session")
def faults_spark(spark: Any, faults_stack: PrivateStack) -> Any:
    """The test session's Spark, reading the private stack's bucket from its S3 server."""
    s3 = faults_stack.settings.s3
    hadoop = spark.sparkContext._jsc.hadoopConfiguration()
    hadoop.set(f"fs.s3a.bucket.{s3.bucket}.endpoint", s3.url)
    return spark


@pytest.fixture
def report_recovery(request: pytest.FixtureRequest) -> Callable[[str], None]:
    """Add a line to the "fault recoveries" section that ends the pytest run's output, shown
    whether the test passed or failed (a passing test's prints are captured)."""
    return request.config.stash.setdefault(RECOVERIES, []).append


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    lines = config.stash.get(RECOVERIES, [])
    if lines:
        terminalreporter.section("fault recoveries")
        for line in lines:
            terminalreporter.write_line(line)
