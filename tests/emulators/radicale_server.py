"""A real Radicale CalDAV server on loopback, for the test suite and the demo.

Radicale runs as a subprocess (``python -m radicale``) with its own config,
htpasswd file and storage folder in a temporary directory, so nothing leaks
between runs. The module has no pytest dependency: the demo script uses it too.

    with RadicaleServer() as server:
        calendar_url = server.ensure_calendar("work")
        server.seed(calendar_url, demo_calendar_events(time_zone="Europe/Berlin", today=date.today()))
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from pathlib import Path
from types import TracebackType
from urllib.parse import quote, urljoin
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

import httpx
import icalendar

DEFAULT_USERS = {"alice": "alice-secret"}

# What the demo calendar holds, relative to ``today`` in the host's zone; the
# tests read these to know where busy time must (and must not) be.
DEMO_WEEKLY_TITLE = "Weekly team sync"
DEMO_WEEKLY_HOUR = 10  # 10:00-11:00 local, on days +1 and +3 of each week
DEMO_WEEKLY_DAYS = (1, 3, 8, 10)  # instance days; +3 is moved, +8 is cancelled
DEMO_MOVED_FROM_DAY = 3
DEMO_MOVED_TO = (4, 15)  # day +4 at 15:00-16:00
DEMO_EXDATE_DAY = 8
DEMO_ALL_DAY_DAY = 5
DEMO_TENTATIVE = (2, 14)  # day +2 at 14:00-15:00, STATUS:TENTATIVE
DEMO_FREE = (2, 9)  # day +2 at 09:00-09:30, TRANSP:TRANSPARENT

_MKCALENDAR_BODY = """<?xml version="1.0" encoding="utf-8"?>
<C:mkcalendar xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">
  <D:set><D:prop>
    <D:displayname>{name}</D:displayname>
    <C:supported-calendar-component-set>{components}</C:supported-calendar-component-set>
  </D:prop></D:set>
</C:mkcalendar>
"""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RadicaleServer:
    """Start with ``with RadicaleServer() as server`` (or ``start()``/``stop()``)."""

    def __init__(self, *, users: Mapping[str, str] | None = None, startup_timeout: float = 20.0) -> None:
        self.users = dict(users or DEFAULT_USERS)
        self.username, self.password = next(iter(self.users.items()))
        self.startup_timeout = startup_timeout
        self.port = 0
        self.url = ""
        self._dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    # -- lifecycle ---------------------------------------------------------

    def start(self) -> RadicaleServer:
        if self._process is not None:
            return self
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="yoyaku-radicale-"))
        # The port is picked before Radicale binds it; retry if someone else
        # grabbed it in between.
        last_error = ""
        for _attempt in range(3):
            self.port = _free_port()
            self.url = f"http://127.0.0.1:{self.port}/"
            config = self._write_config()
            log = (self._dir / "radicale.log").open("ab")
            self._process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [sys.executable, "-m", "radicale", "--config", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self._dir,
            )
            log.close()
            if self._wait_until_ready():
                return self
            last_error = self._log_tail()
            self._terminate()
        raise RuntimeError(f"Radicale did not start: {last_error}")

    def stop(self) -> None:
        """Stop the server; its data stays until ``close()`` so it can be restarted."""
        self._terminate()

    def close(self) -> None:
        self._terminate()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def __enter__(self) -> RadicaleServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    # -- calendars ---------------------------------------------------------

    def principal_url(self, username: str | None = None) -> str:
        return urljoin(self.url, f"{quote(username or self.username)}/")

    def ensure_calendar(
        self, name: str, *, username: str | None = None, components: Sequence[str] = ("VEVENT",)
    ) -> str:
        """Create calendar ``name`` for the user if missing; return its URL (ending in /)."""
        user = username or self.username
        with self._client(user) as client:
            # Radicale creates the principal collection on the user's first request.
            client.request("PROPFIND", self.principal_url(user), headers={"Depth": "0"})
            url = urljoin(self.principal_url(user), f"{quote(name)}/")
            response = client.request(
                "MKCALENDAR",
                url,
                content=_MKCALENDAR_BODY.format(
                    name=escape(name), components="".join(f'<C:comp name="{c}"/>' for c in components)
                ).encode(),
                headers={"Content-Type": "application/xml; charset=utf-8"},
            )
            # 201 created; 405/409 when it already exists (RFC 4791 §5.3.1).
            if response.status_code not in (201, 405, 409):
                raise RuntimeError(f"MKCALENDAR {url} failed: {response.status_code} {response.text}")
        return url

    def seed(self, calendar_url: str, objects: Iterable[bytes], *, username: str | None = None) -> list[str]:
        """PUT each iCalendar object as ``{UID}.ics``; return the object URLs."""
        urls = []
        with self._client(username or self.username) as client:
            for data in objects:
                calendar = icalendar.Calendar.from_ical(data)
                uid = str(next(iter(calendar.walk("VEVENT")))["UID"])
                url = urljoin(calendar_url, quote(f"{uid}.ics"))
                response = client.put(url, content=data, headers={"Content-Type": "text/calendar; charset=utf-8"})
                if response.status_code not in (201, 204):
                    raise RuntimeError(f"PUT {url} failed: {response.status_code} {response.text}")
                urls.append(url)
        return urls

    def delete(self, url: str, *, username: str | None = None) -> None:
        with self._client(username or self.username) as client:
            client.delete(url)

    # -- internals ---------------------------------------------------------

    def _client(self, username: str) -> httpx.Client:
        return httpx.Client(auth=(username, self.users[username]), timeout=10.0)

    def _write_config(self) -> Path:
        assert self._dir is not None
        htpasswd = self._dir / "users"
        htpasswd.write_text("".join(f"{user}:{password}\n" for user, password in self.users.items()))
        storage = self._dir / "collections"
        storage.mkdir(exist_ok=True)
        config = self._dir / "config"
        config.write_text(
            "[server]\n"
            f"hosts = 127.0.0.1:{self.port}\n"
            "[auth]\n"
            "type = htpasswd\n"
            f"htpasswd_filename = {htpasswd}\n"
            "htpasswd_encryption = plain\n"
            # No sleep after a failed login: the tests try wrong passwords on purpose.
            "delay = 0\n"
            "[rights]\n"
            "type = owner_only\n"
            "[storage]\n"
            f"filesystem_folder = {storage}\n"
            "[web]\n"
            "type = none\n"
            "[logging]\n"
            "level = warning\n"
        )
        return config

    def _wait_until_ready(self) -> bool:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                return False
            try:
                httpx.request("OPTIONS", self.url, timeout=1.0)
                return True
            except httpx.HTTPError:
                time.sleep(0.05)
        return False

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)

    def _log_tail(self) -> str:
        if self._dir is None:
            return ""
        with contextlib.suppress(OSError):
            return (self._dir / "radicale.log").read_text(errors="replace")[-2000:]
        return ""


# -- demo data ------------------------------------------------------------


def _calendar(zone_name: str, *events: icalendar.Event) -> bytes:
    calendar = icalendar.Calendar()
    calendar.add("PRODID", "-//Yoyaku//Demo data//EN")
    calendar.add("VERSION", "2.0")
    for event in events:
        calendar.add_component(event)
    if zone_name != "UTC":
        calendar.add_component(icalendar.Timezone.from_tzid(zone_name))
    return bytes(calendar.to_ical())


def _event(uid: str, title: str, stamp: datetime, **properties: object) -> icalendar.Event:
    event = icalendar.Event()
    event.add("UID", uid)
    event.add("DTSTAMP", stamp)
    event.add("SUMMARY", title)
    for name, value in properties.items():
        event.add(name.replace("_", "-"), value)
    return event


def demo_calendar_events(*, time_zone: str, today: date) -> list[bytes]:
    """The demo host's calendar: one object per event, all within two weeks of ``today``.

    - a weekly meeting on days +1 and +3 (10:00-11:00), four instances; the day +3
      instance moved to day +4 15:00 (RECURRENCE-ID), the day +8 instance
      cancelled (EXDATE);
    - an all-day event on day +5;
    - a tentative meeting on day +2, 14:00-15:00;
    - a "free" (TRANSP:TRANSPARENT) focus block on day +2, 09:00-09:30.
    """
    zone = ZoneInfo(time_zone)
    stamp = datetime(today.year, today.month, today.day, tzinfo=ZoneInfo("UTC"))

    def at(day: int, hour: int, minute: int = 0) -> datetime:
        d = today + timedelta(days=day)
        return datetime(d.year, d.month, d.day, hour, minute, tzinfo=zone)

    weekdays = ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]
    first, second = (today + timedelta(days=1)).weekday(), (today + timedelta(days=3)).weekday()
    weekly = _event(
        "yoyaku-demo-weekly@example.invalid",
        DEMO_WEEKLY_TITLE,
        stamp,
        dtstart=at(1, DEMO_WEEKLY_HOUR),
        dtend=at(1, DEMO_WEEKLY_HOUR + 1),
        exdate=at(DEMO_EXDATE_DAY, DEMO_WEEKLY_HOUR),
    )
    weekly.add("RRULE", {"FREQ": "WEEKLY", "BYDAY": [weekdays[first], weekdays[second]], "COUNT": 4})
    moved = _event(
        "yoyaku-demo-weekly@example.invalid",
        f"{DEMO_WEEKLY_TITLE} (moved)",
        stamp,
        recurrence_id=at(DEMO_MOVED_FROM_DAY, DEMO_WEEKLY_HOUR),
        dtstart=at(DEMO_MOVED_TO[0], DEMO_MOVED_TO[1]),
        dtend=at(DEMO_MOVED_TO[0], DEMO_MOVED_TO[1] + 1),
        sequence=1,
    )
    all_day = _event(
        "yoyaku-demo-all-day@example.invalid",
        "Conference (all day)",
        stamp,
        dtstart=today + timedelta(days=DEMO_ALL_DAY_DAY),
        dtend=today + timedelta(days=DEMO_ALL_DAY_DAY + 1),
    )
    tentative = _event(
        "yoyaku-demo-tentative@example.invalid",
        "Maybe: vendor call",
        stamp,
        dtstart=at(*DEMO_TENTATIVE),
        dtend=at(DEMO_TENTATIVE[0], DEMO_TENTATIVE[1] + 1),
        status="TENTATIVE",
    )
    free = _event(
        "yoyaku-demo-free@example.invalid",
        "Focus time (shown as free)",
        stamp,
        dtstart=at(*DEMO_FREE),
        dtend=at(DEMO_FREE[0], DEMO_FREE[1], 30),
        transp="TRANSPARENT",
    )
    return [
        _calendar(time_zone, weekly, moved),
        _calendar(time_zone, all_day),
        _calendar(time_zone, tentative),
        _calendar(time_zone, free),
    ]
