"""The ``lakehouse`` command line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from lakehouse import __version__
from lakehouse.errors import LakehouseError
from lakehouse.logs import configure_logging
from lakehouse.settings import Settings, get_settings, load_secrets
from lakehouse.stack.private import PRIVATE_UMASK

log = logging.getLogger(__name__)


def _human_bytes(count: int) -> str:
    size = float(count)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{count} B"


def cmd_setup(args: argparse.Namespace) -> int:
    from lakehouse.install.setup import packages_option, run_setup

    if args.print_packages:
        print(packages_option())
        return 0
    run_setup(get_settings(), update_lock=args.update_lock)
    return 0


def cmd_stack(args: argparse.Namespace) -> int:
    from lakehouse.stack import control

    settings = get_settings()
    if args.action == "up":
        from security.runtime import anchor_audit

        started = control.up(settings)
        print(f"started: {', '.join(started)}" if started else "stack already up")
        anchor_audit(settings)
    elif args.action == "down":
        stopped = control.down(settings)
        print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    rows = control.status(settings)
    print(f"{'service':<10} {'state':<9} {'pid':>7}  {'data':>10}  address")
    for row in rows:
        pid = str(row.pid) if row.pid else "-"
        size = _human_bytes(row.data_bytes)
        print(f"{row.name:<10} {row.state:<9} {pid:>7}  {size:>10}  {row.address}")
    print_producer_health(settings)
    return 0


def print_producer_health(settings: Settings) -> None:
    """The last run of each polling producer, from its health file (nothing if none ran)."""
    from producers.daemon import read_health

    for job in ("bcb", "weather"):
        health = read_health(settings, job)
        if health:
            counts = ", ".join(f"{k}={v}" for k, v in (health.get("counts") or {}).items())
            print(
                f"producer {job}: last run {health['finished_at']} {health['outcome']}"
                f" ({counts}); last success {health.get('last_success_at') or 'never'}"
            )


def cmd_cluster(args: argparse.Namespace) -> int:
    from lakehouse.stack import spark_cluster

    settings = get_settings()
    if args.action == "up":
        started = spark_cluster.up(settings)
        print(f"started: {', '.join(started)}" if started else "cluster already up")
    elif args.action == "down":
        stopped = spark_cluster.down(settings)
        print(f"stopped: {', '.join(stopped)}" if stopped else "nothing was running")
    print(f"{'daemon':<13} {'state':<9} {'pid':>7}  {'web UI':<22} address")
    for row in spark_cluster.status(settings):
        pid = str(row.pid) if row.pid else "-"
        print(f"{row.name:<13} {row.state:<9} {pid:>7}  {row.web_ui:<22} {row.address}")
    state = spark_cluster.master_state(settings)
    if state is not None:
        workers = spark_cluster.alive_workers(state)
        print(
            f"master {state.get('status')}: {len(workers)} worker(s) alive, "
            f"{state.get('coresused', 0)}/{state.get('cores', 0)} cores used; applications: "
            f"{len(state.get('activeapps', []))} running, "
            f"{len(state.get('completedapps', []))} completed"
        )
        print(f"submit with: lakehouse stream --master {settings.spark_cluster.master_url}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from lakehouse.demo import run_demo

    return run_demo(get_settings(), orders=args.orders, master=args.master)


def submit_stream(master: str, trigger: Sequence[str]) -> int:
    """Replace this process with ``spark-submit --master <master> ...`` of ``streaming.app``."""
    import os

    from lakehouse.settings import project_root
    from lakehouse.spark import submit_command

    settings = get_settings()
    argv, env = submit_command(settings, "streaming.app", trigger, master)
    log.info("submitting the streaming application to %s", master)
    sys.stdout.flush()
    sys.stderr.flush()
    os.chdir(project_root())  # spark-defaults.conf names the jar folder by a relative path
    os.execve(argv[0], argv, {**os.environ, **env})
    return 1  # not reached


def cmd_stream(args: argparse.Namespace) -> int:
    trigger = ["--trigger", args.trigger] if args.trigger else []
    if args.supervise:
        from streaming.supervisor import supervise

        master = ["--master", args.master] if args.master else []
        verbose = ["-v"] if args.verbose else []
        return supervise(get_settings(), [*verbose, "stream", *master, *trigger])
    if args.master:
        return submit_stream(args.master, trigger)
    from streaming.app import main as stream_main

    return stream_main(trigger)


def cmd_schedule(args: argparse.Namespace) -> int:
    from batch.scheduler import run_schedule

    only = [name.strip() for name in (args.only or "").split(",") if name.strip()]
    return run_schedule(get_settings(), only=only, list_only=args.list)


def cmd_migrate(args: argparse.Namespace) -> int:
    from lakehouse.postgres import ensure_database

    settings = get_settings()
    ensure_database(settings, load_secrets(settings))
    print(f"database {settings.warehouse_database}: roles present, migrations applied")
    return 0


def cmd_query(args: argparse.Namespace) -> int:
    import time

    from batch.query import QueryError, answer, history, parse_as_of, render

    settings = get_settings()
    secrets = load_secrets(settings)
    began = time.monotonic()
    if args.history:
        table, engine = history(settings, secrets, args.history, args.limit), "deltalake"
    elif args.sql:
        table, engine = answer(
            args.sql, settings, secrets, engine=args.engine, as_of=parse_as_of(args.as_of)
        )
    else:
        raise QueryError("give a query, or --history <layer.table>")
    print(render(table, args.format, args.limit))
    if args.format == "table":
        print(f"({engine}, {time.monotonic() - began:.2f} s)", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="lakehouse", description=__doc__)
    parser.add_argument("--version", action="version", version=f"lakehouse {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("setup", help="install every part of the runtime into the home")
    p.add_argument("--update-lock", action="store_true", help="re-resolve jars, rewrite jars.lock")
    p.add_argument(
        "--print-packages", action="store_true", help="print a spark-submit --packages value"
    )
    p.set_defaults(func=cmd_setup)

    p = sub.add_parser("stack", help="start, stop or show the local services")
    p.add_argument("action", choices=["up", "down", "status"])
    p.set_defaults(func=cmd_stack)

    p = sub.add_parser(
        "cluster",
        help="start, stop or show a Spark standalone master and one worker on this machine "
        "(`stack down` stops them too)",
    )
    p.add_argument("action", choices=["up", "down", "status"])
    p.set_defaults(func=cmd_cluster)

    p = sub.add_parser(
        "migrate",
        help="create the warehouse's roles and database if missing and apply its migrations "
        "(`stack up` does it for the local PostgreSQL)",
    )
    p.set_defaults(func=cmd_migrate)

    p = sub.add_parser(
        "query",
        help="SQL over the lake's Delta tables by name (bronze.<topic>, silver.<entity>, gold.<t>)",
    )
    p.add_argument(
        "sql", nargs="?", help="e.g. \"SELECT * FROM silver.orders WHERE order_id = 'x'\""
    )
    p.add_argument(
        "--engine",
        choices=["auto", "duckdb", "spark"],
        default="auto",
        help="duckdb: no JVM (deltalake + DuckDB); spark: Spark SQL; auto: duckdb, else spark",
    )
    p.add_argument("--as-of", help="time travel: a table version or an ISO timestamp")
    p.add_argument("--history", metavar="LAYER.TABLE", help="show a table's commits instead")
    p.add_argument("--format", choices=["table", "csv", "json"], default="table")
    p.add_argument("--limit", type=int, default=100, help="rows shown (table, json)")
    p.set_defaults(func=cmd_query)

    p = sub.add_parser(
        "demo", help="the main job: the whole pipeline on the bundled sample, then a summary"
    )
    p.add_argument("--orders", type=int, help="orders in the synthetic sample (default 3000)")
    p.add_argument(
        "--master",
        help="submit the streaming application to this Spark master with spark-submit, e.g. "
        "spark://127.0.0.1:7077 (`lakehouse cluster up`); default: in-process, local[*]",
    )
    p.set_defaults(func=cmd_demo)
    p = sub.add_parser("stream", help="run the streaming application (every query, one driver)")
    p.add_argument("--trigger", help="availableNow, or processingTime=<interval> (service mode)")
    p.add_argument(
        "--master",
        help="run it with spark-submit on this master (spark://host:port, local[*]); jars, "
        "executor size and the Python interpreter are passed to suit it",
    )
    p.add_argument(
        "--supervise",
        action="store_true",
        help="run it as a child process and restart it when it fails or is killed (backoff "
        "1 s to 30 s); SIGTERM/SIGINT stop it cleanly; the driver's pid is in <home>/run",
    )
    p.set_defaults(func=cmd_stream)
    p = sub.add_parser(
        "schedule", help="run every periodic job (pollers, batch jobs) on its schedule"
    )
    p.add_argument("--only", metavar="JOB,...", help="run only these jobs (comma-separated)")
    p.add_argument("--list", action="store_true", help="print the jobs and their next runs")
    p.set_defaults(func=cmd_schedule)

    from batch.cli import add_batch_commands
    from producers.cli import add_produce_commands
    from security.cli import add_commands

    p = sub.add_parser("produce", help="push a source's records into Kafka")
    add_produce_commands(p.add_subparsers(dest="producer", required=True))
    add_batch_commands(sub)
    add_commands(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    os.umask(PRIVATE_UMASK)  # what the commands and the services they start write is private
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        return int(args.func(args) or 0)
    except LakehouseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
