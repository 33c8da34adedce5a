"""Initial sync of a large calendar from the Google emulator.

Command: ``python -m bench.initial_sync [events] [--memory]``.

Seeds the emulator with ``events`` events (default 10,000; one in twenty a weekly series of ten), runs
one sync of a connection to it on a temporary SQLite database, and prints the wall time, the rows
stored and the time to rebuild the busy index; with ``--memory``, the peak of Python memory during the
sync (tracemalloc, which slows the run down, so the times of that run are not comparable). The emulator
runs in the same process, so the wall time includes its own work on the shared core.
"""

from __future__ import annotations

import os
import random
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from typing import Any


def push_latency(emulator: Any, connection: Any, email: str) -> float:
    """Open a push channel, change one event, and time Google's notification POST until the sync it
    queued (inline, as immediate tasks) has updated the busy index. The second of two changes is
    timed: a running server has loaded its URLs, views and client libraries already."""
    from django.conf import settings
    from django.test import Client

    from yoyaku.calendar_sync.push import ensure_push

    settings.YOYAKU_SYNC_PUSH = "1"
    ensure_push(connection_id=connection.pk)
    elapsed = 0.0
    for day in (2, 3):
        begin = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(days=day)
        end = begin + timedelta(hours=1)
        emulator.add_event(
            email, {"start": {"dateTime": begin.isoformat()}, "end": {"dateTime": end.isoformat()}}
        )
        headers = next(
            n["headers"]
            for n in reversed(emulator.notifications)
            if n["headers"]["X-Goog-Resource-State"] == "exists"
        )
        started = time.perf_counter()
        status = Client().post("/calendar/push/google/", headers=headers).status_code
        elapsed = time.perf_counter() - started
        assert status == 200, status
    return elapsed * 1000


def main() -> int:
    numbers = [a for a in sys.argv[1:] if a.isdigit()]
    events = int(numbers[0]) if numbers else 10_000
    memory = "--memory" in sys.argv
    os.environ["YOYAKU_DATA_DIR"] = tempfile.mkdtemp(prefix="yoyaku-bench-sync-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yoyaku.settings")
    os.environ["YOYAKU_ALLOWED_CALENDAR_NETWORKS"] = "127.0.0.0/8"
    # The sync a notification queues runs inline, so the POST's time is the whole path.
    os.environ["YOYAKU_TASKS_IMMEDIATE"] = "1"
    from yoyaku.emulators.google import start

    email = "host@example.com"
    emulator = start(accounts=(email,), deliver_notifications=False)
    try:
        endpoints = emulator.endpoints()
        os.environ.update(
            {
                "YOYAKU_GOOGLE_CLIENT_ID": emulator.client_id,
                "YOYAKU_GOOGLE_CLIENT_SECRET": emulator.client_secret,
                "YOYAKU_GOOGLE_AUTH_URL": endpoints.auth_url,
                "YOYAKU_GOOGLE_TOKEN_URL": endpoints.token_url,
                "YOYAKU_GOOGLE_REVOKE_URL": endpoints.revoke_url,
                "YOYAKU_GOOGLE_USERINFO_URL": endpoints.userinfo_url,
                "YOYAKU_GOOGLE_CALENDAR_API": endpoints.calendar_api,
            }
        )
        import django
        from django.conf import settings
        from django.core.management import call_command

        django.setup()
        settings.YOYAKU_GOOGLE_CLIENT_ID = emulator.client_id
        settings.YOYAKU_GOOGLE_CLIENT_SECRET = emulator.client_secret
        settings.YOYAKU_GOOGLE_ENDPOINTS = {
            "auth_url": endpoints.auth_url,
            "token_url": endpoints.token_url,
            "revoke_url": endpoints.revoke_url,
            "userinfo_url": endpoints.userinfo_url,
            "calendar_api": endpoints.calendar_api,
        }
        call_command("migrate", interactive=False, verbosity=0)

        from yoyaku.accounts.models import CalendarConnection, Provider, Workspace
        from yoyaku.accounts.services import create_user
        from yoyaku.calendar_sync.models import SyncedEvent
        from yoyaku.calendar_sync.services import rebuild_index, sync_connection_now
        from yoyaku.calendars.oauth import OAuthTokens

        rng = random.Random(20270301)
        origin = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        for n in range(events):
            begin = origin + timedelta(minutes=30 * rng.randrange(0, 48 * 300))
            body = {
                "summary": f"Event {n}",
                "start": {"dateTime": begin.isoformat(), "timeZone": "UTC"},
                "end": {"dateTime": (begin + timedelta(minutes=30 * rng.randrange(1, 5))).isoformat()},
            }
            if n % 20 == 0:
                body["recurrence"] = ["RRULE:FREQ=WEEKLY;COUNT=10"]
            emulator.add_event(email, body)

        user = create_user(username="bench", workspace=Workspace.objects.create(name="bench"), email=email)
        issued = emulator.issue_tokens(email)
        connection = CalendarConnection(user=user, provider=Provider.GOOGLE, account_email=email)
        connection.secret = OAuthTokens(
            access_token=str(issued["access_token"]),
            refresh_token=str(issued["refresh_token"]),
            expires_at=datetime.now(UTC) + timedelta(seconds=int(issued["expires_in"])),
            account_email=email,
        ).to_json()
        connection.save()

        if memory:
            tracemalloc.start()
        started = time.perf_counter()
        assert sync_connection_now(connection_id=connection.pk), "the sync failed"
        elapsed = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1] if memory else 0
        tracemalloc.stop()
        rows = SyncedEvent.objects.filter(connection=connection).count()
        started = time.perf_counter()
        rebuild_index(connection=connection, now=datetime.now(UTC))
        rebuild = time.perf_counter() - started
        print(f"events seeded: {events:,} (every 20th a weekly series of 10)")
        print(f"rows stored: {rows:,}")
        print(f"initial sync: {elapsed:.1f} s; of it, rebuilding the busy index: {rebuild * 1000:.0f} ms")
        if memory:
            print(f"peak Python memory during the sync: {peak / 1e6:.0f} MB")
        print(
            "one pushed change, notification to busy index: "
            f"{push_latency(emulator, connection, email):.0f} ms"
        )
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
