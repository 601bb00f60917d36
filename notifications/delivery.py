"""Sending one rendered message to one person over each of their channels, through apprise.

Email goes to the person's address through the configured SMTP server (HTML, with apprise's plain-text
part); a generic JSON webhook gets the plain-text form; chat apps get the short chat form. Each channel's outcome is returned with the error
apprise logged, so the attempt can be recorded and retried."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import apprise

from core.settings import Settings
from notifications.messages import Message
from notifications.people import EMAIL, Person

FULL_TEXT_SCHEMES = frozenset({"json", "jsons"})


@dataclass(frozen=True)
class ChannelResult:
    channel: str
    """`email` or the apprise scheme (the URL itself may hold secrets and is not recorded)."""
    ok: bool
    error: str = ""


def email_url(settings: Settings, to: str) -> str:
    login = f"{quote(settings.smtp_user, safe='')}:{quote(settings.smtp_password, safe='')}@" if settings.smtp_user else ""
    query = urlencode({"mode": settings.smtp_mode, "from": settings.smtp_from, "to": to,
                       "smtp": settings.smtp_host})
    return f"mailto://{login}{settings.smtp_host}:{settings.smtp_port}?{query}"


def send(person: Person, message: Message, settings: Settings) -> list[ChannelResult]:
    results = []
    for channel in person.channels:
        is_email = channel == EMAIL
        url = email_url(settings, person.email) if is_email else channel
        sender = apprise.Apprise()
        name = EMAIL if is_email else channel.partition("://")[0]
        if not sender.add(url):
            results.append(ChannelResult(name, False, "apprise cannot use this channel URL"))
            continue
        with apprise.LogCapture(level=logging.WARNING) as captured:
            if is_email:
                ok = bool(sender.notify(title=message.subject, body=message.html,
                                        body_format=apprise.NotifyFormat.HTML))
            else:  # a generic webhook gets the whole text; chat apps the short form
                body = message.text if name in FULL_TEXT_SCHEMES else message.chat
                ok = bool(sender.notify(title=message.subject, body=body, body_format=apprise.NotifyFormat.TEXT))
            logged = captured.getvalue().strip()
        results.append(ChannelResult(name, ok, "" if ok else (logged.splitlines()[-1] if logged else "not delivered")))
    return results
