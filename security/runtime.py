"""The vault and the audit trail as the rest of the project uses them: where they live, how
they open, and how services get their credentials injected at start-up."""

from __future__ import annotations

import contextlib
import getpass
import logging
import os
import secrets
import socket
import string
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg

from lakehouse.settings import Settings
from security.audit import Anchor, AuditTrail
from security.errors import VaultError, VaultTamperedError
from security.keys import (
    ENV_MASTER_KEY,
    ENV_PASSPHRASE,
    MasterKey,
    b64d,
    b64e,
    derive_from_passphrase,
    key_file_path,
    load_master_key,
    promote_staged_key,
    stage_key_file,
    staged_key_path,
    write_key_file,
)
from security.masking import KIND_BOUND_FROM_VERSION
from security.vault import Vault, read_salt

log = logging.getLogger(__name__)

AUDIT_KEY_SECRET = "audit_hmac_key"
# The key of the personal-data tokens, stored as "v<version>:<base64 key>".
MASKING_KEY_SECRET = "masking_key"
_ALNUM = string.ascii_uppercase + string.digits


def stack_credential_generators() -> dict[str, Callable[[], str]]:
    """The local stack's credentials and how each is generated at first setup."""
    return {
        "s3_access_key": lambda: "LH" + "".join(secrets.choice(_ALNUM) for _ in range(18)),
        "s3_secret_key": lambda: secrets.token_urlsafe(30),
        "postgres_password": lambda: secrets.token_urlsafe(24),
        "postgres_loader_password": lambda: secrets.token_urlsafe(24),
        "postgres_reader_password": lambda: secrets.token_urlsafe(24),
        "postgres_superuser_password": lambda: secrets.token_urlsafe(24),
        MASKING_KEY_SECRET: lambda: new_masking_key(KIND_BOUND_FROM_VERSION),
    }


def new_masking_key(version: int) -> str:
    """A fresh 256-bit masking key as the vault stores it: ``"v<version>:<base64 key>"``."""
    return f"v{version}:" + b64e(secrets.token_bytes(32))


def vault_path(settings: Settings) -> Path:
    return settings.home / "vault" / "secrets.vault"


def audit_path(settings: Settings) -> Path:
    return settings.home / "audit" / "audit.log"


def actor() -> str:
    """Who is acting: ``LAKEHOUSE_ACTOR``, else user@host:program."""
    if os.environ.get("LAKEHOUSE_ACTOR"):
        return os.environ["LAKEHOUSE_ACTOR"]
    program = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return f"{getpass.getuser()}@{socket.gethostname()}:{program}"


def _trail_for(vault: Vault, settings: Settings, anchor: Anchor | None = None) -> AuditTrail:
    with vault.unaudited():
        key = vault.get(AUDIT_KEY_SECRET, actor="vault").encode()
    return AuditTrail(audit_path(settings), key, anchor=anchor)


def _attach_audit(vault: Vault, settings: Settings) -> Vault:
    vault.attach_audit(_trail_for(vault, settings).append)
    return vault


def _open_unaudited(settings: Settings) -> Vault:
    """The home's vault, opened with its master key. A rotation cut short after the vault was
    written under the new key, before that key replaced the key file, is finished here: the
    staged key that opens the vault becomes the key file."""
    path = vault_path(settings)
    master = load_master_key(settings.home, read_salt(path))
    try:
        return Vault.open(path, master)
    except VaultTamperedError:
        key_file = key_file_path(settings.home)
        staged = staged_key_path(key_file)
        if master.source != str(key_file) or not staged.is_file():
            raise
        try:
            vault = Vault.open(path, MasterKey.decode(staged.read_text(), str(staged)))
        except VaultError:
            raise VaultTamperedError(
                f"neither the key file {key_file} nor the staged key {staged} opens {path}"
            ) from None
        promote_staged_key(key_file)
        log.warning("finished an interrupted master key rotation: %s is the new key", key_file)
        return vault


def open_vault(settings: Settings) -> Vault:
    """Open and authenticate the home's vault, with audited reads."""
    return _attach_audit(_open_unaudited(settings), settings)


def audit_trail(settings: Settings, anchor: Anchor | None = None) -> AuditTrail:
    """The home's audit trail, keyed from the vault (reading that key is not itself audited)."""
    return _trail_for(_open_unaudited(settings), settings, anchor)


def rotate_vault(settings: Settings, new_master: MasterKey | None = None) -> int:
    """Rotate the vault's data key (``Vault.rotate``), and with a generated ``new_master`` its
    master key as well, so that a crash at any point leaves a vault one key on disk opens:
    the new key is staged beside the key file and synced, the vault re-written under it, then
    the staged key replaces the key file (``_open_unaudited`` finishes that last step after a
    crash). A new master key from elsewhere (an environment variable) is the operator's to
    keep. Returns the new data key version."""
    vault = open_vault(settings)
    key_file = key_file_path(settings.home)
    to_file = new_master if new_master is not None and new_master.source == "generated" else None
    if to_file is not None:
        stage_key_file(key_file, to_file)
    version = vault.rotate(actor=actor(), new_master=new_master)
    if to_file is not None:
        promote_staged_key(key_file)
        log.info("new master key in %s; the old key no longer opens the vault", key_file)
    return version


def audit_event(settings: Settings, action: str, target: str, outcome: str = "ok") -> None:
    """Record a pipeline-level event (start, stop, erasure) in the audit trail."""
    audit_trail(settings).append(actor(), action, target, outcome)


def anchor_audit(settings: Settings) -> tuple[int, str] | None:
    """Verify the trail and move its PostgreSQL anchor to the head; a warning (not an error)
    when PostgreSQL cannot be reached, since the next anchor covers these entries too."""
    from lakehouse.settings import load_secrets
    from security.anchor import PostgresAnchor

    try:
        trail = audit_trail(settings, PostgresAnchor(settings, load_secrets(settings)))
        return trail.anchor_head()
    except psycopg.OperationalError as exc:
        log.warning("audit head not anchored, PostgreSQL unreachable: %s", exc)
        return None


@contextlib.contextmanager
def audited_pipeline(settings: Settings, name: str) -> Iterator[None]:
    """Audit a pipeline's start, and its stop with the outcome (ok, or the error's type)."""
    audit_event(settings, "pipeline.start", name)
    outcome = "ok"
    try:
        yield
    except BaseException as exc:
        outcome = f"failed: {type(exc).__name__}"
        raise
    finally:
        audit_event(settings, "pipeline.stop", name, outcome)
        anchor_audit(settings)


def init_vault(settings: Settings) -> bool:
    """Create the vault if there is none; True if created. The master key comes from
    ``LAKEHOUSE_MASTER_KEY``, from ``LAKEHOUSE_VAULT_PASSPHRASE`` (scrypt), or is generated
    into a key file outside the repository."""
    path = vault_path(settings)
    if path.exists():
        return False
    salt = None
    if os.environ.get(ENV_MASTER_KEY):
        master = MasterKey.decode(os.environ[ENV_MASTER_KEY], ENV_MASTER_KEY)
    elif os.environ.get(ENV_PASSPHRASE):
        salt = secrets.token_bytes(16)
        master = MasterKey(derive_from_passphrase(os.environ[ENV_PASSPHRASE], salt), ENV_PASSPHRASE)
    else:
        key_file = key_file_path(settings.home)
        if key_file.exists():
            master = load_master_key(settings.home, None)
        else:
            master = MasterKey.generate()
            write_key_file(key_file, master)
            log.info("generated the vault's master key in %s (keep it safe)", key_file)
    vault = Vault.create(path, master, salt=salt)
    vault.put(AUDIT_KEY_SECRET, secrets.token_urlsafe(32), actor=actor())  # before any hook
    _attach_audit(vault, settings).record(actor(), "vault.init", str(path), "ok")
    log.info("created the vault %s", path)
    return True


def ensure_stack_credentials(settings: Settings) -> list[str]:
    """Generate into the vault every local-stack credential it lacks; returns names added."""
    init_vault(settings)
    vault = open_vault(settings)
    present = set(vault.names())
    added = []
    for name, generate in stack_credential_generators().items():
        if name not in present:
            vault.put(name, generate(), actor=actor())
            added.append(name)
    if added:
        log.info("generated credentials into the vault: %s", ", ".join(added))
    return added


def _parse_masking_key(value: str) -> tuple[int, bytes]:
    version, _, encoded = value.partition(":")
    return int(version.removeprefix("v")), b64d(encoded)


def masking_key(settings: Settings) -> tuple[int, bytes]:
    """The current masking key and its version, for keyed tokens of personal data."""
    value = vault_values(settings, [MASKING_KEY_SECRET]).get(MASKING_KEY_SECRET)
    if value is None:
        raise VaultError(f"no {MASKING_KEY_SECRET} in the vault: run `lakehouse setup`")
    version, key = _parse_masking_key(value)
    if version < KIND_BOUND_FROM_VERSION:
        log.warning(
            "the masking key is version %d: its tokens do not tell a CPF from a phone with the "
            "same digits; run `lakehouse vault rotate-masking-key`, then `lakehouse batch "
            "backfill` with the streaming application stopped",
            version,
        )
    return version, key


def rotate_masking_key(settings: Settings) -> int:
    """Replace the masking key by a fresh one of the next version; returns that version.
    Tokens already written keep the old version's prefix until a backfill re-tokenises them
    (the old key is gone, so they can no longer be matched to a value)."""
    vault = open_vault(settings)
    current = vault.get(MASKING_KEY_SECRET, actor=actor())
    version = max(_parse_masking_key(current)[0] + 1, KIND_BOUND_FROM_VERSION)
    vault.put(MASKING_KEY_SECRET, new_masking_key(version), actor=actor())
    return version


def vault_values(settings: Settings, names: list[str]) -> dict[str, str]:
    """Clear values of the named secrets present in the vault (each read audited)."""
    if not vault_path(settings).exists():
        return {}
    vault = open_vault(settings)
    present = set(vault.names())
    who = actor()
    return {name: vault.get(name, actor=who) for name in names if name in present}


def require_vault(settings: Settings) -> None:
    if not vault_path(settings).exists():
        raise VaultError(f"no vault at {vault_path(settings)}: run `lakehouse setup`")
