"""What the project's child processes inherit from its environment.

The vault's master key (or passphrase) and any credential given as a ``LAKEHOUSE_<NAME>``
variable are for this process. A service (Kafka, the S3 server, PostgreSQL, which may run as
another OS user), a build tool or the Spark JVM gets none of them: services get only the
variables they need (``service_environment``), other children the environment without them
(``without_secrets``), and the Spark JVM is launched with them hidden (``secrets_hidden``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping

from lakehouse.settings import ENV_PREFIX, Secrets

# the vault's key material (security.keys and security.cli read these)
KEY_VARIABLES = frozenset(
    {"LAKEHOUSE_MASTER_KEY", "LAKEHOUSE_VAULT_PASSPHRASE", "LAKEHOUSE_NEW_MASTER_KEY"}
)
# what a service needs from this process's environment (its own settings come on top)
SERVICE_VARIABLES = frozenset(
    {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "JAVA_HOME"}
)


def secret_variables() -> frozenset[str]:
    """The names of every variable that carries a secret: the vault's key material and the
    credentials ``Secrets`` reads from the environment."""
    return KEY_VARIABLES | {f"{ENV_PREFIX}{name.upper()}" for name in Secrets.model_fields}


def without_secrets(environment: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environment`` (default: this process's) without the variables that carry secrets."""
    source = os.environ if environment is None else environment
    hidden = secret_variables()
    return {name: value for name, value in source.items() if name not in hidden}


def service_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A service's environment: the few variables of this process it needs (path, locale,
    time zone, Java) and ``extra``, its own settings and credentials."""
    kept = {
        name: value
        for name, value in os.environ.items()
        if name in SERVICE_VARIABLES or name.startswith("LC_")
    }
    return {**kept, **(extra or {})}


@contextlib.contextmanager
def secrets_hidden() -> Iterator[None]:
    """The secret-carrying variables removed from this process's environment for the block
    (e.g. while pyspark launches the JVM, which copies it), and put back after."""
    removed = {name: os.environ.pop(name) for name in secret_variables() if name in os.environ}
    try:
        yield
    finally:
        os.environ.update(removed)
