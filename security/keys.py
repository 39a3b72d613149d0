"""The vault's master key: from an environment variable, a key file outside the repository, or
a passphrase stretched with scrypt; and the sub-keys derived from it with HKDF.

Key hierarchy::

    master key (32 bytes; env LAKEHOUSE_MASTER_KEY, key file, or scrypt(passphrase, salt))
      +- HKDF "wrap"  -> AES-256-GCM key that wraps the versioned data keys
      +- HKDF "mac"   -> HMAC-SHA256 key over the whole vault file
      +- HKDF "check" -> key check value: tells a wrong master key from a modified file
    data key v1, v2, ... (random 32 bytes, wrapped) -> AES-256-GCM per secret
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from security.errors import VaultError

KEY_BYTES = 32
ENV_MASTER_KEY = "LAKEHOUSE_MASTER_KEY"
ENV_MASTER_KEY_FILE = "LAKEHOUSE_MASTER_KEY_FILE"
ENV_PASSPHRASE = "LAKEHOUSE_VAULT_PASSPHRASE"
# scrypt cost: 2**15 x 8 x 1 uses 32 MiB and ~0.1 s, the OWASP-recommended floor.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 1


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text.encode())


def derive_from_passphrase(passphrase: str, salt: bytes) -> bytes:
    """A 32-byte key from a passphrase with scrypt (memory-hard)."""
    kdf = Scrypt(salt=salt, length=KEY_BYTES, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P)
    return kdf.derive(passphrase.encode())


def _hkdf(master: bytes, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=f"lakehouse/{purpose}".encode()
    ).derive(master)


@dataclass(frozen=True)
class MasterKey:
    """The master key and the sub-keys derived from it. ``repr`` shows only its id."""

    material: bytes = field(repr=False)
    source: str = "memory"

    def __post_init__(self) -> None:
        if len(self.material) != KEY_BYTES:
            raise VaultError(f"the master key must be {KEY_BYTES} bytes, got {len(self.material)}")

    @property
    def wrap_key(self) -> bytes:
        return _hkdf(self.material, "wrap")

    @property
    def mac_key(self) -> bytes:
        return _hkdf(self.material, "mac")

    @property
    def check_value(self) -> str:
        """A public fingerprint that identifies the key without revealing it."""
        digest = hmac.new(_hkdf(self.material, "check"), b"key-check", hashlib.sha256)
        return digest.hexdigest()[:16]

    @classmethod
    def generate(cls) -> MasterKey:
        return cls(secrets.token_bytes(KEY_BYTES), "generated")

    def encoded(self) -> str:
        return b64e(self.material)

    @classmethod
    def decode(cls, text: str, source: str) -> MasterKey:
        try:
            material = b64d(text.strip())
        except (ValueError, TypeError) as exc:
            raise VaultError(f"the master key from {source} is not valid base64") from exc
        return cls(material, source)


def default_key_file(home: Path) -> Path:
    """Outside the repository: ``~/.config/lakehouse/master-<hash of the home path>.key``."""
    tag = hashlib.sha256(str(home.resolve()).encode()).hexdigest()[:12]
    return Path.home() / ".config" / "lakehouse" / f"master-{tag}.key"


def key_file_path(home: Path) -> Path:
    env = os.environ.get(ENV_MASTER_KEY_FILE)
    return Path(env).expanduser() if env else default_key_file(home)


def load_master_key(home: Path, salt: bytes | None) -> MasterKey:
    """The master key from, in order: ``LAKEHOUSE_MASTER_KEY``, ``LAKEHOUSE_VAULT_PASSPHRASE``
    (needs the vault's scrypt salt) or the key file. Raises VaultError naming what to set."""
    if os.environ.get(ENV_MASTER_KEY):
        return MasterKey.decode(os.environ[ENV_MASTER_KEY], ENV_MASTER_KEY)
    if os.environ.get(ENV_PASSPHRASE):
        if salt is None:
            raise VaultError("the vault has no scrypt salt: it was not created from a passphrase")
        return MasterKey(derive_from_passphrase(os.environ[ENV_PASSPHRASE], salt), ENV_PASSPHRASE)
    path = key_file_path(home)
    if path.is_file():
        return MasterKey.decode(path.read_text(), str(path))
    raise VaultError(
        f"no master key: set {ENV_MASTER_KEY} or {ENV_PASSPHRASE}, or provide the key file "
        f"{path} ({ENV_MASTER_KEY_FILE} overrides its path)"
    )


def sync_folder(folder: Path) -> None:
    """Make a folder's entries (a file created, renamed or replaced in it) durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_key(path: Path, key: MasterKey, flags: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | flags, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(key.encoded() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    sync_folder(path.parent)


def write_key_file(path: Path, key: MasterKey) -> None:
    """Write a key file readable by its owner only, durably; refuse to overwrite one."""
    _write_key(path, key, os.O_EXCL)


def staged_key_path(path: Path) -> Path:
    """Where a new master key waits, beside the key file, while a rotation re-writes the
    vault under it."""
    return path.with_name(path.name + ".new")


def stage_key_file(path: Path, key: MasterKey) -> Path:
    """Write ``key`` durably as the staged key of the key file ``path`` (replacing an older
    staged key, which opens nothing): the first step of a master key rotation."""
    staged = staged_key_path(path)
    _write_key(staged, key, os.O_TRUNC)
    return staged


def promote_staged_key(path: Path) -> None:
    """Make the staged key the key file ``path`` (atomically, durably): the last step of a
    master key rotation, once the vault is written under the staged key."""
    os.replace(staged_key_path(path), path)
    sync_folder(path.parent)
