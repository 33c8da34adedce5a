"""Local Google, Microsoft 365 and Exchange servers for the demo, so "Connect calendar" works offline.

Each is a demo ``Service`` around one of the protocol emulators in
``yoyaku.emulators``: it starts the emulator on loopback, seeds one account
with a busy, a tentative and a free event, and hands Django the settings that
point the OAuth app (or, for Exchange, nothing: the user types the EWS URL) at
it. The emulators keep everything in memory, so a restart forgets every grant;
the demo therefore gives the connecting user a fresh start on each run.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from yoyaku.emulators.exchange import ExchangeEmulator
from yoyaku.emulators.google import GoogleEmulator
from yoyaku.emulators.microsoft import DEFAULT_EMAIL as MICROSOFT_EMAIL
from yoyaku.emulators.microsoft import PUBLIC_AUTHORITY, MicrosoftEmulator
from yoyaku.emulators.microsoft import start as start_microsoft

GOOGLE_EMAIL = "newhost@example.com"
EXCHANGE_EMAIL = "newhost@exchange.example"

# (day after the demo anchor, local hour): one-hour events in each provider's seeded calendar.
PROVIDER_BUSY = (1, 13)
PROVIDER_TENTATIVE = (2, 10)  # blocks: tentative counts as busy by default
PROVIDER_FREE = (3, 11)  # shown as free: does not block


@dataclass(frozen=True)
class SeedEvent:
    title: str
    start: datetime
    end: datetime
    show_as: str  # "busy", "tentative" or "free"


def provider_events(*, time_zone: str, anchor: date) -> list[SeedEvent]:
    zone = ZoneInfo(time_zone)

    def hour(spec: tuple[int, int], title: str, show_as: str) -> SeedEvent:
        day = anchor + timedelta(days=spec[0])
        start = datetime(day.year, day.month, day.day, spec[1], tzinfo=zone)
        return SeedEvent(title=title, start=start, end=start + timedelta(hours=1), show_as=show_as)

    return [
        hour(PROVIDER_BUSY, "Budget review", "busy"),
        hour(PROVIDER_TENTATIVE, "Maybe: supplier visit", "tentative"),
        hour(PROVIDER_FREE, "Reading time (shown as free)", "free"),
    ]


def describe_events(events: list[SeedEvent]) -> str:
    parts = [f"{e.show_as} {e.start:%a %d %b %H:%M}-{e.end:%H:%M}" for e in events]
    return "; ".join(parts)


class _Stoppable(Protocol):
    def stop(self) -> None: ...


class _EmulatorService:
    """What the three have in common: the seeded days, and stopping the emulator once."""

    emulator: _Stoppable | None

    def __init__(self, *, time_zone: str, anchor: date) -> None:
        self.time_zone, self.anchor = time_zone, anchor
        self.emulator = None

    def events(self) -> list[SeedEvent]:
        return provider_events(time_zone=self.time_zone, anchor=self.anchor)

    def stop(self) -> None:
        emulator, self.emulator = self.emulator, None
        if emulator is not None:
            emulator.stop()


class GoogleService(_EmulatorService):
    """Google's OAuth and Calendar API; the consent page asks to Allow."""

    name = "Google"
    emulator: GoogleEmulator | None

    def start(self) -> None:
        emulator = GoogleEmulator(
            accounts=(GOOGLE_EMAIL,), time_zone=self.time_zone, client_secret=secrets.token_urlsafe(16)
        )
        self.emulator = emulator.start()
        for event in self.events():
            body: dict[str, Any] = {
                "summary": event.title,
                "start": {"dateTime": event.start.isoformat(), "timeZone": self.time_zone},
                "end": {"dateTime": event.end.isoformat(), "timeZone": self.time_zone},
            }
            if event.show_as == "tentative":
                body["status"] = "tentative"
            elif event.show_as == "free":
                body["transparency"] = "transparent"
            emulator.add_event(GOOGLE_EMAIL, body)

    def environ(self) -> dict[str, str]:
        assert self.emulator is not None
        endpoints = self.emulator.endpoints()
        return {
            "YOYAKU_GOOGLE_CLIENT_ID": self.emulator.client_id,
            "YOYAKU_GOOGLE_CLIENT_SECRET": self.emulator.client_secret,
            "YOYAKU_GOOGLE_AUTH_URL": endpoints.auth_url,
            "YOYAKU_GOOGLE_TOKEN_URL": endpoints.token_url,
            "YOYAKU_GOOGLE_REVOKE_URL": endpoints.revoke_url,
            "YOYAKU_GOOGLE_USERINFO_URL": endpoints.userinfo_url,
            "YOYAKU_GOOGLE_CALENDAR_API": endpoints.calendar_api,
        }

    def describe(self) -> list[str]:
        url = self.emulator.url if self.emulator else ""
        return [f"{url}  account {GOOGLE_EMAIL}"]


class MicrosoftService(_EmulatorService):
    """Entra ID sign-in and Microsoft Graph ("Office 365"); the consent page asks to Accept."""

    name = "Microsoft 365"
    emulator: MicrosoftEmulator | None

    def start(self) -> None:
        self.emulator = start_microsoft(client_secret=secrets.token_urlsafe(16))
        for event in self.events():
            self.emulator.add_event(
                subject=event.title,
                start=event.start,
                end=event.end,
                time_zone=self.time_zone,
                show_as=event.show_as,
            )

    def environ(self) -> dict[str, str]:
        assert self.emulator is not None
        return {
            "YOYAKU_MICROSOFT_CLIENT_ID": self.emulator.client_id,
            "YOYAKU_MICROSOFT_CLIENT_SECRET": self.emulator.client_secret,
            # msal insists on the public https authority; requests to it are sent here instead.
            "YOYAKU_MICROSOFT_AUTHORITY_HOST": PUBLIC_AUTHORITY,
            "YOYAKU_MICROSOFT_TENANT": "common",
            "YOYAKU_MICROSOFT_GRAPH": self.emulator.graph_url,
            "YOYAKU_MICROSOFT_AUTHORITY_TRANSPORT": self.emulator.url,
        }

    def describe(self) -> list[str]:
        url = self.emulator.url if self.emulator else ""
        return [f"{url}  account {MICROSOFT_EMAIL}"]


class ExchangeService(_EmulatorService):
    """An Exchange server's EWS endpoint (NTLM or Basic); the user types its address."""

    name = "Exchange (EWS)"
    emulator: ExchangeEmulator | None

    def __init__(self, *, time_zone: str, anchor: date, password: str) -> None:
        super().__init__(time_zone=time_zone, anchor=anchor)
        self.password = password

    def start(self) -> None:
        emulator = ExchangeEmulator(email=EXCHANGE_EMAIL, password=self.password)
        self.emulator = emulator.start()
        statuses = {"busy": "Busy", "tentative": "Tentative", "free": "Free"}
        for event in self.events():
            emulator.add_event(
                subject=event.title, start=event.start, end=event.end, free_busy=statuses[event.show_as]
            )

    def environ(self) -> dict[str, str]:
        return {}

    @property
    def ews_url(self) -> str:
        return self.emulator.ews_url if self.emulator else ""

    def describe(self) -> list[str]:
        return [f"{self.ews_url}  (email {EXCHANGE_EMAIL}, password {self.password})"]
