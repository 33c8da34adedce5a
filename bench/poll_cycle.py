"""The fallback poll of many connections, drained by two real huey consumers.

Command: ``python -m bench.poll_cycle [CONNECTIONS] [EVENTS]`` (default 1,000 connections with 10
events each). Needs PostgreSQL on 127.0.0.1:5432 (a scratch database is made and dropped). The
queue is huey's SQLite one, in the run's own data folder: a Redis queue is shared by whatever else
uses that Redis database under the same queue name.

Every connection is a CalDAV calendar of its own on one Radicale (CalDAV has no push, so the poll
is its only way to see changes; one server process also makes a fair bottleneck). Two consumers
(``bench.poll_consumer``: ``run_huey`` with one worker each, every sync recorded) drain:

1. the first poll: every connection due and never synced (a complete listing each);
2. a steady poll: every connection due again, nothing changed (an incremental sync each);
3. every connection queued twice back to back, as a push arriving while the poll's sync waits:
   the lease must keep the two consumers from syncing one connection at the same time.

It prints the cycle's time (from queueing to the end of the last sync), the syncs' own times
(p50, p95) and whether any two syncs of one connection overlapped.
"""

from __future__ import annotations

import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.sync_sources import prepared_radicale_folder

CONSUMERS = 2


def main() -> int:
    numbers = [int(a) for a in sys.argv[1:] if a.isdigit()]
    connections = numbers[0] if numbers else 1000
    events = numbers[1] if len(numbers) > 1 else 10
    import psycopg

    started = time.perf_counter()
    folder = prepared_radicale_folder(events=events, calendars=connections)
    took = time.perf_counter() - started
    print(f"Radicale with {connections:,} calendars of {events} events ready in {took:.0f} s")
    database = f"yoyaku_bench_poll_{os.getpid()}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{database}"')
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "yoyaku.settings",
            "YOYAKU_DATA_DIR": tempfile.mkdtemp(prefix="yoyaku-bench-poll-"),
            "YOYAKU_DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{database}",
            "YOYAKU_ALLOWED_CALENDAR_NETWORKS": "127.0.0.0/8",
            "YOYAKU_SYNC_PUSH": "0",
        }
    )
    consumers: list[subprocess.Popen[bytes]] = []
    try:
        from yoyaku.demo.radicale import RadicaleServer

        with RadicaleServer(data_dir=folder) as radicale:
            ids = set_up(radicale=radicale, connections=connections)
            repository = Path(__file__).resolve().parent.parent
            for _ in range(CONSUMERS):
                consumer = [sys.executable, "-m", "bench.poll_consumer"]
                consumers.append(subprocess.Popen(consumer, cwd=repository))
            time.sleep(3)  # the consumers load Django
            report("first poll (complete listings)", run_cycle(ids, twice=False))
            report("steady poll (incremental, nothing changed)", run_cycle(ids, twice=False))
            report("lease: every connection queued twice back to back", run_cycle(ids, twice=True))
    finally:
        for consumer in consumers:
            consumer.terminate()
        for consumer in consumers:
            consumer.wait(timeout=30)
        from django.db import connections as django_connections

        django_connections.close_all()
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    return 0


def set_up(*, radicale: Any, connections: int) -> list[int]:
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", interactive=False, verbosity=0)
    from yoyaku.accounts.models import CalendarConnection, Provider, Workspace
    from yoyaku.accounts.services import create_user

    workspace = Workspace.objects.create(name="bench")
    made = []
    for number in range(connections):
        user = create_user(username=f"host{number}", workspace=workspace, email=f"host{number}@example.com")
        calendar_url = f"{radicale.url}{radicale.username}/bench-{number}/"
        connection = CalendarConnection(
            user=user,
            provider=Provider.CALDAV,
            account_email=user.email,
            server_url=radicale.url,
            username=radicale.username,
            conflict_calendar_ids=[calendar_url],
            write_calendar_id=calendar_url,
        )
        connection.secret = radicale.password
        made.append(connection)
    CalendarConnection.objects.bulk_create(made)
    return list(CalendarConnection.objects.values_list("pk", flat=True))


def read_records() -> tuple[list[list[Any]], int]:
    """What the consumers recorded so far: the syncs, and the count of leases refused."""
    from django.conf import settings

    syncs: list[list[Any]] = []
    refused = 0
    for path in Path(settings.DATA_DIR).glob("syncs-*.jsonl"):
        for line in path.read_text().splitlines():
            if not line.endswith("]"):
                continue  # being written
            record = json.loads(line)
            if record[0] == "refused":
                refused += 1
            else:
                syncs.append(record)
    return syncs, refused


def run_cycle(ids: list[int], *, twice: bool) -> dict[str, Any]:
    from django.utils import timezone
    from huey.contrib.djhuey import HUEY

    from yoyaku.calendar_sync.models import ConnectionSync
    from yoyaku.calendar_sync.tasks import queue_due_syncs, sync_connection

    _before, refused_before = read_records()
    begun = time.time()
    if twice:
        # As a push notification arriving while the poll's sync of the connection waits in the queue.
        for connection_id in ids:
            sync_connection(connection_id)
            sync_connection(connection_id)
        queued = 2 * len(ids)
    else:
        ConnectionSync.objects.filter(connection_id__in=ids).update(next_poll_at=timezone.now())
        begun = time.time()
        queued = queue_due_syncs()
    enqueued = time.time() - begun
    quiet = 0
    while quiet < 3:  # the queue and the schedule empty, and no sync recorded, for 1.5 s
        time.sleep(0.5)
        syncs, _refused = read_records()
        idle = HUEY.pending_count() == 0 and HUEY.scheduled_count() == 0
        done = {s[0] for s in syncs if s[2] >= begun} >= set(ids)
        quiet = quiet + 1 if idle and done and len(read_records()[0]) == len(syncs) else 0
    syncs, refused = read_records()
    cycle_syncs = [s for s in syncs if s[2] >= begun]
    return {
        "begun": begun,
        "queued": queued,
        "enqueued": enqueued,
        "syncs": cycle_syncs,
        "ids": ids,
        "refused": refused - refused_before,
    }


def report(title: str, cycle: dict[str, Any]) -> None:
    from yoyaku.calendar_sync.tasks import LOCKED_RETRY_SECONDS

    syncs = cycle["syncs"]
    durations = sorted(end - start for _id, _pid, start, end, _ok in syncs)
    first_done: dict[int, float] = {}
    by_connection: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for connection_id, _pid, start, end, _ok in syncs:
        first_done[connection_id] = min(first_done.get(connection_id, end), end)
        by_connection[connection_id].append((start, end))
    overlaps = 0
    for spans in by_connection.values():
        spans.sort()
        overlaps += sum(1 for (_s, e), (s2, _e2) in itertools.pairwise(spans) if s2 < e)
    failed = sum(1 for *_rest, ok in syncs if not ok)
    every_once = max(first_done.values()) - cycle["begun"]
    drained = max(end for *_rest, end, _ok in syncs) - cycle["begun"]
    per_consumer = defaultdict(int)
    for _id, pid, *_rest in syncs:
        per_consumer[pid] += 1
    print(f"\n{title}")
    queued = f"{cycle['queued']:,} ({cycle['enqueued']:.1f} s)"
    print(f"  connections: {len(cycle['ids']):,}; syncs queued: {queued}")
    print(f"  every connection synced once after {every_once:.1f} s; last sync ended after {drained:.1f} s")
    print(f"  syncs run: {len(syncs):,} (per consumer: {sorted(per_consumer.values())}); failed: {failed}")
    print(
        f"  one sync: p50 {statistics.median(durations) * 1000:.0f} ms, "
        f"p95 {durations[int(len(durations) * 0.95) - 1] * 1000:.0f} ms, max {durations[-1] * 1000:.0f} ms"
    )
    print(f"  leases refused (the sync queued again {LOCKED_RETRY_SECONDS} s later): {cycle['refused']:,}")
    print(f"  two syncs of one connection at the same time: {overlaps}")


if __name__ == "__main__":
    sys.exit(main())
