"""Yoyaku run the way the README's "Deploy" section says: gunicorn with yoyaku.gunicorn_conf (debug off),
`manage.py run_huey` workers, PostgreSQL and Redis, each test on a database made for it and migrated in a
subprocess. Settings read the environment when they are imported, so everything Django here runs in
processes of its own; this process only drives them (HTTP, Chromium) and reads the database.

They use PostgreSQL whatever YOYAKU_TEST_DATABASE says, so they are not marked `postgres` (which would
run them a second time in the PostgreSQL pass); they skip, with the reason, when PostgreSQL or Redis is
not running, and fail then under YOYAKU_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from threading import Barrier
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import icalendar
import psycopg
import pytest
import redis

from tests.conftest import need_service
from tests.emulators.radicale_server import RadicaleServer, free_port
from tests.web.conftest import browser  # noqa: F401 (the shared headless Chromium fixture)

pytestmark = pytest.mark.redis

ROOT = Path(__file__).resolve().parents[1]
GUNICORN = Path(sys.executable).with_name("gunicorn")
ZONE = ZoneInfo("Europe/Berlin")
POSTGRES = "postgresql://postgres@127.0.0.1:5432"

# Run in a process with the production environment: the host, the CalDAV connection and the pages.
SET_UP = """
import json, sys
import django

django.setup()
from tests.factories import connect_caldav, make_host, make_link, sync_now

spec = json.loads(sys.argv[1])
host = make_host("hana", time_zone="Europe/Berlin")
# The first sync, as connecting starts it: the pages offer only what the sync stored.
sync_now(connect_caldav(host, **spec["caldav"]))
for link in spec["links"]:
    make_link(host, **link)
"""


class Stack:
    """The processes of one production installation, and the database and Redis they share."""

    def __init__(self, *, data_dir: Path, database: str, redis_url: str, **settings: str) -> None:
        self.database_url = f"{POSTGRES}/{database}"
        base = {key: value for key, value in os.environ.items() if not key.startswith(("YOYAKU_", "DJANGO_"))}
        self.env = base | {
            "DJANGO_SETTINGS_MODULE": "yoyaku.settings",
            "YOYAKU_DATA_DIR": str(data_dir),
            "YOYAKU_DATABASE_URL": self.database_url,
            "YOYAKU_REDIS_URL": redis_url,
            "YOYAKU_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "YOYAKU_ALLOWED_CALENDAR_NETWORKS": "127.0.0.0/8",
            "YOYAKU_EMAIL_BACKEND": "django.core.mail.backends.dummy.EmailBackend",
            "YOYAKU_LOG_LEVEL": "WARNING",
            "YOYAKU_WEB_WORKERS": "1",
            **settings,
        }
        self.logs = data_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.processes: list[tuple[str, subprocess.Popen[bytes]]] = []

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    def _start(self, name: str, command: list[str], **env: str) -> subprocess.Popen[bytes]:
        log = (self.logs / f"{name}.log").open("wb")
        process = subprocess.Popen(
            command, cwd=ROOT, env=self.env | env, stdout=log, stderr=subprocess.STDOUT
        )
        self.processes.append((name, process))
        return process

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def start_web(self, name: str) -> str:
        """The documented command: gunicorn -c python:yoyaku.gunicorn_conf yoyaku.wsgi."""
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        process = self._start(
            name,
            [str(GUNICORN), "-c", "python:yoyaku.gunicorn_conf", "yoyaku.wsgi"],
            YOYAKU_BIND=f"127.0.0.1:{port}",
            YOYAKU_BASE_URL=url,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, f"{name} exited:\n{self.log(name)}"
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    return url
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"{name} did not answer /healthz in time:\n{self.log(name)}")

    def start_worker(self, name: str) -> None:
        self._start(name, [sys.executable, "manage.py", "run_huey"])

    def wait_ready(self, url: str) -> dict[str, Any]:
        """/readyz, once the workers have written their first heartbeat."""
        deadline = time.monotonic() + 60
        while True:
            response = httpx.get(f"{url}/readyz", timeout=10)
            if response.status_code == 200 or time.monotonic() > deadline:
                body: dict[str, Any] = response.json()
                assert response.status_code == 200, body
                return body
            time.sleep(0.5)

    def sql(self, query: str, *params: object) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            return connection.execute(query, params).fetchall()  # type: ignore[arg-type]

    def stop(self) -> None:
        for _, process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for _, process in self.processes:
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


@contextmanager
def redis_database() -> Iterator[str]:
    """An empty Redis database for the queue and the cache, emptied again afterwards."""
    need_service("Redis", "127.0.0.1", 6379)
    for number in range(14, 0, -1):
        client = redis.Redis(host="127.0.0.1", port=6379, db=number)
        # SETNX on an empty database claims it, so a parallel run takes another one.
        if client.dbsize() == 0 and client.set("yoyaku-test-claim", "1", nx=True):
            try:
                yield f"redis://127.0.0.1:6379/{number}"
            finally:
                client.flushdb()
                client.close()
            return
        client.close()
    pytest.skip("Redis has no empty database (1 to 14) for this test.")


@contextmanager
def production_stack(data_dir: Path, **settings: str) -> Iterator[Stack]:
    """A fresh PostgreSQL database, migrated by `manage.py migrate`, and an empty Redis database."""
    need_service("PostgreSQL", "127.0.0.1", 5432)
    database = f"yoyaku_production_{uuid.uuid4().hex[:10]}"
    with redis_database() as redis_url:
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{database}"')
        stack = Stack(data_dir=data_dir, database=database, redis_url=redis_url, **settings)
        try:
            stack.run("manage.py", "migrate", "--noinput", "--verbosity", "0")
            yield stack
        finally:
            stack.stop()
            with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def set_up_host(
    stack: Stack, radicale: RadicaleServer, calendar_url: str, links: list[dict[str, Any]]
) -> None:
    caldav = {
        "server_url": radicale.url,
        "calendar_url": calendar_url,
        "username": radicale.username,
        "password": radicale.password,
    }
    stack.run("-c", SET_UP, json.dumps({"caldav": caldav, "links": links}))


def day_ahead(days: int) -> date:
    return datetime.now(tz=ZONE).date() + timedelta(days=days)


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)


def calendar_events(radicale: RadicaleServer, calendar_url: str) -> list[Any]:
    """Every VEVENT on the calendar (Radicale answers GET on a collection with the whole calendar)."""
    response = httpx.get(calendar_url, auth=(radicale.username, radicale.password), timeout=30)
    response.raise_for_status()
    return list(icalendar.Calendar.from_ical(response.content).walk("VEVENT"))


def wait_for_calendar_writes(stack: Stack) -> None:
    deadline = time.monotonic() + 120
    query = (
        "SELECT count(*) FROM scheduling_booking WHERE status = 'confirmed' AND calendar_write <> 'written'"
    )
    while stack.sql(query)[0][0] and time.monotonic() < deadline:
        time.sleep(0.5)
    assert stack.sql(query)[0][0] == 0, stack.sql(
        "SELECT calendar_write, calendar_error FROM scheduling_booking"
    )


# -- one server, in a browser ------------------------------------------------------------------------------


@pytest.mark.browser
def test_booking_page_under_gunicorn_loads_its_files_and_books(
    tmp_path: Path,
    browser: Any,  # noqa: F811
    radicale: RadicaleServer,
    caldav_calendar: str,
) -> None:
    with production_stack(tmp_path) as stack:
        book_in_the_browser(stack, browser, radicale, caldav_calendar)


def book_in_the_browser(stack: Stack, browser: Any, radicale: RadicaleServer, caldav_calendar: str) -> None:  # noqa: F811
    from playwright.sync_api import expect

    set_up_host(stack, radicale, caldav_calendar, [{"slug": "intro", "name": "Intro call"}])
    url = stack.start_web("web")
    stack.start_worker("worker")
    ready = stack.wait_ready(url)
    assert ready["checks"]["database"]["detail"] == "postgresql answered"

    context = browser.new_context(timezone_id="Europe/Berlin", locale="en-US")
    page = context.new_page()
    answers: dict[str, int] = {}
    page.on("response", lambda response: answers.__setitem__(response.url, response.status))
    page.goto(f"{url}/m/intro")
    expect(page.locator("#step-pick")).to_be_visible()
    day = page.locator("#days .day.open").first
    expect(day).to_be_visible()
    day.click()
    slot = page.locator("#slots button.slot").first
    expect(slot).to_be_visible()
    start = slot.get_attribute("data-start")
    assert start
    slot.click()
    page.fill("#f-first_name", "Gita")
    page.fill("#f-last_name", "Guest")
    page.fill("#f-email", "gita@example.org")
    page.click("#submit")
    expect(page.locator("#done")).to_be_visible()
    expect(page.locator("#done-title")).to_have_text("You're booked")
    context.close()

    # The stylesheet and the script came from WhiteNoise under their hashed names, and nothing failed.
    assert [u for u, status in answers.items() if status >= 400] == []
    static = {u: s for u, s in answers.items() if "/static/" in u}
    assert any(re.search(r"/static/web/booking\.[0-9a-f]{12}\.css$", u) for u in static), static
    assert any(re.search(r"/static/web/booking\.[0-9a-f]{12}\.js$", u) for u in static), static
    assert set(static.values()) == {200}

    rows = stack.sql("SELECT status, start, email FROM scheduling_booking")
    assert rows == [("confirmed", datetime.fromisoformat(start).astimezone(UTC), "gita@example.org")]
    wait_for_calendar_writes(stack)
    assert [str(event["UID"]) for event in calendar_events(radicale, caldav_calendar)] == [
        f"yoyaku-{uid}" for (uid,) in stack.sql("SELECT id FROM scheduling_booking")
    ]


# -- two servers, two workers --------------------------------------------------------------------------------


BOOKING_LIMIT = 4


def body(start: datetime, n: int, duration: int = 30) -> dict[str, object]:
    return {
        "start": start.isoformat(),
        "duration": duration,
        "timezone": "Europe/Berlin",
        "first_name": "Racer",
        "last_name": str(n),
        "email": f"racer{n}@example.com",
    }


def race(requests: list[tuple[str, dict[str, object], str]]) -> list[int]:
    """POST every (url, body, client address) at once; the proxy header gives each its client address."""
    barrier = Barrier(len(requests))

    def post(request: tuple[str, dict[str, object], str]) -> int:
        url, payload, address = request
        with httpx.Client(timeout=120) as client:
            barrier.wait()
            return client.post(url, json=payload, headers={"X-Forwarded-For": address}).status_code

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(post, requests))


@dataclass
class Cluster:
    stack: Stack
    servers: list[str]
    radicale: RadicaleServer
    calendar_url: str

    def through(self, n: int, slug: str) -> str:
        """The booking endpoint of one server or the other, turn about."""
        return f"{self.servers[n % 2]}/api/v1/book/{slug}"

    def assert_each_booking_written_once(self) -> None:
        wait_for_calendar_writes(self.stack)
        confirmed = self.stack.sql("SELECT id FROM scheduling_booking WHERE status = 'confirmed'")
        uids = [str(event["UID"]) for event in calendar_events(self.radicale, self.calendar_url)]
        assert len(uids) == len(set(uids)), uids
        assert sorted(uids) == sorted(f"yoyaku-{uid}" for (uid,) in confirmed)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, radicale: RadicaleServer) -> Iterator[Cluster]:
    """Two gunicorn servers and two huey consumers on one PostgreSQL and one Redis, with the host's
    CalDAV calendar connected. The bookings of each test are on days of their own."""
    calendar_url = radicale.ensure_calendar(f"production-{uuid.uuid4().hex[:12]}")
    with production_stack(
        tmp_path_factory.mktemp("cluster"),
        YOYAKU_BOOKING_RATE_LIMIT=f"{BOOKING_LIMIT}/h",
        # The test plays the proxy, naming each client in X-Forwarded-For.
        YOYAKU_TRUSTED_PROXIES="127.0.0.1",
    ) as stack:
        set_up_host(
            stack,
            radicale,
            calendar_url,
            [
                {"slug": "intro", "name": "Intro call", "durations": [30, 60]},
                {"slug": "limited", "name": "Two a day", "max_per_day": 2, "increment_minutes": 60},
            ],
        )
        servers = [stack.start_web("web-a"), stack.start_web("web-b")]
        stack.start_worker("worker-a")
        stack.start_worker("worker-b")
        for url in servers:
            stack.wait_ready(url)
        yield Cluster(stack=stack, servers=servers, radicale=radicale, calendar_url=calendar_url)


def test_racing_overlapping_bookings_through_two_servers_never_overlap(cluster: Cluster) -> None:
    # Spans of different lengths, each client from its own address (the booking limit stays out of it).
    day = day_ahead(8)
    requests = []
    for n in range(12):
        start, duration = [(at(day, 10), 60), (at(day, 10), 30), (at(day, 10, 30), 30)][n % 3]
        requests.append((cluster.through(n, "intro"), body(start, n, duration), f"198.51.100.{n + 1}"))
    statuses = race(requests)
    assert set(statuses) <= {201, 409}, statuses
    assert statuses.count(201) in (1, 2)
    spans = cluster.stack.sql(
        'SELECT start, "end" FROM scheduling_reservation WHERE active AND start::date = %s ORDER BY start',
        day,
    )
    assert len(spans) == statuses.count(201)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert end <= start, spans
    cluster.assert_each_booking_written_once()


def test_per_day_limit_holds_across_two_servers(cluster: Cluster) -> None:
    # A page allowing two meetings a day: eight free hours of one day raced for.
    day = day_ahead(9)
    requests = [
        (cluster.through(n, "limited"), body(at(day, 9 + n), 100 + n), f"198.51.100.{101 + n}")
        for n in range(8)
    ]
    statuses = race(requests)
    assert set(statuses) <= {201, 409}, statuses
    booked = cluster.stack.sql(
        "SELECT count(*) FROM scheduling_booking b JOIN scheduling_meetinglink l ON l.id = b.link_id "
        "WHERE l.slug = 'limited' AND b.status = 'confirmed'"
    )[0][0]
    assert (statuses.count(201), booked) == (2, 2), statuses
    cluster.assert_each_booking_written_once()


def test_booking_rate_limit_is_shared_by_two_servers(cluster: Cluster) -> None:
    # One client address, ten free slots, through both servers: only the limit's worth get through.
    day = day_ahead(10)
    requests = [
        (cluster.through(n, "intro"), body(at(day, 9 + n % 8, 30 * (n // 8)), 200 + n), "203.0.113.9")
        for n in range(10)
    ]
    statuses = race(requests)
    assert sorted(statuses) == [201] * BOOKING_LIMIT + [429] * (10 - BOOKING_LIMIT), statuses
    cluster.assert_each_booking_written_once()
