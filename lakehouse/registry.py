"""The registry of the lake's layout: Kafka topics and the S3 paths of tables and checkpoints.

Every module asks here for a name or a path; none builds one by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse.settings import Settings

LAYERS = ("bronze", "silver", "gold")


@dataclass(frozen=True)
class Topic:
    """A Kafka topic and the natural key its records are keyed by."""

    name: str
    natural_key: tuple[str, ...]
    partitions: int = 3


SMOKE_TOPIC = Topic("smoke.events", ("id",), partitions=3)


def table_path(settings: Settings, layer: str, name: str) -> str:
    """``s3a://<bucket>/<layer>/<name>`` for a Delta table of the lake."""
    if layer not in LAYERS and layer != "smoke":
        raise ValueError(f"unknown layer {layer!r}; expected one of {LAYERS}")
    return f"{settings.s3.lake_root}/{layer}/{name.replace('.', '_')}"


def checkpoint_path(settings: Settings, query_name: str) -> str:
    """``s3a://<bucket>/_checkpoints/<query>``: one checkpoint folder per streaming query."""
    return f"{settings.s3.lake_root}/_checkpoints/{query_name}"
