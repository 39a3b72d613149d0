"""The Kafka side of every producer: an idempotent confluent-kafka producer with delivery
callbacks that count acknowledged and failed records per topic, ``poll(0)`` as records go
out, ``flush()`` with a deadline on close, and a stop flag set by SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from confluent_kafka import KafkaError, Message, Producer

from lakehouse.errors import LakehouseError
from lakehouse.kafka import producer_config
from lakehouse.registry import kafka_topic
from lakehouse.settings import Settings

log = logging.getLogger(__name__)

OnAck = Callable[[], None]


class ProducerError(LakehouseError):
    """Records could not be delivered to Kafka."""


@dataclass
class DeliveryReport:
    """What the broker acknowledged, per topic, and what failed."""

    acked: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    unflushed: int = 0

    @property
    def total_acked(self) -> int:
        return sum(self.acked.values())

    def summary(self) -> str:
        acked = ", ".join(f"{t}={n}" for t, n in sorted(self.acked.items())) or "none"
        text = f"acknowledged {self.total_acked} ({acked})"
        if self.failed or self.unflushed:
            text += f"; failed {sum(self.failed.values())}, unflushed {self.unflushed}"
        return text


class KafkaSink:
    """Send records; count deliveries; call ``on_ack`` once a record is acknowledged."""

    def __init__(self, settings: Settings, client_id: str, **overrides: object) -> None:
        self.report = DeliveryReport()
        self._settings = settings
        self._producer = Producer(
            producer_config(settings, **{"client.id": client_id, **overrides})
        )

    def send(self, topic: str, key: str, value: bytes, on_ack: OnAck | None = None) -> None:
        def delivered(err: KafkaError | None, msg: Message) -> None:
            if err is None:
                self.report.acked[topic] += 1
                if on_ack is not None:
                    on_ack()
            else:
                self.report.failed[topic] += 1
                if len(self.report.errors) < 10:
                    self.report.errors.append(f"{topic}: {err}")

        while True:
            try:
                self._producer.produce(
                    kafka_topic(self._settings, topic),
                    key=key.encode(),
                    value=value,
                    on_delivery=delivered,
                )
                break
            except BufferError:  # local queue full: serve callbacks until there is room
                self._producer.poll(0.1)
        self._producer.poll(0)

    def poll(self, timeout_s: float = 0) -> None:
        self._producer.poll(timeout_s)

    def close(self, deadline_s: float = 60) -> DeliveryReport:
        """Flush with a deadline; raise ProducerError if anything failed or is left."""
        self.report.unflushed = self._producer.flush(deadline_s)
        if self.report.unflushed or self.report.failed:
            raise ProducerError(f"{self.report.summary()}; first errors: {self.report.errors[:3]}")
        return self.report


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or SIGINT, so loops stop reading, flush and report."""
    stop = threading.Event()

    def handler(signum: int, _frame: object) -> None:
        log.info("received %s: stopping after the current record", signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)
    return stop
