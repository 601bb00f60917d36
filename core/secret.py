"""The service's secret (STOCKWARDEN_SECRET_KEY): the one check of whether it is fit to sign with, and
the private secret `stockwarden up` keeps in var/ on the embedded default.

The secret signs action links and page sessions (HMAC) and, through HKDF, keys the encryption of
Temporal payloads (core.codec). A public value lets anyone forge all three, so there is no
default: a missing, empty, known-default or short secret is refused, never signed with."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

VARIABLE = "STOCKWARDEN_SECRET_KEY"
MIN_LENGTH = 32
"""Characters; `secrets.token_urlsafe(48)` gives 64 (384 bits)."""
KNOWN_DEFAULTS = frozenset({"change-me", "change-me-too", "changeme", "change_me", "secret", "secret-key",
                            "secret_key", "stockwarden", "default", "password", "test", "dev", "development"})
"""Values shipped in this project's history and examples or guessed first; refused whatever their length."""
SECRET_FILE = "secret_key"
"""Under var_dir: the secret `up` made on the embedded default."""
HOW_TO_MAKE = 'python -c "import secrets; print(secrets.token_urlsafe(48))"'


class SecretRefused(ValueError):
    """The secret is not fit to sign with; the message says what to set and how to make one."""


def problem(secret: str) -> str | None:
    """What is wrong with `secret` (in a few words), or None if it may be used."""
    if not secret.strip():
        return "is not set"
    if secret.strip().lower() in KNOWN_DEFAULTS:
        return f"is the public default '{secret}'"
    if len(secret) < MIN_LENGTH:
        return f"is only {len(secret)} characters long (at least {MIN_LENGTH} are needed)"
    return None


def check(secret: str, variable: str = VARIABLE) -> str:
    """`secret` if it may be used, else SecretRefused with one paragraph saying what to do."""
    wrong = problem(secret)
    if wrong is None:
        return secret
    raise SecretRefused(
        f"{variable} {wrong}: it signs action links and page sessions and keys the encryption of Temporal "
        f"payloads, so anyone who knows it can act as anyone. Set {variable} to a random value of at least "
        f"{MIN_LENGTH} characters, kept secret and the same for the API, every worker and the codec server; "
        f"make one with: {HOW_TO_MAKE}")


def require(secret: str) -> str:
    """`secret` if it is not empty: the guard of every place that signs or verifies (an HMAC with an empty
    key is one anyone can compute). The full check() is the commands' job, before anything starts."""
    if not secret:
        raise SecretRefused(f"refusing to sign or verify with an empty secret: set {VARIABLE}")
    return secret


def stored(var_dir: Path) -> str:
    """The secret `up` made in var_dir, or "" if there is none."""
    try:
        return (var_dir / SECRET_FILE).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return ""


def make_stored(var_dir: Path) -> tuple[str, bool]:
    """The secret kept in var_dir, made (random, 0600: readable by its owner only) if there is none yet;
    and whether it was made now."""
    existing = stored(var_dir)
    if existing:
        return existing, False
    var_dir.mkdir(parents=True, exist_ok=True)
    path = var_dir / SECRET_FILE
    value = secrets.token_urlsafe(48)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)  # never readable by others, not even briefly
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(value + "\n")
    return value, True
