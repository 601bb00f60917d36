"""Encryption of every Temporal payload the service writes (AES-256-GCM), so that Temporal's store and
whoever reaches its frontend see neither names nor addresses, and a payload not made by the service is
refused: a signature or a signal typed into the `temporal` CLI changes nothing.

The pattern of temporalio/samples-python `encryption/` (the key id in each payload's metadata, a fresh
96-bit nonce per payload), with two differences:

- The key is derived from STOCKWARDEN_SECRET_KEY with HKDF-SHA256 under a fixed label rather than being a
  setting of its own: it is one secret fewer to make, distribute and protect, and the refusal of a public
  or short secret (core/secret.py) covers it. HKDF with its own label keeps the AES key apart from
  the HMAC key the links are signed with. Whoever holds the secret can already act as anyone, so a second
  secret would guard nothing more. After a rotation, STOCKWARDEN_PREVIOUS_SECRET_KEYS keeps running cases
  readable.
- The sample passes through payloads without its encoding; here every such payload, and every encrypted
  one whose key id is unknown or whose tag does not verify, decodes to a payload of the REFUSED encoding,
  which no converter reads. Raising instead would fail the worker's whole workflow task, again at every
  retry: a foreign signal stays in the history, so it would stop the case for good. This way the SDK
  rejects the Update (its argument cannot be converted) and drops the signal, and the case goes on.

Failure messages and stack traces are encoded too (DefaultFailureConverterWithEncodedAttributes): a
refusal's message names people."""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Iterable, Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from temporalio.api.common.v1 import Payload
from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes, PayloadCodec

from core.secret import check

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
REFUSED = b"binary/stockwarden-refused"
"""What a payload not made by the service decodes to; its metadata says why."""
HKDF_INFO = b"stockwarden temporal payload encryption v1"
NONCE_BYTES = 12


def payload_key(secret: str) -> bytes:
    """The AES-256 key of a (checked) secret key."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(check(secret).encode())


def key_id(key: bytes) -> str:
    """Names a key in the metadata without revealing it: a hash of it, under its own label."""
    return "sw1-" + hashlib.sha256(b"stockwarden payload key id\0" + key).hexdigest()[:16]


class PayloadEncryption(PayloadCodec):
    """Encrypts with the current key; decrypts with it or any previous one named by its key id."""

    def __init__(self, key: bytes, previous: Sequence[bytes] = ()) -> None:
        super().__init__()
        self.key_id = key_id(key)
        self._current = AESGCM(key)
        self._keys = {key_id(k): AESGCM(k) for k in previous} | {self.key_id: self._current}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [Payload(metadata={"encoding": ENCODING, KEY_ID: self.key_id.encode()}, data=self._encrypt(p))
                for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self._decrypt(p) for p in payloads]

    def _encrypt(self, payload: Payload) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._current.encrypt(nonce, payload.SerializeToString(), None)

    def _decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return refused("not encrypted by Stockwarden")
        cipher = self._keys.get(payload.metadata.get(KEY_ID, b"").decode(errors="replace"))
        if cipher is None:
            return refused("encrypted with a key this service does not hold")
        try:
            return Payload.FromString(cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], None))
        except (InvalidTag, ValueError):
            return refused("not encrypted by Stockwarden (the authentication tag does not verify)")


def refused(why: str) -> Payload:
    return Payload(metadata={"encoding": REFUSED, "refused": why.encode()})


def codec(secret: str, previous: Iterable[str] = ()) -> PayloadEncryption:
    """The codec of a secret key and the previous ones (see the module docstring)."""
    return PayloadEncryption(payload_key(secret), [payload_key(p) for p in previous])


def previous_secrets(text: str) -> list[str]:
    """STOCKWARDEN_PREVIOUS_SECRET_KEYS as a list (comma-separated; blanks ignored)."""
    return [part.strip() for part in text.split(",") if part.strip()]


def data_converter(secret: str, previous: str = "") -> DataConverter:
    """The data converter of every client the service makes (workers use their client's)."""
    return dataclasses.replace(DataConverter.default, payload_codec=codec(secret, previous_secrets(previous)),
                               failure_converter_class=DefaultFailureConverterWithEncodedAttributes)
