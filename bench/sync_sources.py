"""Calendars for the sync benchmarks: one workload of events, seeded into the Google emulator, the
Graph emulator or Radicale.

The emulators keep their calendars in memory and build each answer there, so each runs in a
process of its own: neither its memory nor its work is counted as Yoyaku's. The benchmark talks
to it over a pipe (``EmulatorProcess.call``). Radicale runs as its own process already; its
objects are written straight into its storage folder, which is much faster than one PUT each.
"""

from __future__ import annotations

import multiprocessing
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

SEED = 20270301
GOOGLE_EMAIL = "host@example.com"
# One in this many events is a weekly series of SERIES_COUNT instances.
SERIES_EVERY = 20
SERIES_COUNT = 10


@dataclass(frozen=True)
class BenchEvent:
    number: int
    start: datetime
    end: datetime
    weekly: bool


def workload(events: int, *, origin: datetime) -> Iterator[BenchEvent]:
    """``events`` events over the next 300 days on the half hour, half an hour to two hours long."""
    rng = random.Random(SEED)
    for number in range(events):
        start = origin + timedelta(minutes=30 * rng.randrange(0, 48 * 300))
        end = start + timedelta(minutes=30 * rng.randrange(1, 5))
        yield BenchEvent(number=number, start=start, end=end, weekly=number % SERIES_EVERY == 0)


def origin_now() -> datetime:
    return datetime.now(UTC).replace(minute=0, second=0, microsecond=0)


def stored_rows(events: int) -> int:
    """How many rows the store should hold: one per single event, one per instance of a series."""
    series = len(range(0, events, SERIES_EVERY))
    return events - series + series * SERIES_COUNT


# -- the emulators, each in a process of its own -------------------------------------------------


class EmulatorProcess:
    """``kind`` ("google" or "graph") seeded with ``events`` events, served by a child process."""

    def __init__(self, kind: str, *, events: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(kind, events, child), daemon=True)
        self._process.start()
        # The emulator's settings (environment variables), the account and its OAuth tokens.
        self.info: dict[str, Any] = self._answer()

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self._pipe.send((name, args, kwargs))
        return self._answer()

    def _answer(self) -> Any:
        status, value = self._pipe.recv()
        if status != "ok":
            raise RuntimeError(f"the emulator process failed: {value}")
        return value

    def stop(self) -> None:
        self._pipe.send(None)
        self._process.join(timeout=10)


def _serve(kind: str, events: int, pipe: Connection) -> None:
    try:
        emulator, info = _start_emulator(kind, events=events)
    except Exception as error:  # reported to the parent, which raises
        pipe.send(("error", repr(error)))
        return
    pipe.send(("ok", info))
    while (message := pipe.recv()) is not None:
        name, args, kwargs = message
        try:
            member = getattr(emulator, name)
            pipe.send(("ok", member(*args, **kwargs) if callable(member) else member))
        except Exception as error:
            pipe.send(("error", repr(error)))
    emulator.stop()


def _start_emulator(kind: str, *, events: int) -> tuple[Any, dict[str, Any]]:
    origin = origin_now()
    if kind == "google":
        from yoyaku.emulators.google import start as start_google

        google = start_google(accounts=(GOOGLE_EMAIL,), deliver_notifications=False)
        for event in workload(events, origin=origin):
            body: dict[str, Any] = {
                "summary": f"Event {event.number}",
                "start": {"dateTime": event.start.isoformat(), "timeZone": "UTC"},
                "end": {"dateTime": event.end.isoformat(), "timeZone": "UTC"},
            }
            if event.weekly:
                body["recurrence"] = [f"RRULE:FREQ=WEEKLY;COUNT={SERIES_COUNT}"]
            google.add_event(GOOGLE_EMAIL, body)
        endpoints = google.endpoints()
        environ = {
            "YOYAKU_GOOGLE_CLIENT_ID": google.client_id,
            "YOYAKU_GOOGLE_CLIENT_SECRET": google.client_secret,
            "YOYAKU_GOOGLE_AUTH_URL": endpoints.auth_url,
            "YOYAKU_GOOGLE_TOKEN_URL": endpoints.token_url,
            "YOYAKU_GOOGLE_REVOKE_URL": endpoints.revoke_url,
            "YOYAKU_GOOGLE_USERINFO_URL": endpoints.userinfo_url,
            "YOYAKU_GOOGLE_CALENDAR_API": endpoints.calendar_api,
        }
        return google, {
            "environ": environ,
            "email": GOOGLE_EMAIL,
            "tokens": google.issue_tokens(GOOGLE_EMAIL),
        }
    if kind == "graph":
        from yoyaku.emulators.microsoft import DEFAULT_EMAIL, PUBLIC_AUTHORITY
        from yoyaku.emulators.microsoft import start as start_microsoft

        graph = start_microsoft()
        # The benchmark posts the recorded notifications itself, and times them.
        graph._post_async = lambda url, payload: None  # type: ignore[method-assign]
        for event in workload(events, origin=origin):
            recurrence = None
            if event.weekly:
                recurrence = {
                    "pattern": {"type": "weekly", "interval": 1, "daysOfWeek": [event.start.strftime("%A")]},
                    "range": {
                        "type": "numbered",
                        "startDate": event.start.date().isoformat(),
                        "numberOfOccurrences": SERIES_COUNT,
                    },
                }
            graph.add_event(
                subject=f"Event {event.number}", start=event.start, end=event.end, recurrence=recurrence
            )
        environ = {
            "YOYAKU_MICROSOFT_CLIENT_ID": graph.client_id,
            "YOYAKU_MICROSOFT_CLIENT_SECRET": graph.client_secret,
            "YOYAKU_MICROSOFT_AUTHORITY_HOST": PUBLIC_AUTHORITY,
            "YOYAKU_MICROSOFT_TENANT": "common",
            "YOYAKU_MICROSOFT_GRAPH": graph.graph_url,
            "YOYAKU_MICROSOFT_AUTHORITY_TRANSPORT": graph.url,
        }
        return graph, {"environ": environ, "email": DEFAULT_EMAIL, "tokens": graph.issue_tokens()}
    raise ValueError(f"unknown emulator {kind!r}")


# -- Radicale -----------------------------------------------------------------------------------


def vevent_object(event: BenchEvent, *, uid: str) -> bytes:
    rule = f"RRULE:FREQ=WEEKLY;COUNT={SERIES_COUNT}\r\n" if event.weekly else ""
    return (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Yoyaku bench//EN\r\nBEGIN:VEVENT\r\n"
        f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n"
        f"DTSTART:{event.start:%Y%m%dT%H%M%SZ}\r\nDTEND:{event.end:%Y%m%dT%H%M%SZ}\r\n"
        f"SUMMARY:Event {event.number}\r\n{rule}END:VEVENT\r\nEND:VCALENDAR\r\n"
    ).encode()


def write_radicale_objects(*, storage: Path, user: str, calendar: str, events: int, origin: datetime) -> None:
    """Put the workload's objects into an existing Radicale calendar's folder, as files.

    Radicale's filesystem storage keeps one file per object under
    ``collection-root/<user>/<calendar>/`` and reads new files on the next request.
    """
    folder = storage / "collection-root" / user / calendar
    if not folder.is_dir():
        raise RuntimeError(f"no Radicale calendar at {folder}")
    for event in workload(events, origin=origin):
        uid = f"bench-{event.number}"
        (folder / f"{uid}.ics").write_bytes(vevent_object(event, uid=uid))


def warm_radicale(*, calendar_url: str, username: str, password: str) -> None:
    """Have Radicale read every object once and record each in its sync history, as a server that
    has held the calendar a while has (objects PUT one by one get both on writing; files written
    straight into the folder get them on the first PROPFIND and the first sync-collection)."""
    import httpx

    propfind = b'<?xml version="1.0"?><d:propfind xmlns:d="DAV:"><d:prop><d:getetag/></d:prop></d:propfind>'
    sync = (
        b'<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token/>'
        b"<d:sync-level>1</d:sync-level>"
        b"<d:prop><d:getetag/></d:prop></d:sync-collection>"
    )
    with httpx.Client(auth=(username, password), timeout=1200) as client:
        client.request("PROPFIND", calendar_url, content=propfind, headers={"Depth": "1"}).raise_for_status()
        client.request("REPORT", calendar_url, content=sync, headers={"Depth": "0"}).raise_for_status()


def prepared_radicale_folder(*, events: int, calendars: int = 1) -> Path:
    """A Radicale data folder with ``calendars`` calendars (``bench-0`` ...) of ``events`` events each,
    read once (``warm_radicale``); made on first use and kept in the temporary folder for later runs,
    since the first reading costs minutes at 10,000 events.

    The first calendar is made by MKCALENDAR; the others are copies of its folder's properties (what
    Radicale keeps of a calendar), which is much faster for a thousand.
    """
    import json
    import tempfile
    from concurrent.futures import ThreadPoolExecutor

    from yoyaku.demo.radicale import RadicaleServer

    folder = Path(tempfile.gettempdir()) / f"yoyaku-bench-radicale-{calendars}x{events}"
    if (folder / "ready").exists():
        return folder
    origin = origin_now()
    with RadicaleServer(data_dir=folder) as radicale:
        first = radicale.ensure_calendar("bench-0")
        home = folder / "collections" / "collection-root" / radicale.username
        properties = json.loads((home / "bench-0" / ".Radicale.props").read_text())
        for number in range(calendars):
            name = f"bench-{number}"
            (home / name).mkdir(exist_ok=True)
            (home / name / ".Radicale.props").write_text(json.dumps({**properties, "D:displayname": name}))
            write_radicale_objects(
                storage=folder / "collections",
                user=radicale.username,
                calendar=name,
                events=events,
                origin=origin,
            )

        def warm(number: int) -> None:
            url = first.replace("bench-0/", f"bench-{number}/")
            warm_radicale(calendar_url=url, username=radicale.username, password=radicale.password)

        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(warm, range(calendars)))
    (folder / "ready").write_text(origin.isoformat())
    return folder
