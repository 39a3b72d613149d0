"""The project's error hierarchy: each expected failure is a LakehouseError with a clear message."""

from __future__ import annotations


class LakehouseError(Exception):
    """Base of every error the project raises on purpose; the CLI prints it without a traceback."""


class ConfigError(LakehouseError):
    """Settings are invalid or inconsistent."""


class MissingSecretError(ConfigError):
    """A required secret is not configured; the message names it (never a value)."""


class SetupError(LakehouseError):
    """Installing a part of the runtime failed, or what is installed does not match the pins."""


class StackError(LakehouseError):
    """A local service could not be started, checked or stopped."""


class PortInUseError(StackError):
    """A port a service needs is already taken by another process."""
