"""`python -m yoyaku.demo` end to end: the printed page honours the demo calendar, a booking lands
in Radicale and its invitation is printed, Ctrl-C stops everything, and a second run works; the new
host connects the local Google server through its consent page like a person would."""

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
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.connection_helpers import GOOGLE_ALLOW, submit_consent
from yoyaku.demo import calendar_data as cal
from yoyaku.demo import providers
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
            sys.executable,
            "-m",
            "yoyaku.demo",
            "--port",
            str(free_port()),
            "--no-browser",
            "--data-dir",
            str(data_dir),
            "--time-zone",
            ZONE,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # Its own process group, so a failed test can stop the servers it started too (Radicale).
        start_new_session=True,
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
            # The whole group: killing the demo alone would leave its Radicale child running.
            os.killpg(demo.process.pid, signal.SIGKILL)
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


def availability(base: str, anchor: date, duration: int, *, slug: str = "demo") -> dict[str, Any]:
    response = httpx.get(
        f"{base}/api/v1/book/{slug}/availability",
        params={
            "start": anchor.isoformat(),
            "end": (anchor + timedelta(days=11)).isoformat(),
            "timezone": ZONE,
            "duration": duration,
        },
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def slot_starts(base: str, anchor: date, duration: int, *, slug: str = "demo") -> list[datetime]:
    body = availability(base, anchor, duration, slug=slug)
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

    # The page's stylesheets and scripts load under the names the page gives them (hashed, as
    # collectstatic writes them): without them the page shows no calendar at all.
    page = httpx.get(f"{base}/m/demo", timeout=30)
    assert page.status_code == 200
    assets = re.findall(r'(?:href|src)="(/static/[^"]+)"', page.text)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets), assets
    for asset in assets:
        assert httpx.get(base + asset, timeout=30).status_code == 200, asset

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

    # A person trying the page fails and retries far more than the production limit (20 attempts an
    # hour from one address, failed ones included) allows: the demo is never locked.
    for _ in range(25):
        refused = httpx.post(
            f"{base}/api/v1/book/demo", json={"start": at(anchor, 2, 11).isoformat()}, timeout=30
        )
        assert refused.status_code == 422, refused.text

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
    assert booked.json()["calendar_write"] == "pending", "answered before the event is written"
    # The same request again (its idempotency key) answers with the booking as it is now.
    again = httpx.post(f"{base}/api/v1/book/demo", json=body, timeout=30)
    assert again.status_code == 200, again.text
    booking = again.json()
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

    # The person changes the demo host's hours and page; the next run must keep both.
    api_key = re.search(r"Authorization: Bearer (yk_\S+)\)", demo.output).group(1)  # type: ignore[union-attr]
    own_hours = {"time_zone": ZONE, "weekly": {"1": [[13 * 60, 15 * 60]]}, "overrides": {}}
    key = {"Authorization": f"Bearer {api_key}"}
    changed = httpx.put(f"{base}/api/v1/me/availability", json=own_hours, headers=key)
    assert changed.status_code == 200, changed.text
    renamed = httpx.patch(f"{base}/api/v1/meeting-links/demo", json={"name": "Quick chat"}, headers=key)
    assert renamed.status_code == 200, renamed.text

    # The terminal is not an access log: the addresses come last, and no request is logged.
    output = demo.output
    assert output.index("Data folder:") < output.index("Scheduling page:") < output.index("Mail to gita")
    assert not re.search(r"\"(GET|POST|PUT|PATCH|PROPFIND|REPORT) /", output), output
    assert "Unprocessable Entity" not in output and "Not Found:" not in output

    assert demo.interrupt() == 0
    output = demo.output
    assert "Stopped." in output
    assert "Traceback" not in output
    assert not port_open(calendar_url)
    assert not port_open(base)

    # A second run over the same data folder: same password, the booking is still honoured, and
    # what the person changed is kept (only Tuesday 13:00-15:00 offered, the page's new name).
    again = running_demo()
    base = again.wait_for(r"Scheduling page:\s+(http://127\.0\.0\.1:\d+)/m/demo\b").group(1)
    assert f"user demo, password {password}" in again.output
    offered = availability(base, anchor, 30)
    assert offered["name"] == "Quick chat"
    starts = [datetime.fromisoformat(s) for day in offered["days"] for s in day["slots"]]
    assert starts and all(s.weekday() == 1 and 13 <= s.hour < 15 for s in starts)

    # The offline host signs in with the printed password (it answers requests from the dashboard).
    assert f"user demo-offline, password {password}" in again.output
    with httpx.Client(base_url=base, timeout=30) as browser:
        form = browser.get("/accounts/login/")
        signed_in = browser.post(
            "/accounts/login/",
            data={"username": "demo-offline", "password": password, "csrfmiddlewaretoken": csrf_token(form)},
        )
        assert signed_in.status_code == 302 and signed_in.headers["Location"] == "/dashboard/"
    # The booking's retry (same idempotency key) finds the booking of the first run.
    retried = httpx.post(f"{base}/api/v1/book/demo", json=body, timeout=30)
    assert retried.status_code == 200 and retried.json()["id"] == booking["id"]
    assert again.interrupt() == 0
    assert "Traceback" not in again.output


def csrf_token(page: httpx.Response) -> str:
    match = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert match, page.text
    return match.group(1)


def test_demo_new_host_connects_google_through_the_local_consent_page(
    running_demo: Callable[[], DemoProcess],
) -> None:
    demo = running_demo()
    base = demo.wait_for(r"New host's page:\s+(http://127\.0\.0\.1:\d+)/m/newhost\b").group(1)
    password = demo.wait_for(r"as newhost, password (\S+)").group(1)
    assert re.search(r"Google:\s+http://127\.0\.0\.1:\d+\s+account newhost@example\.com", demo.output)
    assert re.search(r"EWS URL http://127\.0\.0\.1:\d+/EWS/Exchange\.asmx", demo.output)
    anchor = cal.demo_anchor(today=datetime.now(ZoneInfo(ZONE)).date())
    assert availability(base, anchor, 60, slug="newhost")["offline"] is True  # no calendar yet

    with httpx.Client(base_url=base, timeout=30) as browser:
        sign_in = browser.get("/accounts/login/")
        signed_in = browser.post(
            "/accounts/login/",
            data={"username": "newhost", "password": password, "csrfmiddlewaretoken": csrf_token(sign_in)},
        )
        assert signed_in.status_code == 302, signed_in.text
        dialog = browser.get("/settings/calendar/", params={"connect": "google"})
        assert dialog.status_code == 200
        assert 'action="/settings/calendar/connect/google/"' in dialog.text
        started = browser.post(
            "/settings/calendar/connect/google/", data={"csrfmiddlewaretoken": csrf_token(dialog)}
        )
        assert started.status_code == 302, started.text
        consent_url = started.headers["Location"]
        google_url = re.search(r"Google:\s+(http://127\.0\.0\.1:\d+)", demo.output).group(1)  # type: ignore[union-attr]
        assert consent_url.startswith(f"{google_url}/o/oauth2/v2/auth?")
        callback = submit_consent(consent_url, button=GOOGLE_ALLOW)
        assert callback.startswith(f"{base}/oauth/google/callback?")
        landed = browser.get(callback)
        assert landed.status_code == 302 and landed.headers["Location"] == "/dashboard/", landed.text
        dashboard = browser.get("/dashboard/")
        assert dashboard.status_code == 200
        assert "Your Google calendar newhost@example.com is connected" in dashboard.text
        assert 'data-health="ok"' in dashboard.text

    starts = slot_starts(base, anchor, 60, slug="newhost")
    assert starts, "the connected page offers no times"
    busy_day, busy_hour = providers.PROVIDER_BUSY
    assert overlaps(starts, 60, at(anchor, busy_day, busy_hour), at(anchor, busy_day, busy_hour + 1)) == []
    assert at(anchor, busy_day, busy_hour - 2) in starts  # the same day stays open around it
    day, hour = providers.PROVIDER_TENTATIVE
    assert overlaps(starts, 60, at(anchor, day, hour), at(anchor, day, hour + 1)) == []
    day, hour = providers.PROVIDER_FREE
    assert at(anchor, day, hour) in starts  # shown as free
    assert demo.interrupt() == 0
    assert "Traceback" not in demo.output
