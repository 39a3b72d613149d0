"""Guards of the Kafka admin helpers that need no broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse.kafka import delete_topics
from lakehouse.registry import all_topics
from lakehouse.settings import Settings


def test_delete_topics_refuses_the_pipelines_own_topics(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="never the pipeline's own"):
        delete_topics(Settings(home=tmp_path, namespace=""), all_topics())
