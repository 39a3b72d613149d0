"""The running stack's data and logs are readable by their owner only: Kafka's log segments,
the S3 server's objects, the services' logs, the audit trail and the vault."""

from __future__ import annotations

import stat

from lakehouse.settings import Settings

PRIVATE = ("services/kafka", "services/s3", "logs", "run", "audit", "vault")


def test_the_stack_keeps_its_data_and_logs_to_their_owner(settings: Settings) -> None:
    home = settings.home
    assert (home / "services" / "kafka").is_dir() and (home / "services" / "s3").is_dir()
    exposed = [
        f"{path.relative_to(home)} {stat.filemode(path.lstat().st_mode)}"
        for folder in PRIVATE
        for path in [home / folder, *(home / folder).rglob("*")]
        if path.exists() and not path.is_symlink() and path.lstat().st_mode & 0o077
    ]
    assert exposed == []
    assert not home.stat().st_mode & 0o066  # others may at most traverse it (PostgreSQL)
