"""The running stack's data and logs are readable by their owner only: Kafka's log segments,
the S3 server's objects, the services' logs, the audit trail and the vault."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from lakehouse.settings import Settings

PRIVATE = ("services/kafka", "services/s3", "logs", "run", "audit", "vault")


def test_the_stack_keeps_its_data_and_logs_to_their_owner(settings: Settings) -> None:
    """Every folder is its owner's only (the S3 server writes its objects 0644 itself: its
    folders keep everyone else out); what Kafka and the logs write is 0600 too."""
    home = settings.home
    assert (home / "services" / "kafka").is_dir() and (home / "services" / "s3").is_dir()
    # os.walk skips what vanishes meanwhile (Kafka removes deleted topics' folders)
    walked = {folder: list(os.walk(home / folder)) for folder in PRIVATE}
    folders = [Path(here) for found in walked.values() for here, _dirs, _files in found]
    files = [
        Path(here) / name
        for folder in ("services/kafka", "logs", "audit", "vault")
        for here, _dirs, names in walked[folder]
        for name in names
    ]
    exposed = []
    for path in folders + files:
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:  # removed between the listing and now
            continue
        if not stat.S_ISLNK(mode) and mode & 0o077:
            exposed.append(f"{path.relative_to(home)} {stat.filemode(mode)}")
    assert exposed == []
    assert not home.stat().st_mode & 0o066  # others may at most traverse it (PostgreSQL)
