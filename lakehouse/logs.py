"""Logging set-up shared by the CLI and the jobs run under spark-submit, with a filter that
redacts every secret value the process has loaded, whatever logger the record comes from."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
REDACTED = "**********"
_secret_values: set[str] = set()


def register_secret(value: str) -> None:
    """Redact ``value`` from every log record from now on (values under 6 chars are ignored:
    too likely to hit ordinary words)."""
    if value and len(value) >= 6:
        _secret_values.add(value)


class RedactSecrets(logging.Filter):
    """Replaces registered secret values in a record's message and arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _secret_values:
            return True
        message = record.getMessage()
        redacted = message
        for value in _secret_values:
            redacted = redacted.replace(value, REDACTED)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def configure_logging(verbose: bool = False) -> None:
    """One line per record on stderr, secrets redacted; quiet third-party loggers."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=FORMAT)
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactSecrets) for f in handler.filters):
            handler.addFilter(RedactSecrets())
    logging.getLogger("py4j").setLevel(logging.WARNING)
