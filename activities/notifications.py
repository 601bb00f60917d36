"""The notification activities: one delivery round and the daily digests, each a call into the delivery
engine (notifications/dispatch.py), which reads the open cases through governance's case list."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine
from temporalio import activity

from core.settings import Settings
from governance.listing import open_cases
from notifications.dispatch import DeliveryRound, Dispatcher
from notifications.people import Directory


class NotificationActivities:
    def __init__(self, engine: Engine, settings: Settings, directory: Directory | None = None):
        self.dispatcher = Dispatcher(engine, settings, open_cases, directory)

    @activity.defn
    def deliver_due(self) -> DeliveryRound:
        return self.dispatcher.deliver_due()

    @activity.defn
    def deliver_digests(self) -> DeliveryRound:
        return self.dispatcher.deliver_digests()

    def all(self) -> list[Callable[..., Any]]:
        return [self.deliver_due, self.deliver_digests]
