"""``bench/RESULTS.md`` from the figures ``bench.suite`` collected (the JSON beside it)."""

from __future__ import annotations

import statistics
from typing import Any


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _stage_median(e2e: dict[str, Any], query: str) -> float | None:
    values = [r["stages"][query]["rows_per_s"] for r in e2e["runs"] if query in r["stages"]]
    values = [v for v in values if v]
    return statistics.median(values) if values else None


def _met(ok: bool) -> str:
    return "met" if ok else "not met"


INGEST = "ingest query: Kafka -> bronze, silver and the warehouse"
PARTS = {
    "read": "read the batch from Kafka (kept in memory)",
    "typing": "parse, type, check and mask every entity; count good and bad rows",
    "warehouse": "the warehouse's rows as Arrow, COPY and upserts in PostgreSQL",
    "writes": "the Delta commits: bronze append, silver MERGEs, quarantine",
}


def _ingest_parts(first: dict[str, Any]) -> list[str]:
    """Where the ingest query's time went, in the run of median end-to-end time."""
    runs = sorted(first["runs"], key=lambda r: r["e2e_s"])
    parts = runs[len(runs) // 2].get("ingest_parts_s")
    if not parts or not parts.get("batches"):
        return []
    lines = [
        "",
        "## Where the ingest query's time goes",
        "",
        f"Its {int(parts['batches'])} micro-batches in the {first['events']:,}-event run of "
        f"median time (of an even number of runs, the slower middle one) "
        f"({int(parts['records']):,} records, {parts['seconds']:.1f} s in all), summed from "
        "the line the query logs per batch.",
        "",
        "| part | seconds | share |",
        "|---|---:|---:|",
    ]
    for name, what in PARTS.items():
        if name in parts:
            share = parts[name] / parts["seconds"] if parts["seconds"] else 0
            lines.append(f"| {what} | {parts[name]:.1f} | {share:.0%} |")
    return lines


def render(figures: dict[str, Any]) -> str:
    """The results as Markdown."""
    m = figures["machine"]
    targets = figures["targets"]
    lines = [
        "# Benchmark results",
        "",
        f"Written by `bench/run` on {m['date']}: {m['cpu']}, {m['cores']} cores, "
        f"{m['memory_gib']} GiB RAM, PostgreSQL {m['postgres']}, Python {m['python']}; the "
        "stack (Kafka, versitygw, PostgreSQL) and the benchmark on the same machine. Each figure "
        f"is the median of {figures['args']['runs']} run(s); every raw figure is in "
        "`results.json`. Took "
        f"{figures['bench_s'] / 60:.0f} min.",
        "",
        "## End to end",
        "",
        "From the first record the producer (`lakehouse produce olist`, its own process) sends "
        "to the last order, item and payment in the PostgreSQL warehouse, with the streaming "
        f"application already running as a service (`{figures['args']['trigger']}`).",
        "",
        "| events | orders | seconds | events/s | producer alone, events/s | target | |",
        "|---:|---:|---:|---:|---:|---|---|",
    ]
    for scale, e2e in figures["e2e"].items():
        produce = statistics.median(
            r["produce_events_per_s"] for r in e2e["runs"] if r["produce_events_per_s"]
        )
        target = (
            f"<= {targets['e2e_s']:.0f} s (aim {targets.get('e2e_aim_s', 60):.0f} s)"
            if scale == next(iter(figures["e2e"]))
            else ""
        )
        verdict = _met(e2e["median_e2e_s"] <= targets["e2e_s"]) if target else ""
        lines.append(
            f"| {e2e['events']:,} | {e2e['orders']:,} | {e2e['median_e2e_s']:.1f} | "
            f"{e2e['median_events_per_s']:,.0f} | {produce:,.0f} | {target} | {verdict} |"
        )
    base = figures["baselines"]
    first = next(iter(figures["e2e"].values()))
    sink = figures["sink"]
    rate = base["spark_rate_to_delta"]["per_s"]
    rows = [
        ("producer: Olist CSV replay (parse, envelope, send)", statistics.median(
            r["produce_events_per_s"] for r in first["runs"] if r["produce_events_per_s"]),
         "bare confluent-kafka loop, pre-serialised", base["kafka_bare_loop"]["per_s"]),
        (INGEST, _stage_median(first, "ingest"), "Spark Kafka -> one Delta table, nothing else",
         base.get("spark_kafka_to_delta", {}).get("per_s")),
        (INGEST, _stage_median(first, "ingest"), "Spark rate-micro-batch -> Delta append", rate),
        (INGEST, _stage_median(first, "ingest"), "pyarrow Parquet write to the S3 server",
         base["parquet_to_s3"]["per_s"]),
        ("gold query: recompute touched days, MERGE", _stage_median(first, "gold"),
         "Spark rate-micro-batch -> Delta append", rate),
        ("warehouse load alone (load_rows, one batch)", sink["rows_per_s"]["insert"],
         "COPY into a plain PostgreSQL table", sink["rows_per_s"]["copy"]),
    ]  # fmt: skip
    lines += [
        "",
        "## Each stage beside its raw baseline",
        "",
        f"Stages: rows each streaming query read per second of its micro-batches during the "
        f"{first['events']:,}-event runs (`ops.stream_progress`); the producer's records/s in "
        f"the same runs. Baselines: measured on {base['records']:,} records of the same shape "
        "after the end-to-end runs; the warehouse sink on "
        f"{sink['rows']:,} change rows (`bench/warehouse_bench.py`).",
        "",
        "| stage | rows/s | raw baseline | baseline rows/s | stage / baseline |",
        "|---|---:|---|---:|---:|",
    ]
    for stage, value, baseline, baseline_value in rows:
        ratio = f"{value / baseline_value:.3g}" if value and baseline_value else "-"
        lines.append(
            f"| {stage} | {_rate(value)} | {baseline} | {_rate(baseline_value)} | {ratio} |"
        )
    lines += _ingest_parts(first)
    fresh = figures.get("freshness", {})
    lines += ["", "## Freshness", ""]
    if "error" in fresh or not fresh.get("freshness_s"):
        lines.append(f"Not measured: {fresh.get('error', 'no order was seen')}.")
    else:
        f = fresh["freshness_s"]
        lines += [
            f"{fresh['orders_sent']:,} orders ({fresh['events_sent']:,} events) sent at "
            f"{fresh['events_per_s']:,.0f} events/s for {fresh['send_s']:.0f} s, each order's "
            "time from its hand-over to the producer until a poll of `dw.fct_order` (every "
            f"{fresh['poll_resolution_s'] * 1000:.0f} ms) saw it; {fresh['orders_seen']:,} seen.",
            "",
            "| p50 | p95 | p99 | max | target p95 | |",
            "|---:|---:|---:|---:|---|---|",
            f"| {f['p50']:.1f} s | {f['p95']:.1f} s | {f['p99']:.1f} s | {f['max']:.1f} s | "
            f"<= {targets['p95_s']:.0f} s (aim {targets.get('p95_aim_s', 5):.0f} s) | "
            f"{_met(f['p95'] <= targets['p95_s'])} |",
        ]
    lines += [
        "",
        "## Peak memory per process",
        "",
        "Proportional set size (shared pages counted once), sampled every 0.5 s during the "
        "end-to-end runs; the highest over all runs of each scale.",
        "",
        "| process | " + " | ".join(f"{int(s):,} events" for s in figures["e2e"]) + " |",
        "|---|" + "---:|" * len(figures["e2e"]),
    ]
    names = list(first["runs"][0]["peak_pss_mib"])
    for name in names:
        cells = [
            f"{max(r['peak_pss_mib'].get(name, 0) for r in e2e['runs']):,.0f} MiB"
            for e2e in figures["e2e"].values()
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    return "\n".join(lines)
