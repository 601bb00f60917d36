"""Connecting to Temporal: the client of the settings' address and namespace, with TLS (mTLS) as set and
payloads encrypted by the secret (core.codec), so nothing the service reads from Temporal was written by
anyone without the secret. The worker, the embedded dev server and the schedules are the console
program's (stockwarden/temporal.py)."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import Client
from temporalio.converter import DataConverter
from temporalio.service import TLSConfig

from core.codec import data_converter
from core.settings import Settings, get_settings


def converter(settings: Settings | None = None) -> DataConverter:
    """The payload-encrypting data converter of the settings' secret key (refused if it is not fit)."""
    settings = settings or get_settings()
    return data_converter(settings.secret_key, settings.previous_secret_keys)


class TLSSettingsInvalid(ValueError):
    """The STOCKWARDEN_TEMPORAL_TLS_* settings cannot be used; the message names the setting and the file."""


def tls_config(settings: Settings | None = None) -> TLSConfig | bool:
    """TLS to the Temporal frontend as the settings ask: False (plain), or a TLSConfig with the CA, the
    client certificate and key for mTLS, and the server name."""
    settings = settings or get_settings()
    files = {"STOCKWARDEN_TEMPORAL_TLS_CERT": settings.temporal_tls_cert,
             "STOCKWARDEN_TEMPORAL_TLS_KEY": settings.temporal_tls_key,
             "STOCKWARDEN_TEMPORAL_TLS_CA": settings.temporal_tls_ca}
    if not settings.temporal_tls and not any(files.values()) and not settings.temporal_tls_server_name:
        return False
    if bool(settings.temporal_tls_cert) != bool(settings.temporal_tls_key):
        raise TLSSettingsInvalid("STOCKWARDEN_TEMPORAL_TLS_CERT and STOCKWARDEN_TEMPORAL_TLS_KEY go together (mTLS)")
    read: dict[str, bytes | None] = {}
    for name, path in files.items():
        try:
            read[name] = Path(path).read_bytes() if path else None
        except OSError as exc:
            raise TLSSettingsInvalid(f"{name}: cannot read {path}: {exc.strerror}") from None
    return TLSConfig(server_root_ca_cert=read["STOCKWARDEN_TEMPORAL_TLS_CA"],
                     client_cert=read["STOCKWARDEN_TEMPORAL_TLS_CERT"],
                     client_private_key=read["STOCKWARDEN_TEMPORAL_TLS_KEY"],
                     domain=settings.temporal_tls_server_name or None)


async def connect(settings: Settings | None = None) -> Client:
    """A client of the configured Temporal: payloads encrypted, TLS (mTLS) as set."""
    settings = settings or get_settings()
    return await Client.connect(settings.temporal_address, namespace=settings.temporal_namespace,
                                data_converter=converter(settings), tls=tls_config(settings))
