"""The KRaft cluster id handed to Kafka's storage tool."""

from __future__ import annotations

import base64

from lakehouse.stack.services import kafka_cluster_id


def test_an_id_starting_with_a_dash_is_drawn_again() -> None:
    dash_first = bytes([0xF8]) + bytes(15)  # URL-safe base64 of 0xF8... starts with "-"
    assert base64.urlsafe_b64encode(dash_first).decode().startswith("-")
    cluster_id = kafka_cluster_id(dash_first)
    assert not cluster_id.startswith("-")
    assert len(cluster_id) == 22


def test_ids_are_22_url_safe_characters_and_differ() -> None:
    ids = {kafka_cluster_id() for _ in range(2000)}
    assert len(ids) == 2000
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)
    assert all(
        set(i) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        for i in ids
    )
