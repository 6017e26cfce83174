"""SMS goes through a provider behind this interface. Configure one with SMS_PROVIDER
("module.path:ClassName"); with none configured, SMS messages are recorded as skipped."""

from __future__ import annotations

from importlib import import_module
from typing import Protocol

from django.conf import settings


class SmsProvider(Protocol):
    def send(self, *, to: str, text: str) -> None: ...


def sms_provider() -> SmsProvider | None:
    path = getattr(settings, "SMS_PROVIDER", "")
    if not path:
        return None
    module, _, name = path.partition(":")
    return getattr(import_module(module), name)()
