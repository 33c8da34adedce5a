"""``python -m yoyaku.demo``: Yoyaku on SQLite with a real CalDAV calendar, a mail catcher, local
Google, Microsoft 365 and Exchange servers to connect, and three hosts' pages.

Order matters: the local servers start first because Django's settings read
their addresses from the environment once, when Django loads; then the
database is migrated and filled; the web server comes last. Ctrl-C (or
SIGTERM) stops everything in reverse order.
"""

from __future__ import annotations

import argparse
import logging
import os
import secrets
import signal
import sys
import threading
import webbrowser
from datetime import date, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from yoyaku.demo.calendar_data import (
    DEMO_ALL_DAY_DAY,
    DEMO_EXDATE_DAY,
    DEMO_FREE,
    DEMO_MOVED_FROM_DAY,
    DEMO_MOVED_TO,
    DEMO_TENTATIVE,
    DEMO_WEEKLY_HOUR,
    demo_anchor,
    demo_calendar_events,
)
from yoyaku.demo.radicale import free_port
from yoyaku.demo.services import (
    RadicaleService,
    Service,
    ServiceStack,
    SmtpService,
    TaskConsumerService,
    WebService,
    say,
)

if TYPE_CHECKING:
    from yoyaku.demo.providers import ExchangeService
    from yoyaku.demo.setup import DemoData

CALDAV_USERNAME = "demo"
DEMO_LIMITS = {
    "YOYAKU_BOOKING_RATE_LIMIT": "1000/m",
    "YOYAKU_PUBLIC_RATE_LIMIT": "10000/m",
    "YOYAKU_SIGNIN_MAX_FAILURES": "1000",
    "YOYAKU_SIGNIN_USERNAME_MAX_FAILURES": "1000",
}
CALENDAR_NAME = "work"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m yoyaku.demo", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--port", type=int, default=8000, help="web server port on 127.0.0.1 (0: any free port)"
    )
    parser.add_argument(
        "--data-dir", type=Path, default=Path("var") / "demo", help="SQLite database and calendar storage"
    )
    # A re-run keeps the zone a host has (the person may have changed it): these apply to new hosts.
    parser.add_argument(
        "--time-zone", default="Europe/Berlin", help="the demo host's time zone, when first made"
    )
    parser.add_argument(
        "--offline-time-zone", default="Asia/Tokyo", help="the offline host's time zone, when first made"
    )
    parser.add_argument("--no-browser", action="store_true", help="do not open the scheduling page")
    parser.add_argument(
        "--no-providers",
        action="store_true",
        help="do not start the local Google, Microsoft 365 and Exchange servers (Connect then offers CalDAV)",
    )
    args = parser.parse_args(argv)
    for zone in (args.time_zone, args.offline_time_zone):
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            parser.error(f"unknown time zone {zone!r}; use an IANA name such as Europe/Berlin")
    return args


def prepare_environment(*, data_dir: Path, extra: dict[str, str]) -> None:
    """Point Django at the demo's own data folder, embedded mode, before settings load."""
    for name in ("YOYAKU_DATABASE_URL", "YOYAKU_REDIS_URL", "YOYAKU_SQLITE_PATH", "YOYAKU_TEST_DATABASE"):
        os.environ.pop(name, None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "yoyaku.settings"
    os.environ["YOYAKU_DATA_DIR"] = str(data_dir)
    # Tasks the web process queues (calendar writes, the sync after connecting) run inline; the task
    # consumer the demo starts (with its own setting) runs the periodic sync of every calendar.
    os.environ["YOYAKU_TASKS_IMMEDIATE"] = "1"
    os.environ["YOYAKU_ALLOWED_CALENDAR_NETWORKS"] = "127.0.0.0/8,::1/128"
    # A person trying the demo books, fails and retries from one address far more than a visitor of a
    # real page: the production abuse limits (20 booking attempts an hour) would lock them out.
    # Limits the person set themselves are kept.
    for name, value in DEMO_LIMITS.items():
        os.environ.setdefault(name, value)
    os.environ.update(extra)


def stored_secret(data_dir: Path, name: str) -> str:
    """A random secret kept in the data folder, so a re-run prints the same password."""
    path = data_dir / name
    if not path.exists():
        path.write_text(secrets.token_urlsafe(12))
        path.chmod(0o600)
    return path.read_text().strip()


def describe_calendar(*, anchor: date) -> list[str]:
    def day(offset: int) -> str:
        return (anchor + timedelta(days=offset)).strftime("%a %d %b")

    hour = DEMO_WEEKLY_HOUR
    return [
        f"weekly team sync {day(1)[:3]}/{day(3)[:3]} {hour}:00-{hour + 1}:00 from {day(1)}; "
        f"{day(DEMO_MOVED_FROM_DAY)} moved to {day(DEMO_MOVED_TO[0])} {DEMO_MOVED_TO[1]}:00, "
        f"{day(DEMO_EXDATE_DAY)} cancelled",
        f"all-day conference {day(DEMO_ALL_DAY_DAY)}; "
        f"tentative call {day(DEMO_TENTATIVE[0])} {DEMO_TENTATIVE[1]}:00 (blocks); "
        f"focus time {day(DEMO_FREE[0])} {DEMO_FREE[1]}:00 shown as free (does not block)",
    ]


def connect_steps(*, base: str, username: str, password: str, exchange: ExchangeService) -> list[str]:
    """What to click to connect the new host's calendar, for the terminal."""
    from yoyaku.demo.providers import EXCHANGE_EMAIL, describe_events

    events = describe_events(exchange.events())
    return [
        "",
        "  Connect a calendar (the Google, Microsoft and Exchange servers above run on this machine):",
        f"    1. Sign in at {base}{_sign_in_path()} as {username}, password {password}",
        f"       (no calendar yet: {base}/m/{username} takes requests only).",
        f"    2. Open {base}/settings/calendar/, press Connect calendar, choose Google.",
        "    3. Press Accept and connect; on the local Google consent page press Allow.",
        "       You are back on the dashboard with Google connected.",
        f"    4. {base}/m/{username} now offers times around the connected calendar's events:",
        f"       {events} (free does not block).",
        "    Office 365 works the same (press Accept on its consent page). Exchange asks for",
        f"    email {EXCHANGE_EMAIL}, password {exchange.password},",
        f"    EWS URL {exchange.ews_url}.",
        "    One calendar per user: disconnect on the dashboard before trying the next provider.",
    ]


def summary(*, base: str, demo: DemoData, zone: str, offline_zone: str) -> list[str]:
    sign_in = f"{base}{_sign_in_path()}"
    rule = "=" * 72
    return [
        "",
        rule,
        "Yoyaku demo is running. Press Ctrl-C to stop. Mails sent by the demo are printed below.",
        "",
        f"  Scheduling page:  {base}/m/{demo.link.slug}   "
        f"({demo.host.display_name}, {zone}, CalDAV calendar)",
        f"  Offline page:     {base}/m/{demo.offline_link.slug}   "
        f"({demo.offline_host.display_name}, {offline_zone}, no calendar: requests)",
        f"  New host's page:  {base}/m/{demo.new_host_link.slug}   "
        f"({demo.new_host.display_name}, {zone}, no calendar until you connect one: see above)",
        f"  Sign in:          {sign_in}",
        *(
            f"                    user {user.username}, password {demo.password}   ({what})"
            for user, what in (
                (demo.host, "with the calendar"),
                (demo.offline_host, "offline: answers requests"),
                (demo.new_host, "connects a calendar"),
            )
        ),
        f"  Admin:            {base}/admin/   (user {demo.host.username})",
        f"  API docs:         {base}/api/v1/docs   (Authorization: Bearer {demo.api_key})",
        rule,
    ]


def _sign_in_path() -> str:
    from django.conf import settings
    from django.urls import Resolver404, resolve

    try:
        resolve(settings.LOGIN_URL)
    except Resolver404:
        return "/admin/login/"
    return str(settings.LOGIN_URL)


def run(
    args: argparse.Namespace, stack: ServiceStack, stop: threading.Event, *, running: threading.Event
) -> int:
    data_dir = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    port = args.port or free_port()
    zone = args.time_zone
    anchor = demo_anchor(today=datetime.now(ZoneInfo(zone)).date())

    caldav = RadicaleService(
        data_dir=data_dir / "radicale",
        username=CALDAV_USERNAME,
        password=stored_secret(data_dir, "caldav_password"),
    )
    # The servers Django talks to; each one's environ() points the settings at it.
    backing: list[Service] = [SmtpService(), caldav]
    exchange: ExchangeService | None = None
    if not args.no_providers:
        # Imported only when used: the emulators pull in the provider client libraries.
        from yoyaku.demo.providers import ExchangeService, GoogleService, MicrosoftService

        exchange_password = stored_secret(data_dir, "exchange_password")
        exchange = ExchangeService(time_zone=zone, anchor=anchor, password=exchange_password)
        backing += [
            GoogleService(time_zone=zone, anchor=anchor),
            MicrosoftService(time_zone=zone, anchor=anchor),
            exchange,
        ]
    environ: dict[str, str] = {}
    for service in backing:
        stack.start(service)
        environ.update(service.environ())
    web = WebService(port=port)
    prepare_environment(data_dir=data_dir, extra={**environ, **web.environ()})

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    # The pages name their stylesheets and scripts by the hashed names collectstatic records, as in
    # production (debug is off here too).
    call_command("collectstatic", interactive=False, verbosity=0)

    caldav.calendar_url = caldav.server.ensure_calendar(CALENDAR_NAME)
    caldav.server.seed(caldav.calendar_url, demo_calendar_events(time_zone=zone, today=anchor))

    from yoyaku.demo.setup import set_up_demo

    demo = set_up_demo(
        password=stored_secret(data_dir, "demo_password"),
        time_zone=zone,
        offline_time_zone=args.offline_time_zone,
        caldav_url=caldav.server.url,
        calendar_url=caldav.calendar_url,
        caldav_username=caldav.server.username,
        caldav_password=caldav.server.password,
    )
    # The first sync of the demo's calendars, inline, so the pages have busy time from the start;
    # the consumer's poll keeps them current from then on.
    from yoyaku.calendar_sync.tasks import queue_due_syncs

    queue_due_syncs()
    stack.start(TaskConsumerService(data_dir=data_dir))
    try:
        stack.start(web)
    except OSError as error:
        say(f"The web server cannot listen on 127.0.0.1:{port} ({error.strerror}); try --port 0.")
        return 1
    # A line per refused request ("Not Found: /favicon.ico", a 409 on a taken time) is the web
    # server's access log by another name; the demo keeps the terminal for mails. Errors still show.
    # Set after the web server loaded Django's WSGI handler, whose set-up configures logging afresh.
    logging.getLogger("django.request").setLevel(logging.ERROR)

    base = web.url
    lines = ["", "  Local servers:"]
    for service in stack.started:
        if service is web:
            continue
        for index, line in enumerate(service.describe()):
            label = f"{service.name}:" if index == 0 else ""
            lines.append(f"  {label:<17} {line}")
    lines += ["", "  The demo calendar holds:"] + [
        f"    - {line}" for line in describe_calendar(anchor=anchor)
    ]
    if exchange is not None:
        lines += connect_steps(
            base=base, username=demo.new_host.username, password=demo.password, exchange=exchange
        )
    lines.append(f"  Data folder: {data_dir}")
    # The addresses a person needs come last, where the terminal leaves them, in a box of their own.
    lines += summary(base=base, demo=demo, zone=zone, offline_zone=args.offline_time_zone)
    say("\n".join(lines) + "\n")

    if not args.no_browser and _has_gui():
        webbrowser.open(f"{base}/m/{demo.link.slug}")
    running.set()
    while not stop.wait(timeout=1.0):
        pass
    return 0


def _has_gui() -> bool:
    # Without a display, webbrowser may pick a text browser that takes over the terminal.
    return sys.platform in {"darwin", "win32"} or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


class _Interrupted(Exception):
    """Ctrl-C or SIGTERM while the demo was still starting."""


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stack = ServiceStack()
    stop = threading.Event()
    running = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()
        if not running.is_set():
            raise _Interrupted  # cut the start short; the finally below stops what is up

    # Set explicitly: a shell that starts the demo in the background ignores SIGINT for it.
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    code = 1
    try:
        code = run(args, stack, stop, running=running)
    except (_Interrupted, KeyboardInterrupt):
        code = 0
    except Exception:
        # Ctrl-C reaches the whole process group: a server may die of it a moment before
        # this process notices, and the start then fails on it. That is a stop, not an error.
        if not stop.is_set():
            raise
        code = 0
    finally:
        running.set()  # from here on a second Ctrl-C only asks again; the stop goes on
        say("\nStopping the demo…")
        for problem in stack.stop_all():
            say(f"  could not stop {problem}")
        say("Stopped.")
    return code
