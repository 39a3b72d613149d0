"""The streaming application end to end on the real stack, in a namespace of its own: a
synthetic set sent twice, bad envelopes, IPCA/Selic and weather go through Kafka, bronze,
silver and gold. Bronze equals what was produced; silver + quarantine cover bronze with no
duplicate keys and no clear personal data; gold equals the generator's manifest and a batch
recomputation from silver; a second run changes nothing."""

from __future__ import annotations

from pathlib import Path

from chispa import assert_df_equality

from lakehouse.settings import Secrets, Settings
from streaming.app import run
from streaming.gold_job import DAILY
from tests.integration import pipeline_input as pi


def test_kafka_to_gold_exactly_once_with_quarantine_and_masking(
    spark, ns_settings: Settings, secrets: Secrets, tmp_path: Path
) -> None:
    produced = pi.produce(ns_settings, tmp_path, orders=300, seed=77)

    run(spark, ns_settings, "availableNow")

    progress = pi.stream_progress(ns_settings, secrets)
    assert set(progress) == {"bronze", "silver", "gold"}
    assert progress["bronze"] == (sum(produced.acked.values()), sum(produced.acked.values()))
    assert progress["silver"][0] > 0 and progress["gold"][1] > 0

    pi.assert_bronze_equals_produced(spark, ns_settings, produced)
    pi.assert_silver_and_quarantine_cover_bronze(spark, ns_settings)
    pi.assert_quarantine_reasons(spark, ns_settings)
    pi.assert_no_clear_personal_data(spark, ns_settings, tmp_path)
    pi.assert_gold_matches_manifest(spark, ns_settings, produced.manifest)
    pi.assert_gold_equals_recomputation(spark, ns_settings)

    counts = {n: pi.read(spark, ns_settings, "silver", n).count() for n in ("orders", "quarantine")}
    gold = pi.read(spark, ns_settings, "gold", DAILY).localCheckpoint()
    run(spark, ns_settings, "availableNow")
    assert {n: pi.read(spark, ns_settings, "silver", n).count() for n in counts} == counts
    assert_df_equality(
        pi.read(spark, ns_settings, "gold", DAILY),
        gold,
        ignore_row_order=True,
        ignore_nullable=True,
    )
