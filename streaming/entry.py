"""What every streaming job's ``main(argv)`` does first: parse ``--trigger``, set up logging,
read settings and build the Spark session."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from pyspark.sql import SparkSession

from lakehouse.logs import configure_logging
from lakehouse.settings import Settings, get_settings
from lakehouse.spark import build_spark_session


def start_job(
    argv: Sequence[str] | None, description: str, app_name: str
) -> tuple[argparse.Namespace, Settings, SparkSession]:
    """(arguments, settings, Spark session) for a job run from the command line."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--trigger", help="availableNow or processingTime=<interval>")
    args = parser.parse_args(argv)
    configure_logging()
    settings = get_settings()
    return args, settings, build_spark_session(app_name, settings)
