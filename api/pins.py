"""Signing PINs: the second component a signer gives at signing time (21 CFR 11.200(a)).

An action link or a session says who someone probably is; a signature (approved, rejected, reviewed)
also needs that person's PIN, checked here by the service before the case's Update is sent, on every
channel (link page, case page, API). The PIN is kept only as an scrypt hash (the standard library's,
with a random salt per person), compared in constant time. Wrong PINs are counted per person: after
`pin_attempts` within `pin_lock_minutes` that person cannot sign until the lock ends. Setting a PIN and
every refused signature is audited; the PIN itself is never written anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, delete, insert, select, update
from sqlmodel import col

from api.models import SigningPin
from audit.trail import append
from core.case import AUTHENTICATIONS, Sign
from core.db import as_utc
from core.settings import Settings

AUTHENTICATED_BY = AUTHENTICATIONS[0]
"""What a Sign carries to say how its signer was authenticated at signing time."""
PIN_MIN, PIN_MAX = 6, 64
_N, _R, _P = 2**14, 8, 1
"""scrypt's parameters: 16 MiB and 50-150 ms per check on the test machine (run in a thread); a guess costs the same."""
KDF = f"scrypt:n={_N},r={_R},p={_P}"


class PinProblem(ValueError):
    """A PIN that cannot be set (too short, too long); `key` names the text the pages show."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


@dataclass
class PinRefused(Exception):
    """Why a signature was refused: missing, not_set, wrong or locked (until, for locked)."""

    reason: str
    until: datetime | None = None


def _hash(pin: str, salt: bytes) -> str:
    return hashlib.scrypt(pin.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32).hex()


def check_shape(pin: str) -> None:
    if not PIN_MIN <= len(pin) <= PIN_MAX:
        raise PinProblem("pin_length", f"a signing PIN has {PIN_MIN} to {PIN_MAX} characters, not {len(pin)}")


def set_pin(engine: Engine, person: str, pin: str, *, by: str) -> None:
    """Set (or replace) `person`'s PIN; audited with who set it, never the PIN."""
    check_shape(pin)
    salt = secrets.token_bytes(16)
    values = {"salt": salt.hex(), "pin_hash": _hash(pin, salt), "kdf": KDF, "set_at": datetime.now(UTC), "failures": 0,
              "failing_since": None, "locked_until": None}
    with engine.begin() as connection:
        replaced = connection.execute(delete(SigningPin).where(col(SigningPin.person) == person)).rowcount
        connection.execute(insert(SigningPin).values(person=person, **values))
        append(connection, actor=by, action="pin.changed" if replaced else "pin.set", subject=f"person:{person}",
               after={"by": by, "kdf": KDF})


def has_pin(engine: Engine, person: str) -> bool:
    with engine.connect() as connection:
        return connection.execute(select(col(SigningPin.person)).where(col(SigningPin.person) == person)).first() is not None


def matches(engine: Engine, person: str, pin: str) -> bool:
    """Whether `pin` is `person`'s PIN, without counting a failure (for changing one's own PIN)."""
    with engine.connect() as connection:
        row = connection.execute(select(SigningPin).where(col(SigningPin.person) == person)).first()
    return row is not None and hmac.compare_digest(_hash(pin, bytes.fromhex(row.salt)), row.pin_hash)


def verify(engine: Engine, settings: Settings, person: str, pin: str, subject: str) -> None:
    """Pass if `pin` is `person`'s PIN and signing is not locked; else audit the refusal and raise
    PinRefused. A refusal while locked is not audited again (the lock was), so a locked-out guesser
    cannot grow the trail."""
    now = datetime.now(UTC)
    window = timedelta(minutes=settings.pin_lock_minutes)
    locked: datetime | None = None
    with engine.begin() as connection:  # the refusal's entry commits; the exception is raised after
        row = connection.execute(select(SigningPin).where(col(SigningPin.person) == person)).first()
        if row is not None and row.locked_until is not None and as_utc(row.locked_until) > now:
            locked, reason = as_utc(row.locked_until), "locked"
        elif not pin:
            reason = "missing"
        elif row is None:
            reason = "not_set"
        elif hmac.compare_digest(_hash(pin, bytes.fromhex(row.salt)), row.pin_hash):
            if row.failures:
                connection.execute(update(SigningPin).where(col(SigningPin.person) == person).values(
                    failures=0, failing_since=None))
            return
        else:
            reason = "wrong"
        if reason != "locked":
            append(connection, actor=person, action="sign.refused", subject=subject,
                   reason=f"pin {reason.replace('_', ' ')}")
        if reason == "wrong" and row is not None:  # "wrong" is only said of a PIN on file
            fresh = row.failing_since is None or as_utc(row.failing_since) <= now - window
            failures = 1 if fresh else row.failures + 1
            if failures >= settings.pin_attempts:
                locked, reason = now + window, "locked"
            connection.execute(update(SigningPin).where(col(SigningPin.person) == person).values(
                failures=0 if locked else failures, failing_since=None if locked else (now if fresh else row.failing_since),
                locked_until=locked))
            if locked:
                append(connection, actor=person, action="sign.locked", subject=f"person:{person}",
                       reason=f"{settings.pin_attempts} wrong signing PINs", after={"until": locked.isoformat()})
    raise PinRefused(reason, locked)


def refusal_text(lang: str, refusal: PinRefused) -> str:
    """The refusal in the reader's language (api/texts.py)."""
    from api.texts import page_text  # texts are the pages'; imported here to keep this module's imports small

    text = page_text(lang)[f"pin_{refusal.reason}"]
    return text.format(until=refusal.until.strftime("%Y-%m-%d %H:%M") if refusal.until else "")


def authenticated(engine: Engine, settings: Settings, sign: Sign, pin: str, case_id: str) -> Sign:
    """`sign` with how its signer was authenticated, once their PIN holds; PinRefused otherwise."""
    verify(engine, settings, sign.actor, pin, f"case:{case_id}")
    return replace(sign, authenticated_by=AUTHENTICATED_BY)
