"""The secrets vault: one file, every secret encrypted with AES-256-GCM under a versioned data
key, the data keys wrapped by the master key, and the whole file authenticated with HMAC.

File layout (text)::

    LAKEHOUSE-VAULT 1 <key check value> <HMAC-SHA256 of the body, hex>
    {"salt": ..., "data_keys": {"1": {...}}, "current": 1, "secrets": {"name": {...}}}

Every byte is covered: the header's MAC covers the body, and the body cannot be rebuilt
without the master key. Each secret's ciphertext is bound to its name and key version as
associated data, so a ciphertext moved to another name fails to decrypt. Reading a secret
writes an audit entry first; when the entry cannot be written the secret is not served.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import os
import secrets as random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from security.errors import VaultError, VaultTamperedError
from security.keys import KEY_BYTES, MasterKey, b64d, b64e, sync_folder

log = logging.getLogger(__name__)

MAGIC = "LAKEHOUSE-VAULT"
FORMAT_VERSION = "1"
NONCE_BYTES = 12

# (actor, action, target, outcome) -> None; raises when the entry cannot be written.
AuditHook = Callable[[str, str, str, str], None]


def _secret_aad(name: str, version: int) -> bytes:
    return f"lakehouse-vault/secret/{name}/v{version}".encode()


def _key_aad(version: int) -> bytes:
    return f"lakehouse-vault/data-key/v{version}".encode()


def _seal(key: bytes, plaintext: bytes, aad: bytes) -> dict[str, str]:
    nonce = random.token_bytes(NONCE_BYTES)
    return {"nonce": b64e(nonce), "ciphertext": b64e(AESGCM(key).encrypt(nonce, plaintext, aad))}


def _open(key: bytes, sealed: dict[str, str], aad: bytes) -> bytes:
    return AESGCM(key).decrypt(b64d(sealed["nonce"]), b64d(sealed["ciphertext"]), aad)


@dataclass
class VaultState:
    """The decoded body of a vault file (ciphertexts only)."""

    data_keys: dict[int, dict[str, str]] = field(default_factory=dict)
    current: int = 0
    secrets: dict[str, dict[str, object]] = field(default_factory=dict)
    salt: str | None = None

    def to_body(self) -> bytes:
        body = {
            "salt": self.salt,
            "current": self.current,
            "data_keys": {str(v): k for v, k in sorted(self.data_keys.items())},
            "secrets": dict(sorted(self.secrets.items())),
        }
        return json.dumps(body, indent=1, sort_keys=True).encode()

    @classmethod
    def from_body(cls, body: bytes) -> VaultState:
        raw = json.loads(body)
        return cls(
            data_keys={int(v): k for v, k in raw["data_keys"].items()},
            current=int(raw["current"]),
            secrets=raw["secrets"],
            salt=raw["salt"],
        )


def read_salt(path: Path) -> bytes | None:
    """The scrypt salt stored in a vault file (public), or None; never authenticates."""
    try:
        _header, body = path.read_bytes().split(b"\n", 1)
        salt = json.loads(body).get("salt")
    except (OSError, ValueError, AttributeError):
        return None
    return b64d(salt) if salt else None


class Vault:
    """An open vault. Construct with ``Vault.create`` or ``Vault.open``."""

    def __init__(
        self, path: Path, master: MasterKey, state: VaultState, audit: AuditHook | None
    ) -> None:
        self.path = path
        self._master = master
        self._state = state
        self._audit = audit

    def __repr__(self) -> str:
        return f"Vault(path={str(self.path)!r}, secrets={len(self._state.secrets)})"

    # -- opening and saving -------------------------------------------------------------
    @classmethod
    def create(
        cls,
        path: Path,
        master: MasterKey,
        *,
        salt: bytes | None = None,
        audit: AuditHook | None = None,
    ) -> Vault:
        """A new, empty vault with data key version 1. Refuses to overwrite a vault."""
        if path.exists():
            raise VaultError(f"a vault already exists at {path}")
        vault = cls(path, master, VaultState(salt=b64e(salt) if salt else None), audit)
        vault._add_data_key()
        vault._save()
        return vault

    @classmethod
    def open(cls, path: Path, master: MasterKey, *, audit: AuditHook | None = None) -> Vault:
        """Open and authenticate a vault file; VaultTamperedError if any byte changed."""
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise VaultError(f"no vault at {path}: run `lakehouse vault init`") from exc
        header, sep, body = data.partition(b"\n")
        fields = header.split(b" ")
        if (
            not sep
            or len(fields) != 4
            or fields[0] != MAGIC.encode()
            or fields[1] != FORMAT_VERSION.encode()
        ):
            raise VaultTamperedError(f"{path} is not a vault file of format {FORMAT_VERSION}")
        _magic, _format, check, mac = fields
        if not hmac.compare_digest(check, master.check_value.encode()):
            raise VaultTamperedError(
                f"the master key from {master.source} does not open {path} (wrong key, or the "
                "key check value in the header was modified)"
            )
        expected = hmac.new(master.mac_key, body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(mac, expected.encode()):
            suspects = cls._undecryptable(body, master)
            named = f"; secrets that fail to decrypt: {', '.join(suspects)}" if suspects else ""
            raise VaultTamperedError(
                f"{path} fails authentication: it was modified or truncated{named}"
            )
        return cls(path, master, VaultState.from_body(body), audit)

    @staticmethod
    def _undecryptable(body: bytes, master: MasterKey) -> list[str]:
        """Best-effort diagnosis of a tampered file: the names whose ciphertext fails."""
        try:
            state = VaultState.from_body(body)
        except (ValueError, KeyError, TypeError):
            return []
        bad = []
        for name, sealed in state.secrets.items():
            try:
                version = int(sealed["key_version"])  # type: ignore[call-overload]
                key = _open(master.wrap_key, state.data_keys[version], _key_aad(version))
                _open(key, sealed, _secret_aad(name, version))  # type: ignore[arg-type]
            except (InvalidTag, KeyError, ValueError, TypeError):
                bad.append(name)
        return bad

    def _save(self) -> None:
        body = self._state.to_body()
        mac = hmac.new(self._master.mac_key, body, hashlib.sha256).hexdigest()
        header = f"{MAGIC} {FORMAT_VERSION} {self._master.check_value} {mac}\n".encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(header + body)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)
        sync_folder(self.path.parent)  # the replacement itself survives a crash

    # -- data keys ----------------------------------------------------------------------
    def _add_data_key(self, version: int | None = None) -> int:
        version = version or max(self._state.data_keys, default=0) + 1
        key = random.token_bytes(KEY_BYTES)
        self._state.data_keys[version] = _seal(self._master.wrap_key, key, _key_aad(version))
        self._state.current = version
        return version

    def _data_key(self, version: int) -> bytes:
        try:
            wrapped = self._state.data_keys[version]
        except KeyError as exc:
            raise VaultError(f"data key version {version} is not in the vault") from exc
        return _open(self._master.wrap_key, wrapped, _key_aad(version))

    @property
    def key_version(self) -> int:
        return self._state.current

    # -- secrets ------------------------------------------------------------------------
    def names(self) -> list[str]:
        return sorted(self._state.secrets)

    def put(self, name: str, value: str, *, actor: str) -> None:
        """Store (or replace) a secret under the current data key."""
        if not name or any(c.isspace() for c in name):
            raise VaultError(f"invalid secret name {name!r}")
        version = self._state.current
        sealed: dict[str, object] = dict(
            _seal(self._data_key(version), value.encode(), _secret_aad(name, version))
        )
        sealed["key_version"] = version
        self._state.secrets[name] = sealed
        self._save()
        self._record(actor, "secret.write", name, "ok")

    def get(self, name: str, *, actor: str) -> str:
        """The clear value of ``name``. The read is audited first; no audit, no secret."""
        sealed = self._state.secrets.get(name)
        if sealed is None:
            raise VaultError(f"no secret named {name!r} in {self.path}")
        self._record(actor, "secret.read", name, "ok")
        return self._decrypt(name, sealed)

    def _decrypt(self, name: str, sealed: dict[str, object]) -> str:
        version = int(sealed["key_version"])  # type: ignore[call-overload]
        try:
            plain = _open(self._data_key(version), sealed, _secret_aad(name, version))  # type: ignore[arg-type]
        except (InvalidTag, ValueError) as exc:
            raise VaultTamperedError(f"secret {name!r} fails to decrypt") from exc
        return plain.decode()

    def attach_audit(self, hook: AuditHook) -> None:
        """From now on, every read, write and rotation is first written through ``hook``."""
        self._audit = hook

    @contextlib.contextmanager
    def unaudited(self) -> Iterator[Vault]:
        """Reads without audit entries: only for the audit trail's own key."""
        hook, self._audit = self._audit, None
        try:
            yield self
        finally:
            self._audit = hook

    def record(self, actor: str, action: str, target: str, outcome: str) -> None:
        """Write an audit entry through the vault's hook (e.g. for vault-level events)."""
        self._record(actor, action, target, outcome)

    def _record(self, actor: str, action: str, target: str, outcome: str) -> None:
        if self._audit is None:
            return
        try:
            self._audit(actor, action, target, outcome)
        except Exception as exc:
            raise VaultError(
                f"refusing {action} of {target!r}: the audit entry could not be written ({exc})"
            ) from exc

    def verify(self) -> int:
        """Decrypt every secret (values discarded); returns how many were checked."""
        for name, sealed in self._state.secrets.items():
            self._decrypt(name, sealed)
        return len(self._state.secrets)

    # -- rotation -----------------------------------------------------------------------
    def rotate(self, *, actor: str, new_master: MasterKey | None = None) -> int:
        """New data key version; every secret re-encrypted under it; older data keys dropped.
        With ``new_master`` the data key is wrapped, and the file authenticated, by the new
        master key, so the old master key no longer opens the file. Returns the new version.
        The rotation is audited first: when the entry cannot be written, nothing changes."""
        plain = {n: self._decrypt(n, s) for n, s in self._state.secrets.items()}
        self._record(actor, "vault.rotate", f"data key v{self._state.current + 1}", "ok")
        old_master = self._master
        if new_master is not None:
            self._master = new_master
        try:
            next_version = self._state.current + 1
            self._state.data_keys = {}  # older data keys are dropped with this write
            version = self._add_data_key(next_version)
            key = self._data_key(version)
            for name, value in plain.items():
                sealed: dict[str, object] = dict(
                    _seal(key, value.encode(), _secret_aad(name, version))
                )
                sealed["key_version"] = version
                self._state.secrets[name] = sealed
            self._save()
        except BaseException:
            self._master = old_master
            raise
        finally:
            plain.clear()
        return version
