"""Kafka from Python: admin (topics created explicitly, auto-create is off) and the producer
configuration every producer shares (idempotent, acks=all)."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

from lakehouse.errors import StackError
from lakehouse.registry import Topic, kafka_topic
from lakehouse.settings import Settings

log = logging.getLogger(__name__)


def admin_client(settings: Settings) -> AdminClient:
    return AdminClient({"bootstrap.servers": settings.kafka.bootstrap})


def _existing_topics(admin: AdminClient, settings: Settings, timeout_s: float) -> set[str]:
    try:
        return set(admin.list_topics(timeout=timeout_s).topics)
    except KafkaException as exc:
        raise StackError(f"Kafka at {settings.kafka.bootstrap} did not answer: {exc}") from exc


def topic_partitions(
    settings: Settings, topics: Iterable[str], timeout_s: float = 30
) -> dict[str, list[int]]:
    """The partitions of each of ``topics`` (full names) that exists."""
    try:
        metadata = admin_client(settings).list_topics(timeout=timeout_s)
    except KafkaException as exc:
        raise StackError(f"Kafka at {settings.kafka.bootstrap} did not answer: {exc}") from exc
    return {
        name: sorted(metadata.topics[name].partitions)
        for name in topics
        if name in metadata.topics and metadata.topics[name].error is None
    }


def producer_config(settings: Settings, **overrides: object) -> dict[str, object]:
    """Idempotent producer settings: no duplicates on retry, order kept per partition."""
    return {
        "bootstrap.servers": settings.kafka.bootstrap,
        "enable.idempotence": True,
        "acks": "all",
        "compression.type": "lz4",
        "linger.ms": 20,
        **overrides,
    }


def ensure_topics(settings: Settings, topics: Iterable[Topic], timeout_s: float = 30) -> list[str]:
    """Create the topics that do not exist yet (in the settings' namespace); returns the
    broker names created."""
    admin = admin_client(settings)
    existing = _existing_topics(admin, settings, timeout_s)
    named = {kafka_topic(settings, t.name): t for t in topics}
    wanted = {name: t for name, t in named.items() if name not in existing}
    if not wanted:
        return []
    futures = admin.create_topics(
        [NewTopic(n, num_partitions=t.partitions, replication_factor=1) for n, t in wanted.items()],
        operation_timeout=timeout_s,
    )
    for name, future in futures.items():
        try:
            future.result(timeout=timeout_s)
        except KafkaException as exc:
            if exc.args[0].name() != "TOPIC_ALREADY_EXISTS":
                raise StackError(f"could not create Kafka topic {name}: {exc}") from exc
        log.info("created topic %s", name)
    return list(wanted)


def delete_topics(settings: Settings, topics: Iterable[Topic], timeout_s: float = 30) -> list[str]:
    """Delete the topics that exist (in the settings' namespace), records and all; returns the
    broker names deleted. For throwaway namespaces (benchmarks), never the pipeline's own."""
    if not settings.namespace:
        raise ValueError("delete_topics deletes a namespace's topics, never the pipeline's own")
    admin = admin_client(settings)
    existing = _existing_topics(admin, settings, timeout_s)
    names = [n for n in (kafka_topic(settings, t.name) for t in topics) if n in existing]
    if not names:
        return []
    for name, future in admin.delete_topics(names, operation_timeout=timeout_s).items():
        try:
            future.result(timeout=timeout_s)
        except KafkaException as exc:  # listed a moment ago but gone since: deleted is fine
            if exc.args[0].name() != "UNKNOWN_TOPIC_OR_PART":
                raise StackError(f"could not delete Kafka topic {name}: {exc}") from exc
    log.info("deleted %d topics of namespace %s", len(names), settings.namespace)
    return names
