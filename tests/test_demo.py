"""`python -m yoyaku.demo` end to end: the printed page honours the demo calendar, a booking lands
in Radicale and its invitation is printed, Ctrl-C stops everything, and a second run works."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from yoyaku.demo import calendar_data as cal
from yoyaku.demo.radicale import free_port

ROOT = Path(__file__).resolve().parent.parent
ZONE = "Asia/Tokyo"
STARTUP_TIMEOUT = 120.0


@dataclass
class DemoProcess:
    process: subprocess.Popen[str]
    lines: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    @property
    def output(self) -> str:
        with self.changed:
            return "\n".join(self.lines)

    def wait_for(self, pattern: str, timeout: float = STARTUP_TIMEOUT) -> re.Match[str]:
        regex = re.compile(pattern)

        def found() -> re.Match[str] | None:
            return regex.search("\n".join(self.lines))

        with self.changed:
            match = self.changed.wait_for(lambda: found() or self.process.poll() is not None, timeout=timeout)
            match = found()
        assert match, f"demo never printed {pattern!r}; output so far:\n{self.output}"
        return match

    def interrupt(self) -> int:
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout=60)


def start_demo(data_dir: Path) -> DemoProcess:
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONUNBUFFERED"] = "1"
    process = subprocess.Popen(
        [
            sys.executable, "-m", "yoyaku.demo", "--port", str(free_port()), "--no-browser",
            "--data-dir", str(data_dir), "--time-zone", ZONE,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    demo = DemoProcess(process)
    threading.Thread(target=demo.read, daemon=True).start()
    return demo


@pytest.fixture
def running_demo(tmp_path: Path) -> Iterator[Callable[[], DemoProcess]]:
    started: list[DemoProcess] = []

    def run() -> DemoProcess:
        demo = start_demo(tmp_path / "demo")
        started.append(demo)
        return demo

    yield run
    for demo in started:  # a failed assertion must not leave servers behind
        if demo.process.poll() is None:
            demo.process.kill()
            demo.process.wait(timeout=30)


def at(anchor: date, day: int, hour: int, minute: int = 0) -> datetime:
    d = anchor + timedelta(days=day)
    return datetime(d.year, d.month, d.day, hour, minute, tzinfo=ZoneInfo(ZONE))


def port_open(url: str) -> bool:
    host, port = re.match(r"http://([\d.]+):(\d+)", url).groups()  # type: ignore[union-attr]
    try:
        with socket.create_connection((host, int(port)), timeout=2):
            return True
    except OSError:
        return False


def slot_starts(base: str, anchor: date, duration: int) -> list[datetime]:
    response = httpx.get(
        f"{base}/api/v1/book/demo/availability",
        params={
            "start": anchor.isoformat(),
            "end": (anchor + timedelta(days=11)).isoformat(),
            "timezone": ZONE,
            "duration": duration,
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["offline"] is False and body["calendar_error"] == ""
    return [datetime.fromisoformat(s) for day in body["days"] for s in day["slots"]]


def overlaps(starts: list[datetime], duration: int, begin: datetime, end: datetime) -> list[datetime]:
    return [s for s in starts if s < end and s + timedelta(minutes=duration) > begin]


def test_demo_serves_the_calendar_books_into_radicale_and_stops_cleanly(
    running_demo: Callable[[], DemoProcess],
) -> None:
    demo = running_demo()
    base = demo.wait_for(r"Scheduling page:\s+(http://127\.0\.0\.1:\d+)/m/demo\b").group(1)
    output = demo.output
    assert f"{base}/m/demo-offline" in output
    assert f"{base}/api/v1/docs" in output
    password = re.search(r"Sign in:\s+http://\S+\s+user demo, password (\S+)", output).group(1)  # type: ignore[union-attr]
    caldav = re.search(r"CalDAV calendar:\s+(http://\S+)\s+\(user (\S+), password (\S+)\)", output)
    assert caldav, output
    calendar_url, caldav_user, caldav_password = caldav.groups()

    anchor = cal.demo_anchor(today=datetime.now(ZoneInfo(ZONE)).date())
    starts = slot_starts(base, anchor, 60)
    assert starts, "the demo page offers no times"
    hour = cal.DEMO_WEEKLY_HOUR
    moved_day, moved_hour = cal.DEMO_MOVED_TO
    # The moved occurrence blocks its new time and frees its old one; EXDATE frees its day.
    moved = (at(anchor, moved_day, moved_hour), at(anchor, moved_day, moved_hour + 1))
    assert overlaps(starts, 60, *moved) == []
    assert at(anchor, cal.DEMO_MOVED_FROM_DAY, hour) in starts
    assert at(anchor, cal.DEMO_EXDATE_DAY, hour) in starts
    assert overlaps(starts, 60, at(anchor, 1, hour), at(anchor, 1, hour + 1)) == []
    assert overlaps(starts, 60, at(anchor, 10, hour), at(anchor, 10, hour + 1)) == []
    all_day = cal.DEMO_ALL_DAY_DAY
    assert overlaps(starts, 60, at(anchor, all_day, 0), at(anchor, all_day + 1, 0)) == []
    day, tentative_hour = cal.DEMO_TENTATIVE
    assert overlaps(starts, 60, at(anchor, day, tentative_hour), at(anchor, day, tentative_hour + 1)) == []
    day, free_hour = cal.DEMO_FREE
    assert at(anchor, day, free_hour) in starts  # transparent: shown as free

    slot = at(anchor, 2, 11)
    assert slot in starts
    body = {
        "start": slot.isoformat(),
        "duration": 30,
        "timezone": ZONE,
        "first_name": "Gita",
        "last_name": "Guest",
        "email": "gita@example.org",
        "idempotency_key": "demo-test-booking",
    }
    booked = httpx.post(f"{base}/api/v1/book/demo", json=body, timeout=30)
    assert booked.status_code == 201, booked.text
    booking = booked.json()
    assert booking["status"] == "confirmed" and booking["calendar_write"] == "written"
    event_url = booking["calendar_event_id"]
    assert event_url.startswith(calendar_url)
    event = httpx.get(event_url, auth=(caldav_user, caldav_password), timeout=10)
    assert event.status_code == 200
    assert f"UID:yoyaku-{booking['id']}" in event.text
    assert "Gita Guest" in event.text
    demo.wait_for(r"Mail to gita@example\.org: Invitation: Intro call: Gita Guest")
    demo.wait_for(r"METHOD:REQUEST")
    assert slot not in slot_starts(base, anchor, 30)

    assert demo.interrupt() == 0
    output = demo.output
    assert "Stopped." in output
    assert "Traceback" not in output
    assert not port_open(calendar_url)
    assert not port_open(base)

    # A second run over the same data folder: same password, the booking is still honoured.
    again = running_demo()
    base = again.wait_for(r"Scheduling page:\s+(http://127\.0\.0\.1:\d+)/m/demo\b").group(1)
    assert f"user demo, password {password}" in again.output
    starts = slot_starts(base, anchor, 30)
    assert starts and slot not in starts
    assert at(anchor, 2, 12) in starts
    # The booking's retry (same idempotency key) finds the booking of the first run.
    retried = httpx.post(f"{base}/api/v1/book/demo", json=body, timeout=30)
    assert retried.status_code == 200 and retried.json()["id"] == booking["id"]
    assert again.interrupt() == 0
    assert "Traceback" not in again.output
