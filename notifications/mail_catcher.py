"""A local mail catcher for `stockwarden up`: an SMTP server on loopback (aiosmtpd) that writes every
message it receives into a folder as an .eml file, which any mail program opens."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class _Folder:
    def __init__(self, folder: Path):
        self.folder = folder
        self.count = len(list(folder.glob("*.eml")))

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.count += 1
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        to = re.sub(r"[^A-Za-z0-9@._-]", "_", ",".join(envelope.rcpt_tos))[:80]
        (self.folder / f"{self.count:05d}-{to}.eml").write_bytes(message.as_bytes())
        return "250 OK"


@contextmanager
def mail_catcher(folder: Path, host: str, port: int) -> Iterator[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    controller = Controller(_Folder(folder), hostname=host, port=port)
    controller.start()
    try:
        yield folder
    finally:
        controller.stop()
