"""``lakehouse batch <job>``: the lake's batch jobs (maintenance, quality gates, promotion,
erasure, lifecycle, replay). Each job's module is imported only when it runs."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

JobAdder = Callable[[argparse._SubParsersAction], None]


def _lake_job(job: str, to_args: Callable[[argparse.Namespace], dict[str, Any]]) -> Callable:
    """The command function of a lake job (one that rewrites Delta tables): run in the driver
    holding the lake, see ``batch.lake_jobs``."""

    def command(args: argparse.Namespace) -> int:
        from batch.lake_jobs import print_result, run_job
        from lakehouse.settings import get_settings, load_secrets

        settings = get_settings()
        result = run_job(settings, load_secrets(settings), job, to_args(args), args.timeout)
        print_result(result, args.json)
        return 0

    return command


def _lake_job_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument(
        "--timeout", type=float, default=3600.0, help="seconds to wait for the job (default 1 h)"
    )


def _add_maintain(jobs: argparse._SubParsersAction) -> None:
    p = jobs.add_parser(
        "maintain",
        help="OPTIMIZE (compaction / Z-ORDER) and VACUUM the lake's tables, with file statistics",
    )
    p.add_argument(
        "--table", action="append", metavar="LAYER.TABLE", help="only these (repeatable)"
    )
    p.add_argument("--no-vacuum", action="store_true", help="OPTIMIZE only")
    _lake_job_options(p)
    p.set_defaults(
        func=_lake_job("maintain", lambda a: {"tables": a.table or [], "vacuum": not a.no_vacuum})
    )


def _add_erase(jobs: argparse._SubParsersAction) -> None:
    p = jobs.add_parser(
        "erase",
        help="LGPD erasure: remove a data subject from bronze, silver, gold and the warehouse",
    )
    p.add_argument(
        "--customer",
        required=True,
        help="customer_id, customer_unique_id, or the warehouse's customer_token",
    )
    _lake_job_options(p)
    p.set_defaults(func=_lake_job("erase", lambda a: {"customer": a.customer}))


def _quality(args: argparse.Namespace) -> int:
    from batch.quality import quality_command

    return quality_command(args.layer, args.table)


def _add_quality(jobs: argparse._SubParsersAction) -> None:
    p = jobs.add_parser(
        "quality",
        help="run the quality expectations over silver, gold and the warehouse; results go to "
        "ops.quality_results; a critical failure exits 1",
    )
    p.add_argument("--layer", choices=["silver", "gold", "warehouse"])
    p.add_argument(
        "--table", action="append", metavar="LAYER.TABLE", help="only these (repeatable)"
    )
    p.set_defaults(func=_quality)


def _promote(args: argparse.Namespace) -> int:
    from batch.promote import promote_command

    return promote_command(args.table)


def _add_promote(jobs: argparse._SubParsersAction) -> None:
    p = jobs.add_parser(
        "promote",
        help="copy gold's tables into the warehouse (dw.agg_*), each only when its critical "
        "expectations pass",
    )
    p.add_argument(
        "--table",
        action="append",
        choices=["daily_sales", "monthly_gmv", "sales_weather"],
        help="only these (repeatable)",
    )
    p.set_defaults(func=_promote)


def _add_lifecycle(jobs: argparse._SubParsersAction) -> None:
    p = jobs.add_parser(
        "lifecycle",
        help="move bronze partitions older than maintenance.bronze_hot_days to cold storage",
    )
    p.add_argument("--older-than-days", type=int, help="override maintenance.bronze_hot_days")
    _lake_job_options(p)
    p.set_defaults(func=_lake_job("lifecycle", lambda a: {"older_than_days": a.older_than_days}))


def _add_replay_quarantine(jobs: argparse._SubParsersAction) -> None:
    p = jobs.add_parser(
        "replay-quarantine",
        help="run quarantined records through silver again (after a fix): move those that pass",
    )
    p.add_argument("--since", help="only records quarantined at or after this ISO timestamp")
    _lake_job_options(p)
    p.set_defaults(func=_lake_job("replay-quarantine", lambda a: {"since": a.since}))


def _with_lake(job: str, work: Callable[[Any, Any, Any], str]) -> int:
    """Print ``work(spark, settings, secrets)`` run in a Spark session of its own (a job that
    needs the lake to itself: the streaming application must be stopped)."""
    from lakehouse.settings import get_settings, load_secrets
    from lakehouse.spark import build_spark_session

    settings = get_settings()
    secrets = load_secrets(settings)
    spark = build_spark_session(f"lakehouse-batch-{job}", settings, secrets)
    try:
        print(work(spark, settings, secrets))
    finally:
        spark.stop()
    return 0


def _backfill(args: argparse.Namespace) -> int:
    from batch.backfill import REBUILT, backfill

    return _with_lake("backfill", lambda *lake: backfill(*lake, args.query or REBUILT))


def _add_backfill(jobs: argparse._SubParsersAction) -> None:
    p = jobs.add_parser(
        "backfill",
        help="rebuild silver, gold and the warehouse from bronze (the streaming application "
        "must be stopped)",
    )
    p.add_argument(
        "--query",
        action="append",
        choices=["silver", "gold", "warehouse"],
        help="rebuild only these queries' outputs (repeatable; default all three)",
    )
    p.set_defaults(func=_backfill)


def _migrate_bronze(_args: argparse.Namespace) -> int:
    from batch.migrate_bronze import migrate_bronze

    return _with_lake("migrate-bronze", migrate_bronze)


def _add_migrate_bronze(jobs: argparse._SubParsersAction) -> None:
    p = jobs.add_parser(
        "migrate-bronze",
        help="move a lake of the per-topic bronze layout of earlier releases to bronze/events "
        "(the streaming application must be stopped)",
    )
    p.set_defaults(func=_migrate_bronze)


def add_batch_commands(sub: argparse._SubParsersAction) -> None:
    """Register ``lakehouse batch`` and its jobs under the top-level subcommands ``sub``."""
    batch = sub.add_parser("batch", help="run a batch job over the lake and the warehouse")
    jobs = batch.add_subparsers(dest="job", required=True)
    adders: list[JobAdder] = [
        _add_maintain,
        _add_erase,
        _add_lifecycle,
        _add_replay_quarantine,
        _add_backfill,
        _add_migrate_bronze,
        _add_quality,
        _add_promote,
    ]
    for add in adders:
        add(jobs)
