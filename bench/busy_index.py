"""Busy index and availability request benchmark: ``python -m bench.busy_index`` (``make bench-sync``).

1. The busy index alone: cutting a 60-day window out of a connection's packed index of 1,000 and
   10,000 events, against decoding the same pairs from JSON (the read-through copy it replaced).
2. An availability request, warm, on the standard workload (bench/workload.py) with each host's busy
   time in its synced index: S (one host, 500 events, 30 days) and R (round robin, 50 hosts, 1,000
   events each, 60 days). Measured twice: the selector the pages and the API share
   (``scheduling.selectors.available_slots``), and the whole server side of the public API
   (``GET /api/v1/book/<slug>/availability`` through Django's test client: middleware, the rate
   limit's counter, the selector, the JSON answer). It runs on SQLite in a temporary folder, or on
   the database YOYAKU_DATABASE_URL names (a scratch PostgreSQL database: the bench creates and
   deletes its rows there).
Medians and 95th percentiles of ``--runs`` requests (default 51); the queries of one request are counted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench.run import parse_utc
from bench.workload import generate

RUNS = 51


def timings(
    fn: Callable[[], object], *, runs: int, clock: Callable[[], float] = time.perf_counter
) -> list[float]:
    """Seconds of each of ``runs`` calls, by ``clock``."""
    times = []
    for _ in range(runs):
        start = clock()
        fn()
        times.append(clock() - start)
    return times


def median_us(fn: Callable[[], object], *, runs: int) -> float:
    return statistics.median(timings(fn, runs=runs)) * 1e6


def request_ms(fn: Callable[[], object], *, runs: int) -> tuple[float, float, float]:
    """Wall time p50 and p95, and the process's CPU time p50, in milliseconds.

    The CPU time leaves out waiting for the database server and for other jobs of a shared machine: it
    is steadier than the wall time there (on PostgreSQL it also leaves out the server's own work).
    """
    times = sorted(timings(fn, runs=runs))
    cpu = timings(fn, runs=runs, clock=time.process_time)
    p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
    return statistics.median(times) * 1000, p95 * 1000, statistics.median(cpu) * 1000


def index_figures() -> list[str]:
    from yoyaku.calendar_sync.index import cut, cut_spans, pack

    rng = random.Random(20270301)
    origin = int(datetime(2027, 1, 1, tzinfo=UTC).timestamp())
    lines = [
        "| events in the index | cut to 60 days, as tuples (µs) | as Spans (µs) | spans returned "
        "| JSON decode + clip (µs) |",
        "|---|---|---|---|---|",
    ]
    for events in (1_000, 10_000):
        pairs = []
        for _ in range(events):
            start = origin + rng.randrange(0, 400 * 86400, 300)
            pairs.append((start, start + rng.randrange(15, 121, 5) * 60))
        blob = pack(pairs)
        as_json = json.dumps(sorted(pairs))
        lo, hi = origin + 100 * 86400, origin + 160 * 86400
        spans = cut(blob, start=lo, end=hi)
        cut_us = median_us(lambda blob=blob, lo=lo, hi=hi: cut(blob, start=lo, end=hi), runs=2001)
        spans_us = median_us(lambda blob=blob, lo=lo, hi=hi: cut_spans(blob, start=lo, end=hi), runs=2001)

        def decode(as_json: str = as_json, lo: int = lo, hi: int = hi) -> list[tuple[int, int]]:
            return [(a, b) for a, b in json.loads(as_json) if b > lo and a < hi]

        json_us = median_us(decode, runs=201)
        lines.append(f"| {events:,} | {cut_us:.1f} | {spans_us:.1f} | {len(spans)} | {json_us:.1f} |")
    return lines


def setup_django() -> None:
    if not os.environ.get("YOYAKU_DATABASE_URL"):
        os.environ["YOYAKU_DATA_DIR"] = tempfile.mkdtemp(prefix="yoyaku-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "yoyaku.settings")
    import django
    from django.core.management import call_command

    django.setup()
    from django.conf import settings

    # Making the pages mails the co-hosts; the bench keeps those mails in memory.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    # The bench asks far more often than a booker may; the counter is still hit on every request.
    settings.YOYAKU_PUBLIC_RATE_LIMIT = "1000000/m"
    call_command("migrate", interactive=False, verbosity=0)


def request_figures(*, runs: int, profile: int = 0) -> list[str]:
    from django.db import connection as db
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.utils import timezone

    from yoyaku.accounts.models import CalendarConnection, Provider, Workspace
    from yoyaku.accounts.services import create_user
    from yoyaku.calendar_sync.index import pack
    from yoyaku.calendar_sync.models import ConnectionSync
    from yoyaku.scheduling.host_services import create_link, set_availability
    from yoyaku.scheduling.models import LinkKind, MeetingLink
    from yoyaku.scheduling.selectors import available_slots

    workload = generate()
    workspace = Workspace.objects.create(name=f"bench {time.time_ns()}")
    tag = workspace.pk
    lines = [
        "| case | slots | selector p50 (ms) | p95 | CPU p50 | queries "
        "| API GET p50 (ms) | p95 | CPU p50 | queries |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    client = Client()
    try:
        for case_name, kind, increment in (("S", LinkKind.ONE_ON_ONE, 30), ("R", LinkKind.ROUND_ROBIN, 15)):
            case = workload[case_name]
            names = []
            for host in case["hosts"]:
                name = f"bench{tag}-{case_name}-{host['id']}"
                user = create_user(username=name, workspace=workspace, email=f"{name}@example.com")
                set_availability(
                    user=user,
                    time_zone=host["timeZone"],
                    weekly={str((d - 1) % 7): [[9 * 60, 17 * 60]] for d in host["days"]},
                    overrides={},
                )
                calendar = CalendarConnection(user=user, provider=Provider.CALDAV, account_email=user.email)
                calendar.secret = "unused: availability never calls the calendar"
                calendar.save()
                ConnectionSync.objects.create(
                    connection=calendar,
                    busy_index=pack((parse_utc(a), parse_utc(b)) for a, b in host["busy"]),
                    last_success_at=timezone.now(),
                    covered_until=datetime.fromisoformat(case["to"].replace("Z", "+00:00"))
                    + timedelta(days=2),
                )
                names.append(name)
            owner = names[0]
            from yoyaku.accounts.models import User

            link = create_link(
                owner=User.objects.get(username=owner),
                slug=f"bench{tag}-{case_name.lower()}",
                name="Bench",
                kind=kind,
                host_usernames=names if kind == LinkKind.ROUND_ROBIN else [],
                durations=[case["eventLength"]],
                increment_minutes=increment,
                # Fixed dates (the workload has no horizon): the window stays bookable whatever today is.
                fixed_start=date.fromisoformat(case["from"][:10]),
                fixed_end=date.fromisoformat(case["to"][:10]),
            )
            link = MeetingLink.objects.select_related("owner").get(pk=link.pk)
            start = datetime.fromisoformat(case["from"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(case["to"].replace("Z", "+00:00"))

            def request(
                link: MeetingLink = link,
                start: datetime = start,
                end: datetime = end,
                zone: str = case["inviteeTimeZone"],
            ) -> Any:
                return available_slots(
                    link=link, start=start, end=end, time_zone=zone, duration=30, now=timezone.now()
                )

            # The API takes local dates in the booker's zone: in UTC they are the workload's window.
            url = (
                f"/api/v1/book/{link.slug}/availability?start={case['from'][:10]}"
                f"&end={(end - timedelta(days=1)).date().isoformat()}&timezone=UTC&duration=30"
            )

            def get(url: str = url) -> Any:
                response = client.get(url)
                assert response.status_code == 200, response.content
                return response

            result = request()
            with CaptureQueriesContext(db) as captured:
                request()
            # Counted at once: each request through the client starts by clearing the query log.
            queries = len(captured.captured_queries)
            api_slots = sum(len(day["slots"]) for day in get().json()["days"])
            with CaptureQueriesContext(db) as captured:
                get()
            api_queries = len(captured.captured_queries)
            p50, p95, cpu = request_ms(request, runs=runs)
            api_p50, api_p95, api_cpu = request_ms(get, runs=runs)
            slots = sum(len(v) for v in result.slots.values())
            assert api_slots == slots, (api_slots, slots)
            if profile and case_name == "R":
                print_profile(get, runs=profile)
            lines.append(
                f"| {case_name} | {slots} | {p50:.2f} | {p95:.2f} | {cpu:.2f} | {queries} "
                f"| {api_p50:.2f} | {api_p95:.2f} | {api_cpu:.2f} | {api_queries} |"
            )
    finally:
        from yoyaku.accounts.models import User

        MeetingLink.objects.filter(owner__workspace=workspace).delete()
        User.objects.filter(workspace=workspace).delete()
        workspace.delete()
    return lines


def print_profile(fn: Callable[[], object], *, runs: int) -> None:
    """Where ``runs`` calls of ``fn`` spend their time (cProfile, own time and cumulative)."""
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(runs):
        fn()
    profiler.disable()
    stats = pstats.Stats(profiler, stream=sys.stdout)
    print(f"\nProfile of {runs} API requests of case R:")
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(45)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS, help="requests timed per case")
    parser.add_argument("--requests-only", action="store_true", help="skip the busy index alone")
    parser.add_argument(
        "--profile", type=int, default=0, metavar="N", help="profile N API requests of case R"
    )
    args = parser.parse_args()
    if not args.requests_only:
        print("Busy index, one connection:")
        print("\n".join(index_figures()))
    setup_django()
    from django.db import connection as db

    print(f"\nAvailability request ({db.vendor}, warm, {args.runs} requests per case):")
    print("\n".join(request_figures(runs=args.runs, profile=args.profile)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
