"""Running external commands with a clear error when they fail."""

from __future__ import annotations

import logging
import pwd
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from lakehouse.environment import without_secrets
from lakehouse.errors import SetupError
from lakehouse.stack.private import PRIVATE_UMASK

log = logging.getLogger(__name__)


def user_switch(user: str | None) -> dict[str, Any]:
    """``subprocess`` arguments that run a child as ``user`` with that user's own group and no
    supplementary groups (switching only the uid would keep root's groups)."""
    if user is None:
        return {}
    return {"user": user, "group": pwd.getpwnam(user).pw_gid, "extra_groups": []}


def which(program: str, hint: str) -> str:
    """Absolute path of ``program`` on PATH, or a SetupError that says how to get it."""
    found = shutil.which(program)
    if not found:
        raise SetupError(f"`{program}` is not on PATH: {hint}")
    return found


def run(
    argv: Sequence[str | Path],
    *,
    what: str,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    log_file: Path | None = None,
    user: str | None = None,
) -> str:
    """Run ``argv`` to completion and return its output; on failure raise a SetupError that
    names ``what`` and shows the last lines of the output (also kept in ``log_file``)."""
    full_env = {**without_secrets(), **(env or {})}
    log.debug("running %s", " ".join(map(str, argv)))
    proc = subprocess.run(
        [str(a) for a in argv],
        umask=PRIVATE_UMASK,  # what it writes (a service's storage, a build) is private
        env=full_env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
        **user_switch(user),
    )
    if log_file is not None:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.write_text(proc.stdout)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-25:])
        where = f" (full output: {log_file})" if log_file else ""
        raise SetupError(f"{what} failed with exit code {proc.returncode}{where}:\n{tail}")
    return proc.stdout
