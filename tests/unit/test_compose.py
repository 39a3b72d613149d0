"""docker-compose.yml offers the same services, on the same ports, as the local stack."""

from __future__ import annotations

import yaml

from lakehouse import versions
from lakehouse.settings import Settings, project_root


def test_compose_matches_the_local_stack(tmp_path) -> None:
    compose = yaml.safe_load((project_root() / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"kafka", "s3", "postgres", "grafana"}
    defaults = Settings(home=tmp_path)
    published = {name: [p.split(":")[0] for p in svc["ports"]] for name, svc in services.items()}
    assert published["kafka"] == [str(defaults.kafka.port)]
    assert published["s3"] == [str(defaults.s3.port)]
    assert published["postgres"] == [str(defaults.postgres.port)]
    assert services["kafka"]["image"] == f"apache/kafka:{versions.KAFKA_VERSION}"
    assert services["s3"]["image"] == f"versity/versitygw:{versions.VERSITYGW_VERSION}"
    assert services["postgres"]["image"] == f"postgres:{versions.POSTGRES_MAJOR}"
    for svc in services.values():  # credentials come from the environment, never the file
        for key, value in (svc.get("environment") or {}).items():
            if any(word in key for word in ("PASSWORD", "SECRET", "ACCESS_KEY")):
                assert str(value).startswith("${LAKEHOUSE_"), key
