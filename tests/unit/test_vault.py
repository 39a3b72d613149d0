"""The vault: round trips, fail-closed tamper detection, rotation, audit-or-refuse."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from security.errors import VaultError, VaultTamperedError
from security.keys import MasterKey, derive_from_passphrase, load_master_key
from security.vault import Vault, read_salt

SECRETS = {
    "s3_secret_key": "wJalrXUtnFEMI/K7MDENG",
    "postgres_password": "pässwörd with spaces",
    "openweather_api_key": "0123456789abcdef0123456789abcdef",
}


@pytest.fixture
def master() -> MasterKey:
    return MasterKey.generate()


@pytest.fixture
def vault_file(tmp_path: Path, master: MasterKey) -> Path:
    vault = Vault.create(tmp_path / "secrets.vault", master)
    for name, value in SECRETS.items():
        vault.put(name, value, actor="test")
    return vault.path


def test_round_trip_and_nothing_in_clear(vault_file: Path, master: MasterKey) -> None:
    vault = Vault.open(vault_file, master)
    assert vault.names() == sorted(SECRETS)
    assert {n: vault.get(n, actor="test") for n in SECRETS} == SECRETS
    raw = vault_file.read_bytes()
    for value in SECRETS.values():
        assert value.encode() not in raw
    assert vault_file.stat().st_mode & 0o777 == 0o600
    assert "wJalr" not in repr(vault)


def test_unknown_secret_is_named(vault_file: Path, master: MasterKey) -> None:
    with pytest.raises(VaultError, match="no secret named 'nope'"):
        Vault.open(vault_file, master).get("nope", actor="test")


def test_one_thousand_single_bit_flips_are_all_rejected(
    vault_file: Path, master: MasterKey, tmp_path: Path
) -> None:
    original = vault_file.read_bytes()
    rng = random.Random(20261129)
    flipped = tmp_path / "flipped.vault"
    rejected = 0
    for _ in range(1000):
        data = bytearray(original)
        bit = rng.randrange(len(data) * 8)
        data[bit // 8] ^= 1 << (bit % 8)
        flipped.write_bytes(bytes(data))
        with pytest.raises(VaultError):
            Vault.open(flipped, master).verify()
        rejected += 1
    assert rejected == 1000


def test_truncated_file_is_rejected(vault_file: Path, master: MasterKey) -> None:
    data = vault_file.read_bytes()
    for cut in (len(data) - 1, len(data) // 2, 40, 0):
        vault_file.write_bytes(data[:cut])
        with pytest.raises(VaultTamperedError):
            Vault.open(vault_file, master)


def test_swapped_ciphertexts_fail_and_name_the_secrets(vault_file: Path, master: MasterKey) -> None:
    header, body = vault_file.read_bytes().split(b"\n", 1)
    state = json.loads(body)
    a, b = "postgres_password", "s3_secret_key"
    state["secrets"][a], state["secrets"][b] = state["secrets"][b], state["secrets"][a]
    vault_file.write_bytes(header + b"\n" + json.dumps(state, indent=1, sort_keys=True).encode())
    with pytest.raises(VaultTamperedError) as caught:
        Vault.open(vault_file, master)
    message = str(caught.value)
    assert "postgres_password" in message and "s3_secret_key" in message
    assert all(value not in message for value in SECRETS.values())


def test_wrong_master_key_fails_clearly(vault_file: Path) -> None:
    with pytest.raises(VaultTamperedError, match="does not open"):
        Vault.open(vault_file, MasterKey.generate())


def test_rotation_round_trip(vault_file: Path, master: MasterKey) -> None:
    vault = Vault.open(vault_file, master)
    old_data_key = vault._data_key(1)
    assert vault.rotate(actor="test") == 2
    reopened = Vault.open(vault_file, master)
    assert {n: reopened.get(n, actor="test") for n in SECRETS} == SECRETS
    assert reopened.key_version == 2
    with pytest.raises(VaultError, match="data key version 1 is not in the vault"):
        reopened._data_key(1)
    # The old data key opens none of the re-encrypted secrets.
    from cryptography.exceptions import InvalidTag

    from security.vault import _open, _secret_aad

    for name in SECRETS:
        sealed = reopened._state.secrets[name]
        with pytest.raises(InvalidTag):
            _open(old_data_key, sealed, _secret_aad(name, 2))  # type: ignore[arg-type]


def test_master_key_rotation_locks_out_the_old_key(vault_file: Path, master: MasterKey) -> None:
    new_master = MasterKey.generate()
    Vault.open(vault_file, master).rotate(actor="test", new_master=new_master)
    with pytest.raises(VaultTamperedError, match="does not open"):
        Vault.open(vault_file, master)
    reopened = Vault.open(vault_file, new_master)
    assert {n: reopened.get(n, actor="test") for n in SECRETS} == SECRETS


def test_no_audit_entry_no_secret(vault_file: Path, master: MasterKey) -> None:
    def broken_audit(*_entry: str) -> None:
        raise OSError("disk full")

    vault = Vault.open(vault_file, master, audit=broken_audit)
    with pytest.raises(VaultError, match=r"refusing secret.read of 's3_secret_key'.*disk full"):
        vault.get("s3_secret_key", actor="test")


def test_every_read_is_audited(vault_file: Path, master: MasterKey) -> None:
    entries: list[tuple[str, ...]] = []
    vault = Vault.open(vault_file, master, audit=lambda *e: entries.append(e))
    vault.get("postgres_password", actor="alice")
    with vault.unaudited():
        vault.get("s3_secret_key", actor="alice")
    assert entries == [("alice", "secret.read", "postgres_password", "ok")]


def test_passphrase_key_derivation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    salt = b"0123456789abcdef"
    master = MasterKey(derive_from_passphrase("correct horse battery staple", salt), "passphrase")
    vault = Vault.create(tmp_path / "v.vault", master, salt=salt)
    vault.put("k", "v", actor="test")
    assert read_salt(vault.path) == salt
    monkeypatch.delenv("LAKEHOUSE_MASTER_KEY", raising=False)
    monkeypatch.setenv("LAKEHOUSE_VAULT_PASSPHRASE", "correct horse battery staple")
    loaded = load_master_key(tmp_path, read_salt(vault.path))
    assert Vault.open(vault.path, loaded).get("k", actor="test") == "v"
    monkeypatch.setenv("LAKEHOUSE_VAULT_PASSPHRASE", "wrong passphrase")
    with pytest.raises(VaultTamperedError):
        Vault.open(vault.path, load_master_key(tmp_path, read_salt(vault.path)))


def test_missing_master_key_names_what_to_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LAKEHOUSE_MASTER_KEY", "LAKEHOUSE_VAULT_PASSPHRASE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LAKEHOUSE_MASTER_KEY_FILE", str(tmp_path / "absent.key"))
    with pytest.raises(VaultError, match=r"LAKEHOUSE_MASTER_KEY.*absent.key"):
        load_master_key(tmp_path, None)
