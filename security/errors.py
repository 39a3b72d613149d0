"""Errors of the security package. Messages name secrets and files, never secret values."""

from __future__ import annotations

from lakehouse.errors import LakehouseError


class SecurityError(LakehouseError):
    """Base of the security package's errors."""


class VaultError(SecurityError):
    """The vault cannot be used (missing file, missing master key, unknown secret)."""


class VaultTamperedError(VaultError):
    """The vault file fails authentication: it was modified, truncated or the key is wrong."""


class AuditError(SecurityError):
    """The audit trail cannot be written or fails verification."""
