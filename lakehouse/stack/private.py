"""The home is private to its owner: what the services store (Kafka's log segments, the S3
server's objects, PostgreSQL's data), the logs, the vault and the audit trail.

Every command runs with umask 077 (``lakehouse.cli``), so what the project and the services it
starts create is 0600 in 0700 folders. ``make_private`` brings a home created before that (or
by hand) to the same state when the stack starts. PostgreSQL may run as another OS user (as
root, the ``postgres`` user): its own folder is that user's, and the folders above it keep
only the traverse permission (x) it needs.
"""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

PRIVATE_UMASK = 0o077
# folders of the home that hold installed software, no data: left as they are
SOFTWARE = frozenset({"venv", "jars", "cache", "bin", "kafka", "build"})


def _strip(path: Path) -> bool:
    """Remove the group's and others' permissions from ``path``; True if it had any."""
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode) or not mode & 0o077:
        return False
    path.chmod(stat.S_IMODE(mode) & 0o700)
    return True


def make_private(home: Path, other_users: tuple[Path, ...] = ()) -> int:
    """Remove group and other permissions from the home and what it holds, except the trees
    in ``other_users`` (folders a service running as another user owns), whose parents keep
    the traverse permission, and the installed software (``SOFTWARE``). Returns the number of
    entries changed."""
    if not home.is_dir():
        return 0
    keep_traverse = {p for tree in other_users for p in tree.parents}
    changed = 0

    def restrict(folder: Path) -> int:
        if folder in keep_traverse:
            mode = stat.S_IMODE(folder.stat().st_mode)
            if mode & 0o066:  # readable or writable by others: keep x only
                folder.chmod(mode & 0o711)
                return 1
            return 0
        return int(_strip(folder))

    changed += restrict(home)
    for entry in home.iterdir():
        if entry.name in SOFTWARE or entry in other_users:
            continue
        if not entry.is_dir() or entry.is_symlink():
            changed += _strip(entry)
            continue
        for folder, subfolders, files in os.walk(entry):
            here = Path(folder)
            subfolders[:] = [d for d in subfolders if here / d not in other_users]
            changed += restrict(here)
            changed += sum(_strip(here / name) for name in files)
    if changed:
        log.info("made %d entries under %s private to their owner", changed, home)
    return changed
