"""A real SMTP server on loopback (aiosmtpd) that keeps what it accepts, and can answer 4xx/5xx first."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from contextlib import contextmanager
from email.message import EmailMessage
from typing import Any

import pytest


class Catcher:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        # Replies given to the next DATA commands before any is accepted, e.g. "451 4.3.0 Try later".
        self.refusals: list[str] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.refusals:
            return self.refusals.pop(0)
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 OK"

    def subjects(self) -> list[str]:
        return sorted(str(m["Subject"]).strip() for m in self.messages)


@contextmanager
def smtp_server(port: int, catcher: Catcher | None = None) -> Iterator[Catcher]:
    controller_module = pytest.importorskip("aiosmtpd.controller")
    handler = catcher or Catcher()
    controller = controller_module.Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler
    finally:
        controller.stop()
