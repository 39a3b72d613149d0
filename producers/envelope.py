"""The envelope every record travels in (DESIGN.md section 3) and the dead-letter record.

``event_id`` is deterministic: a hash of the source, the entity, the natural key and the
content, so a restarted producer re-sends the same id and downstream deduplication holds.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

SCHEMA_VERSION = 1
# Below the broker's and librdkafka's default message size limits (about 1 MB): a larger
# record would fail delivery and stop the producer.
MAX_RECORD_BYTES = 900_000
# A dead letter keeps at most this much of its raw text (JSON may spend up to 6 bytes on a
# character), so a huge rejected row still fits in one Kafka record; its origin points at
# the rest.
MAX_RAW_CHARS = 100_000


def canonical_json(value: Any) -> bytes:
    """UTF-8 JSON with sorted keys and no insignificant whitespace (stable across runs).
    orjson: the envelope is built for every record, and the standard library's encoder was
    the replay's largest cost."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def natural_key_of(payload: Mapping[str, Any], key_fields: Sequence[str]) -> str:
    """The Kafka key: the natural key's values joined with ``|``."""
    return "|".join(str(payload.get(field, "")) for field in key_fields)


def event_id(source: str, entity: str, natural_key: str, payload: Mapping[str, Any]) -> str:
    """128-bit hex id from source, entity, natural key and a hash of the content."""
    content = hashlib.sha256(canonical_json(payload)).hexdigest()
    digest = hashlib.sha256(f"{source}\x1f{entity}\x1f{natural_key}\x1f{content}".encode())
    return digest.hexdigest()[:32]


def now_ms() -> int:
    return int(time.time() * 1000)


def envelope(
    source: str, entity: str, key_fields: Sequence[str], payload: Mapping[str, Any]
) -> tuple[str, bytes]:
    """(Kafka key, UTF-8 JSON value) for one record."""
    key = natural_key_of(payload, key_fields)
    value = {
        "event_id": event_id(source, entity, key, payload),
        "source": source,
        "entity": entity,
        "schema_version": SCHEMA_VERSION,
        "produced_at": now_ms(),
        "payload": dict(payload),
    }
    return key, canonical_json(value)


def dead_letter(source: str, raw: str, origin: str, reason: str, entity: str = "") -> bytes:
    """A rejected record: its raw text, where it came from (file:line or URL) and why. Raw
    text longer than ``MAX_RAW_CHARS`` is cut there, marked by ``raw_chars`` (its length)."""
    record: dict[str, Any] = {
        "source": source,
        "entity": entity,
        "raw": raw[:MAX_RAW_CHARS],
        "origin": origin,
        "reason": reason,
        "rejected_at": now_ms(),
    }
    if len(raw) > MAX_RAW_CHARS:
        record["raw_chars"] = len(raw)
    return canonical_json(record)
