"""The smoke producer: JSON events that carry a customer's CPF and a comment, masked here,
before Kafka, with the pure-Python masking functions (tokens keyed from the vault)."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from collections.abc import Callable

from lakehouse.kafka import ensure_topics
from lakehouse.registry import SMOKE_TOPIC
from lakehouse.settings import Settings
from producers.sink import KafkaSink
from security.masking import complete_cpf, make_tokeniser, mask_cpf, redact_text
from security.runtime import masking_key


def synthetic_cpf(run_id: str, seq: int) -> str:
    """A valid, deterministic CPF for event ``seq`` of a run."""
    seed = int(hashlib.sha256(f"{run_id}/{seq}".encode()).hexdigest(), 16)
    return complete_cpf(f"{seed % 10**9:09d}")


def smoke_event(
    run_id: str,
    seq: int,
    cpf: str,
    tokenise: Callable[[str | None], str | None],
    produced_at_ms: int,
) -> dict[str, object]:
    """One smoke event with its personal data already masked (pure)."""
    event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"smoke/{run_id}/{seq}"))
    comment = f"Pedido {seq} entregue. Falar com o titular do CPF {cpf} pelo (11) 91234-5678."
    return {
        "id": event_id,
        "run_id": run_id,
        "seq": seq,
        "produced_at": produced_at_ms,
        "customer_cpf_token": tokenise(cpf),
        "customer_cpf_masked": mask_cpf(cpf),
        "comment": redact_text(comment),
    }


def produce_smoke_events(
    settings: Settings, count: int, run_id: str, *, cpf: str | None = None, flush_s: float = 60
) -> int:
    """Produce ``count`` events keyed by id (every event with ``cpf`` when given, else a
    synthetic one each); returns the number acknowledged."""
    ensure_topics(settings, [SMOKE_TOPIC])
    version, key = masking_key(settings)
    tokenise = make_tokeniser(key, version, "cpf")
    sink = KafkaSink(settings, client_id="lakehouse-smoke")
    for seq in range(count):
        event = smoke_event(
            run_id, seq, cpf or synthetic_cpf(run_id, seq), tokenise, int(time.time() * 1000)
        )
        sink.send(SMOKE_TOPIC.name, str(event["id"]), json.dumps(event).encode())
    return sink.close(flush_s).total_acked
