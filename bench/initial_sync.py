"""Initial sync of a large calendar, and one pushed change.

Command: ``python -m bench.initial_sync SOURCE [EVENTS] [--memory]``, SOURCE one of ``google``,
``graph`` or ``radicale``.

Seeds SOURCE with EVENTS events (default 10,000; one in twenty a weekly series of ten, the same
events for every source: ``bench/sync_sources.py``), runs one sync of a connection to it on a
temporary SQLite database (or on ``YOYAKU_DATABASE_URL``, which must then be a scratch database),
and prints the wall time, the rows stored, the pages and the time to rebuild the busy index. With
``--memory`` it prints the peak of Python memory during the sync instead (tracemalloc slows the run
down, so the times of that run are not comparable; the client libraries are loaded before, so the
peak is the sync's own working set). The emulators run in processes of their own,
so neither their memory nor their work is counted; Radicale is a process of its own anyway.

For Google and Graph it then times one pushed change: a channel (Google) or subscription (Graph)
is opened, one event added, and the notification the emulator recorded is posted to the webhook;
the sync it queues runs inline (immediate tasks), and the clock stops when a read of the busy
index (as availability reads it) sees the new event.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from bench.sync_sources import (
    EmulatorProcess,
    origin_now,
    prepared_radicale_folder,
    stored_rows,
)

SOURCES = ("google", "graph", "radicale")


def main() -> int:
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if not args or args[0] not in SOURCES:
        print(__doc__)
        return 2
    source = args[0]
    events = int(args[1]) if len(args) > 1 else 10_000
    memory = "--memory" in sys.argv
    data_dir = Path(tempfile.mkdtemp(prefix="yoyaku-bench-sync-"))
    os.environ["YOYAKU_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yoyaku.settings")
    os.environ["YOYAKU_ALLOWED_CALENDAR_NETWORKS"] = "127.0.0.0/8"
    # The sync a notification queues runs inline, so the POST is the whole path to the index.
    os.environ["YOYAKU_TASKS_IMMEDIATE"] = "1"
    with calendar_source(source, events=events, data_dir=data_dir) as (make_connection, emulator):
        import django
        from django.core.management import call_command

        django.setup()
        call_command("migrate", interactive=False, verbosity=0)
        from yoyaku.accounts.calendar_registry import adapter_for
        from yoyaku.accounts.models import Workspace
        from yoyaku.accounts.services import create_user
        from yoyaku.calendar_sync import services
        from yoyaku.calendar_sync.models import SyncedEvent
        from yoyaku.calendar_sync.services import rebuild_index, sync_connection_now

        user = create_user(
            username="bench", workspace=Workspace.objects.create(name="bench"), email="h@example.com"
        )
        connection = make_connection(user)
        pages = count_pages(services)
        if memory:
            # The modules a sync loads (client libraries, the discovery document) are loaded once per
            # process; load them first, so the peak is the sync's own working set.
            with closing(adapter_for(connection)) as adapter:
                adapter.list_calendars()
            tracemalloc.start()
        started = time.perf_counter()
        assert sync_connection_now(connection_id=connection.pk), "the sync failed"
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if memory else 0
        tracemalloc.stop()
        rows = SyncedEvent.objects.filter(connection=connection).count()
        assert rows == stored_rows(events), (rows, stored_rows(events))
        started = time.perf_counter()
        rebuild_index(connection=connection, now=datetime.now(UTC))
        rebuild = time.perf_counter() - started
        print(
            f"source: {source}; events: {events:,} (every 20th a weekly series of 10); rows stored: {rows:,}"
        )
        print(f"pages applied: {pages[0]}")
        if memory:
            print(f"peak Python memory during the sync: {peak / 1e6:.1f} MB")
            return 0
        print(f"initial sync: {elapsed:.1f} s; of it, rebuilding the busy index: {rebuild * 1000:.0f} ms")
        if emulator is not None:
            latency, waited = push_latency(source, emulator, connection)
            print(
                f"one pushed change, notification to an availability read seeing it: {latency:.0f} ms; "
                f"of it, waiting for the emulator's answers: {waited:.0f} ms"
            )
    return 0


def count_pages(services: Any) -> list[int]:
    """Count the pages the engine applies (a wrapper around its per-page step)."""
    count = [0]
    apply_page = services._apply_page

    def counted(**kwargs: Any) -> None:
        count[0] += 1
        apply_page(**kwargs)

    services._apply_page = counted
    return count


@contextmanager
def calendar_source(
    source: str, *, events: int, data_dir: Path
) -> Iterator[tuple[Any, EmulatorProcess | None]]:
    """The seeded source, and a function making a user's connection to it."""
    if source == "radicale":
        from yoyaku.demo.radicale import RadicaleServer

        with RadicaleServer(data_dir=prepared_radicale_folder(events=events)) as radicale:
            calendar_url = radicale.ensure_calendar("bench-0")

            def caldav_connection(user: Any) -> Any:
                from tests.factories import connect_caldav

                return connect_caldav(
                    user,
                    server_url=radicale.url,
                    username=radicale.username,
                    password=radicale.password,
                    calendar_url=calendar_url,
                )

            yield caldav_connection, None
        return
    emulator = EmulatorProcess(source, events=events)
    try:
        os.environ.update(emulator.info["environ"])

        def oauth_connection(user: Any) -> Any:
            from yoyaku.accounts.models import CalendarConnection, Provider
            from yoyaku.calendars.oauth import OAuthTokens

            issued, email = emulator.info["tokens"], emulator.info["email"]
            provider = Provider.GOOGLE if source == "google" else Provider.MICROSOFT
            connection = CalendarConnection(user=user, provider=provider, account_email=email)
            connection.secret = OAuthTokens(
                access_token=str(issued["access_token"]),
                refresh_token=str(issued["refresh_token"]),
                expires_at=datetime.now(UTC) + timedelta(seconds=int(issued["expires_in"])),
                account_email=email,
            ).to_json()
            connection.save()
            return connection

        yield oauth_connection, emulator
    finally:
        emulator.stop()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def live_server() -> Iterator[str]:
    """Yoyaku served on loopback in a thread: Graph calls it back to validate a subscription."""
    from django.core.handlers.wsgi import WSGIHandler

    server = make_server("127.0.0.1", 0, WSGIHandler(), handler_class=_QuietHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def push_latency(source: str, emulator: EmulatorProcess, connection: Any) -> tuple[float, float]:
    """Open a push channel, change one event, post the provider's notification and time it until a
    read of the busy index sees the change. The second of two changes is timed: a running server
    has loaded its URLs, views and client libraries already."""
    from django.conf import settings
    from django.test import Client

    from yoyaku.calendar_sync.busy import read_busy
    from yoyaku.calendar_sync.push import ensure_push

    settings.YOYAKU_SYNC_PUSH = "1"
    with live_server() as base_url:
        settings.YOYAKU_BASE_URL = base_url
        assert ensure_push(connection_id=connection.pk) == 1
    elapsed = 0.0
    waited = time_provider_answers()
    for day in (2, 3):
        # A time the seeded events never take: they all lie ahead.
        begin = origin_now() - timedelta(days=day, minutes=50)
        end = begin + timedelta(minutes=5)
        if source == "google":
            email = emulator.info["email"]
            emulator.call(
                "add_event",
                email,
                {"start": {"dateTime": begin.isoformat()}, "end": {"dateTime": end.isoformat()}},
            )
            headers = next(
                n["headers"]
                for n in reversed(emulator.call("notifications"))
                if n["headers"]["X-Goog-Resource-State"] == "exists"
            )
            post = {"path": "/calendar/push/google/", "headers": headers}
        else:
            emulator.call("add_event", start=begin, end=end)
            payload = emulator.call("notifications_sent")[-1]
            post = {
                "path": "/calendar/push/microsoft/",
                "data": json.dumps(payload),
                "content_type": "application/json",
            }
        span = (int(begin.timestamp()), int(end.timestamp()))
        waited[0] = 0.0
        started = time.perf_counter()
        status = Client().post(**post).status_code
        seen = span in read_busy(
            connection=connection, start=begin - timedelta(hours=1), end=end + timedelta(hours=1)
        )
        elapsed = time.perf_counter() - started
        assert status in (200, 202), status
        assert seen, "the availability read did not see the pushed change"
    return elapsed * 1000, waited[0] * 1000


def time_provider_answers() -> list[float]:
    """Add up the time spent waiting for the provider's HTTP answers (httplib2 for Google, httpx for
    Graph, requests for Entra ID's tokens): the Google emulator answers a syncToken request by scanning
    its whole calendar, which a real provider does not, so that part is reported apart."""
    import httplib2
    import httpx
    import requests

    waited = [0.0]

    def timed(send: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return send(*args, **kwargs)
            finally:
                waited[0] += time.perf_counter() - started

        return wrapper

    httpx.Client.send = timed(httpx.Client.send)  # type: ignore[method-assign]
    httplib2.Http.request = timed(httplib2.Http.request)  # type: ignore[method-assign]
    requests.Session.request = timed(requests.Session.request)  # type: ignore[method-assign]
    return waited


if __name__ == "__main__":
    sys.exit(main())
