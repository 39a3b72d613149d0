"""The smoke producer masks personal data before anything reaches Kafka."""

from __future__ import annotations

import json

from producers.smoke import smoke_event, synthetic_cpf
from security.masking import is_valid_cpf, make_tokeniser, token


def test_smoke_event_carries_no_identifier_in_clear() -> None:
    key = b"unit-test-masking-key-0123456789"
    cpf = "529.982.247-25"
    event = smoke_event("run1", 7, cpf, make_tokeniser(key, 2, "cpf"), 1_700_000_000_000)
    text = json.dumps(event)
    assert "52998224725" not in text and "529.982.247-25" not in text
    assert "91234-5678" not in text
    assert event["customer_cpf_token"] == token(cpf, key, 2, "cpf")
    assert str(event["customer_cpf_token"]).startswith("v2:")
    assert event["customer_cpf_masked"] == "***.982.247-**"
    assert "[CPF]" in str(event["comment"]) and "[PHONE]" in str(event["comment"])
    again = smoke_event("run1", 7, cpf, make_tokeniser(key, 2, "cpf"), 1)
    assert again["id"] == event["id"]  # deterministic per run and sequence


def test_synthetic_cpfs_are_valid_and_deterministic() -> None:
    cpfs = [synthetic_cpf("run1", seq) for seq in range(200)]
    assert all(is_valid_cpf(c) for c in cpfs)
    assert cpfs == [synthetic_cpf("run1", seq) for seq in range(200)]
    assert len(set(cpfs)) == 200
