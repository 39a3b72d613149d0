"""``lakehouse vault …`` and ``lakehouse audit …`` commands."""

from __future__ import annotations

import argparse
import getpass
import os
import sys

from lakehouse.settings import ENV_PREFIX, get_settings
from security.errors import VaultError
from security.keys import ENV_MASTER_KEY, MasterKey, key_file_path
from security.runtime import (
    actor,
    audit_trail,
    ensure_stack_credentials,
    init_vault,
    open_vault,
    rotate_masking_key,
    rotate_vault,
    vault_path,
)

NEW_MASTER_KEY_ENV = "LAKEHOUSE_NEW_MASTER_KEY"
# What `vault env` prints: the services' credentials, for docker compose.
SERVICE_CREDENTIALS = (
    "s3_access_key",
    "s3_secret_key",
    "postgres_password",
    "postgres_loader_password",
    "postgres_reader_password",
    "postgres_superuser_password",
)


def _read_value(name: str) -> str:
    if sys.stdin.isatty():
        return getpass.getpass(f"value for {name}: ")
    value = sys.stdin.read().rstrip("\n")
    if not value:
        raise VaultError(f"no value for {name} on standard input")
    return value


def cmd_vault(args: argparse.Namespace) -> int:
    settings = get_settings()
    if args.action == "init":
        created = init_vault(settings)
        added = ensure_stack_credentials(settings)
        print(f"vault {'created' if created else 'exists'} at {vault_path(settings)}")
        print(f"generated: {', '.join(added)}" if added else "stack credentials present")
        return 0
    vault = open_vault(settings)
    if args.action == "put":
        vault.put(args.name, _read_value(args.name), actor=actor())
        print(f"stored {args.name} (data key v{vault.key_version})")
    elif args.action == "get":
        print(vault.get(args.name, actor=actor()))
    elif args.action == "list":
        for name in vault.names():
            print(name)
    elif args.action == "verify":
        count = vault.verify()
        print(f"vault intact: {count} secrets decrypt, data key v{vault.key_version}")
    elif args.action == "env":
        # For `docker compose --env-file <(lakehouse vault env) up`: never written to disk.
        who = actor()
        for name in SERVICE_CREDENTIALS:
            print(f"{ENV_PREFIX}{name.upper()}={vault.get(name, actor=who)}")
    elif args.action == "rotate-masking-key":
        version = rotate_masking_key(settings)
        print(
            f"masking key v{version} in place; stop the streaming application and run "
            "`lakehouse batch backfill` to re-tokenise silver and the warehouse"
        )
    elif args.action == "rotate":
        new_master = _new_master(settings, args.new_master_key)
        version = rotate_vault(settings, new_master)
        print(f"rotated: every secret re-encrypted under data key v{version}")
        if new_master is not None and new_master.source == "generated":
            path = key_file_path(settings.home)
            print(f"new master key written to {path}; the old key no longer opens the vault")
    return 0


def _new_master(settings: object, requested: bool) -> MasterKey | None:
    if not requested:
        return None
    if os.environ.get(NEW_MASTER_KEY_ENV):
        return MasterKey.decode(os.environ[NEW_MASTER_KEY_ENV], NEW_MASTER_KEY_ENV)
    if os.environ.get(ENV_MASTER_KEY):
        raise VaultError(
            f"the master key comes from {ENV_MASTER_KEY}: pass the new one in {NEW_MASTER_KEY_ENV}"
        )
    return MasterKey.generate()


def cmd_audit(args: argparse.Namespace) -> int:
    from lakehouse.settings import load_secrets
    from security.anchor import PostgresAnchor

    settings = get_settings()
    anchor = None if args.no_anchor else PostgresAnchor(settings, load_secrets(settings))
    trail = audit_trail(settings, anchor)
    if args.action == "verify":
        print(trail.verify().summary())
    elif args.action == "anchor":
        head = trail.anchor_head()
        print(f"anchored the head at entry {head[0]}" if head else "the trail is empty")
    return 0


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("vault", help="the encrypted secrets vault")
    p.add_argument(
        "action",
        choices=["init", "put", "get", "list", "rotate", "rotate-masking-key", "verify", "env"],
    )
    p.add_argument("name", nargs="?", help="secret name (put, get)")
    p.add_argument(
        "--new-master-key",
        action="store_true",
        help=f"rotate: also replace the master key (generated, or from {NEW_MASTER_KEY_ENV})",
    )
    p.set_defaults(func=cmd_vault)

    p = sub.add_parser("audit", help="the tamper-evident audit trail")
    p.add_argument("action", choices=["verify", "anchor"])
    p.add_argument("--no-anchor", action="store_true", help="skip the PostgreSQL anchor")
    p.set_defaults(func=cmd_audit)
