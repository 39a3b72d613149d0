"""Logging set-up shared by the CLI and the jobs run under spark-submit."""

from __future__ import annotations

import logging

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure_logging(verbose: bool = False) -> None:
    """One line per record on stderr; quiet third-party loggers."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format=FORMAT)
    logging.getLogger("py4j").setLevel(logging.WARNING)
