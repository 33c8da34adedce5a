"""Bookings per second under the production server.

Command: ``python -m bench.bookings_per_second [--seconds 15] [--clients 8] [--only offline|caldav]
[--source DIR] [--profile N]``.

Runs Yoyaku as the README's "Deploy" section does: gunicorn with ``yoyaku/gunicorn_conf.py`` (debug off,
its default workers and threads), one ``manage.py run_huey`` consumer, a fresh PostgreSQL database and
an empty Redis database (queue and cache), an SMTP server that accepts everything (aiosmtpd's Sink, in a
process of its own) and, for the CalDAV case, Radicale. ``--clients`` threads, each with its own
keep-alive connection, post ``POST /api/v1/book/{slug}`` for distinct free 15-minute slots for
``--seconds``, on (a) the page of a host without a calendar (offline: the booking is a request, with a
receipt and a host notice) and (b) the page of a host on Radicale (a fresh busy read of the slot's span,
the event written, the iMIP invitation and the host notice). It prints bookings per second, p50/p95
latency, the answers that were not 201, and how long the worker took after the last answer to send
every queued mail and write every event. ``--source`` runs the servers from another checkout (the
figures "before"); ``--profile N`` books N more slots through Django's WSGI handler in one process
under cProfile, with the same settings, and prints where the time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import redis

from yoyaku.demo.radicale import RadicaleServer, free_port

ROOT = Path(__file__).resolve().parents[1]
POSTGRES = "postgresql://postgres@127.0.0.1:5432"
DAYS = 58  # slots from tomorrow on, inside the page's 60 rolling days
SLOT_MINUTES = 15

SET_UP = """
import json, sys
import django

django.setup()
from tests.factories import connect_caldav, make_host, make_link, sync_now

spec = json.loads(sys.argv[1])
all_day = {str(d): [[0, 24 * 60]] for d in range(7)}
for host in spec["hosts"]:
    user = make_host(host["name"], time_zone="UTC", weekly=all_day)
    if host.get("caldav"):
        sync_now(connect_caldav(user, **host["caldav"]))
    make_link(user, slug=host["name"], durations=[15], increment_minutes=15, rolling_days=60)
"""

PROFILE = """
import cProfile, json, pstats, sys, io
import django

django.setup()
from django.test import Client

spec = json.loads(sys.argv[1])
client = Client(HTTP_HOST="127.0.0.1")
def book(start):
    body = {"start": start, "duration": 15, "timezone": "UTC", "first_name": "Pro", "last_name": "File",
            "email": "profile@example.com"}
    response = client.post(f"/api/v1/book/{spec['slug']}", body, content_type="application/json")
    assert response.status_code == 201, response.content
for start in spec["warm"]:
    book(start)
from django.db import connection
from django.test.utils import CaptureQueriesContext
with CaptureQueriesContext(connection) as queries:
    book(spec["starts"].pop())
print(f"{len(queries.captured_queries)} queries in one booking:")
for query in queries.captured_queries:
    print("  ", query["sql"][:160])
profiler = cProfile.Profile()
profiler.enable()
for start in spec["starts"]:
    book(start)
profiler.disable()
out = io.StringIO()
stats = pstats.Stats(profiler, stream=out)
stats.sort_stats("cumulative").print_stats(45)
stats.sort_stats("tottime").print_stats(25)
print(out.getvalue())
"""


class Stack:
    """gunicorn, a huey consumer and an SMTP sink on a fresh PostgreSQL database and Redis database."""

    def __init__(
        self, *, source: Path, data_dir: Path, database: str, redis_url: str, smtp_port: int
    ) -> None:
        self.source = source
        self.database_url = f"{POSTGRES}/{database}"
        base = {k: v for k, v in os.environ.items() if not k.startswith(("YOYAKU_", "DJANGO_"))}
        self.env = base | {
            "DJANGO_SETTINGS_MODULE": "yoyaku.settings",
            "PYTHONPATH": str(source),
            "YOYAKU_DATA_DIR": str(data_dir),
            "YOYAKU_DATABASE_URL": self.database_url,
            "YOYAKU_REDIS_URL": redis_url,
            "YOYAKU_ALLOWED_HOSTS": "127.0.0.1,localhost",
            "YOYAKU_ALLOWED_CALENDAR_NETWORKS": "127.0.0.0/8",
            "YOYAKU_SMTP_HOST": "127.0.0.1",
            "YOYAKU_SMTP_PORT": str(smtp_port),
            "YOYAKU_LOG_LEVEL": "WARNING",
            # One client address books thousands of times here; the limits are for the open internet.
            "YOYAKU_BOOKING_RATE_LIMIT": "1000000/m",
            "YOYAKU_PUBLIC_RATE_LIMIT": "1000000",
        }
        self.logs = data_dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.processes: list[subprocess.Popen[bytes]] = []

    def run(self, *args: str) -> str:
        command = [sys.executable, *args]
        done = subprocess.run(
            command, cwd=self.source, env=self.env, capture_output=True, text=True, check=False
        )
        if done.returncode:
            raise RuntimeError(done.stdout + done.stderr)
        return done.stdout

    def start(self, name: str, command: list[str], **env: str) -> int:
        log = (self.logs / f"{name}.log").open("wb")
        process = subprocess.Popen(
            command, cwd=self.source, env=self.env | env, stdout=log, stderr=subprocess.STDOUT
        )
        self.processes.append(process)
        return process.pid

    def start_web(self) -> str:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        gunicorn = str(Path(sys.executable).with_name("gunicorn"))
        self.web_pid = self.start(
            "web",
            [gunicorn, "-c", "python:yoyaku.gunicorn_conf", "yoyaku.wsgi"],
            YOYAKU_BIND=f"127.0.0.1:{port}",
            YOYAKU_BASE_URL=url,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    return url
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise RuntimeError((self.logs / "web.log").read_text())

    def sql(self, query: str) -> Any:
        with psycopg.connect(self.database_url, autocommit=True) as connection:
            row = connection.execute(query).fetchone()  # type: ignore[arg-type]
            return row[0] if row else None

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def redis_database() -> Iterator[str]:
    for number in range(14, 0, -1):
        client = redis.Redis(host="127.0.0.1", port=6379, db=number)
        if client.dbsize() == 0 and client.set("yoyaku-bench-claim", "1", nx=True):
            try:
                yield f"redis://127.0.0.1:6379/{number}"
            finally:
                client.flushdb()
                client.close()
            return
        client.close()
    raise RuntimeError("Redis has no empty database (1 to 14).")


@contextmanager
def stack(source: Path) -> Iterator[Stack]:
    database = f"yoyaku_bench_{secrets.token_hex(5)}"
    smtp_port = free_port()
    sink_command = ["-m", "aiosmtpd", "-n", "-l", f"127.0.0.1:{smtp_port}", "-c", "aiosmtpd.handlers.Sink"]
    sink = subprocess.Popen(
        [sys.executable, *sink_command],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with redis_database() as redis_url:
        with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
            connection.execute(f'CREATE DATABASE "{database}"')  # type: ignore[arg-type]
        data_dir = Path(tempfile.mkdtemp(prefix="yoyaku-bench-bps-"))
        running = Stack(
            source=source, data_dir=data_dir, database=database, redis_url=redis_url, smtp_port=smtp_port
        )
        try:
            running.run("manage.py", "migrate", "--noinput", "--verbosity", "0")
            yield running
        finally:
            running.stop()
            sink.terminate()
            sink.wait(timeout=10)
            with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
                connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')  # type: ignore[arg-type]


def slot_starts() -> list[str]:
    first = (datetime.now(tz=UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    count = DAYS * 24 * 60 // SLOT_MINUTES
    return [(first + timedelta(minutes=SLOT_MINUTES * n)).isoformat() for n in range(count)]


def load(url: str, *, slug: str, starts: list[str], clients: int, seconds: float) -> dict[str, Any]:
    """``clients`` threads book the next free start each until ``seconds`` have passed."""
    lock = threading.Lock()
    remaining = iter(starts)
    latencies: list[float] = []
    statuses: Counter[int | str] = Counter()
    stop_at = time.monotonic() + seconds

    def client(number: int) -> None:
        with httpx.Client(base_url=url, timeout=60) as http:
            while time.monotonic() < stop_at:
                with lock:
                    start = next(remaining, None)
                if start is None:
                    return
                body = {
                    "start": start,
                    "duration": SLOT_MINUTES,
                    "timezone": "UTC",
                    "first_name": "Bench",
                    "last_name": str(number),
                    "email": f"bench{number}@example.com",
                }
                began = time.perf_counter()
                try:
                    status: int | str = http.post(f"/api/v1/book/{slug}", json=body).status_code
                except httpx.HTTPError as error:
                    status = type(error).__name__
                elapsed = time.perf_counter() - began
                with lock:
                    statuses[status] += 1
                    if status == 201:
                        latencies.append(elapsed)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    latencies.sort()
    booked = statuses.get(201, 0)
    return {
        "booked": booked,
        "seconds": round(wall, 2),
        "per_second": round(booked / wall, 1),
        "p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "p95_ms": round(1000 * latencies[int(0.95 * (len(latencies) - 1))], 1) if latencies else None,
        "errors": {str(k): v for k, v in statuses.items() if k != 201},
    }


def cpu_seconds(root: int) -> float:
    """CPU time of a process, of its children that are running and of those it has waited for."""

    def fields(pid: int) -> list[str]:
        text = Path(f"/proc/{pid}/stat").read_text()
        return text[text.rindex(")") + 2 :].split()

    ticks = os.sysconf("SC_CLK_TCK")
    own = fields(root)
    total = sum(int(v) for v in own[11:15])  # utime, stime, cutime, cstime
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                child = fields(int(entry.name))
            except (OSError, ValueError):
                continue
            if int(child[1]) == root:
                total += int(child[11]) + int(child[12])
    return total / ticks


def drain(running: Stack, *, timeout: float = 600) -> dict[str, Any]:
    """Seconds until the worker has sent every queued mail and written every event."""
    has_queue = running.sql("SELECT to_regclass('mail_outgoingmail') IS NOT NULL")
    mail = "SELECT count(*) FROM mail_outgoingmail WHERE status = 'pending'"
    writes = (
        "SELECT count(*) FROM scheduling_booking WHERE status = 'confirmed' AND calendar_write = 'pending'"
    )
    began = time.perf_counter()
    done: dict[str, Any] = {"mail_s": None if has_queue else "inline", "calendar_s": None}
    while time.perf_counter() - began < timeout:
        if has_queue and done["mail_s"] is None and running.sql(mail) == 0:
            done["mail_s"] = round(time.perf_counter() - began, 1)
        if done["calendar_s"] is None and running.sql(writes) == 0:
            done["calendar_s"] = round(time.perf_counter() - began, 1)
        if done["mail_s"] is not None and done["calendar_s"] is not None:
            break
        time.sleep(0.2)
    if has_queue:
        done["mail_sent"] = running.sql("SELECT count(*) FROM mail_outgoingmail WHERE status = 'sent'")
        done["mail_failed"] = running.sql("SELECT count(*) FROM mail_outgoingmail WHERE status = 'failed'")
    return done


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--only", choices=["offline", "caldav"])
    parser.add_argument("--source", type=Path, default=ROOT)
    parser.add_argument("--profile", type=int, default=0)
    options = parser.parse_args()
    cases = [options.only] if options.only else ["offline", "caldav"]
    starts = slot_starts()
    with RadicaleServer() as radicale, stack(options.source.resolve()) as running:
        calendar = radicale.ensure_calendar(f"bench-{secrets.token_hex(4)}")
        caldav = {
            "server_url": radicale.url,
            "calendar_url": calendar,
            "username": radicale.username,
            "password": radicale.password,
        }
        hosts = [{"name": "offline"}, {"name": "caldav", "caldav": caldav}]
        running.run("-c", SET_UP, json.dumps({"hosts": hosts}))
        url = running.start_web()
        worker = running.start("worker", [sys.executable, "manage.py", "run_huey"])
        pids = {"web": running.web_pid, "worker": worker}
        print(f"machine: nproc {os.cpu_count()}; {options.clients} clients, {options.seconds:g} s per case")
        for case in cases:
            # Warm every gunicorn worker and thread (imports, connections) on slots of the last days.
            warm = load(url, slug=case, starts=starts[-200:], clients=options.clients, seconds=2)
            drain(running)
            cpu_before = {name: cpu_seconds(pid) for name, pid in pids.items()}
            result = load(
                url, slug=case, starts=starts[:-200], clients=options.clients, seconds=options.seconds
            )
            result["drain"] = drain(running)
            booked = max(1, result["booked"])
            result["cpu_ms_per_booking"] = {
                name: round(1000 * (cpu_seconds(pid) - cpu_before[name]) / booked, 2)
                for name, pid in pids.items()
            }
            result["load_average"] = os.getloadavg()[0]
            result["warm_up_booked"] = warm["booked"]
            print(case, json.dumps(result))
            if options.profile:
                used = result["booked"]
                spec = {
                    "slug": case,
                    "warm": starts[used : used + 20],
                    "starts": starts[used + 20 : used + 20 + options.profile],
                }
                print(running.run("-c", PROFILE, json.dumps(spec)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
