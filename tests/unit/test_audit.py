"""The audit trail: any edit, deletion, insertion, reordering or bit flip is detected and the
first bad entry named; truncation is caught by the anchor."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from security.audit import AuditTrail, entry_hash
from security.errors import AuditError

KEY = b"k" * 32


class MemoryAnchor:
    def __init__(self) -> None:
        self.head: tuple[int, str] | None = None

    def read(self) -> tuple[int, str] | None:
        return self.head

    def write(self, seq: int, digest: str) -> None:
        self.head = (seq, digest)


@pytest.fixture
def trail(tmp_path: Path) -> AuditTrail:
    trail = AuditTrail(tmp_path / "audit.log", KEY)
    for i in range(10):
        trail.append("alice@host:lakehouse", "secret.read", f"secret_{i}", "ok")
    return trail


def _lines(trail: AuditTrail) -> list[bytes]:
    return trail.path.read_bytes().splitlines(keepends=True)


def test_intact_trail_verifies(trail: AuditTrail) -> None:
    result = trail.verify()
    assert result.entries == 10
    assert result.head is not None and result.head[0] == 10
    entry = json.loads(_lines(trail)[3])
    assert entry["seq"] == 4 and entry["target"] == "secret_3"
    assert entry["prev"] == json.loads(_lines(trail)[2])["hash"]


def test_edited_entry_is_named(trail: AuditTrail) -> None:
    lines = _lines(trail)
    lines[4] = lines[4].replace(b"secret_4", b"secret_X")
    trail.path.write_bytes(b"".join(lines))
    with pytest.raises(AuditError, match=r"line 5: entry 5 was modified"):
        trail.verify()


def test_edit_with_recomputed_hash_fails_the_hmac(trail: AuditTrail) -> None:
    lines = _lines(trail)
    entry = json.loads(lines[2])
    entry["outcome"] = "denied"
    entry["hash"] = entry_hash(entry)
    lines[2] = (json.dumps(entry, sort_keys=True) + "\n").encode()
    trail.path.write_bytes(b"".join(lines))
    with pytest.raises(AuditError, match=r"line 3: entry 3 (has an invalid HMAC|does not chain)"):
        trail.verify()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda ls: ls[:3] + ls[4:], r"line 4: entry 5 where entry 4 was expected"),
        (lambda ls: [*ls[:3], ls[1], *ls[3:]], r"line 4: entry 2 where entry 4 was expected"),
        (lambda ls: [*ls[:5], ls[6], ls[5], *ls[7:]], r"line 6: entry 7 where entry 6"),
        (lambda ls: ls[1:], r"line 1: entry 2 where entry 1 was expected"),
    ],
    ids=["deletion", "insertion", "reordering", "first-deleted"],
)
def test_structural_tampering_is_named(trail: AuditTrail, change, message: str) -> None:
    trail.path.write_bytes(b"".join(change(_lines(trail))))
    with pytest.raises(AuditError, match=message):
        trail.verify()


def test_a_rewrite_with_another_key_fails(trail: AuditTrail, tmp_path: Path) -> None:
    forged = AuditTrail(tmp_path / "forged.log", b"attacker-key".ljust(32, b"!"))
    for i in range(3):
        forged.append("mallory", "secret.read", f"secret_{i}", "ok")
    trail.path.write_bytes(forged.path.read_bytes())
    with pytest.raises(AuditError, match="line 1: entry 1 has an invalid HMAC"):
        trail.verify()


def test_truncation_is_caught_by_the_anchor(trail: AuditTrail) -> None:
    trail.anchor = MemoryAnchor()
    assert trail.anchor_head() == trail.verify().head
    trail.path.write_bytes(b"".join(_lines(trail)[:7]))
    with pytest.raises(AuditError, match=r"anchored head is entry 10 but the file ends before it"):
        trail.verify()


def test_a_rewritten_history_differs_from_the_anchor(trail: AuditTrail, tmp_path: Path) -> None:
    trail.anchor = MemoryAnchor()
    trail.anchor_head()
    rewritten = AuditTrail(trail.path.with_name("rewritten.log"), KEY)
    for i in range(10):  # same key (an insider), different history
        rewritten.append("mallory", "secret.read", f"other_{i}", "ok")
    trail.path.write_bytes(rewritten.path.read_bytes())
    with pytest.raises(AuditError, match="entry 10 differs from the anchored head"):
        trail.verify()


def test_one_thousand_single_bit_flips_are_all_rejected(trail: AuditTrail) -> None:
    original = trail.path.read_bytes()
    rng = random.Random(7)
    for _ in range(1000):
        data = bytearray(original)
        bit = rng.randrange(len(data) * 8)
        data[bit // 8] ^= 1 << (bit % 8)
        trail.path.write_bytes(bytes(data))
        with pytest.raises(AuditError):
            trail.verify()


def test_appending_after_verification_keeps_the_chain(trail: AuditTrail) -> None:
    trail.append("bob", "vault.rotate", "data key v2", "ok")
    assert trail.verify().entries == 11
