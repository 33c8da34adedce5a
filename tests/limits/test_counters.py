"""The abuse-limit counters: one atomic step per hit, shared by every process, on the database and
on Redis."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.db import connection

from yoyaku.limits import counters

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def key() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


class Clock:
    def __init__(self, monkeypatch: pytest.MonkeyPatch, start: float) -> None:
        self.now = start
        monkeypatch.setattr(counters.time, "time", lambda: self.now)


@pytest.mark.django_db
@pytest.mark.postgres
def test_hits_count_up_in_their_window_and_a_new_window_starts_at_one(
    key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = Clock(monkeypatch, 1_000_000.0)
    assert counters.peek(key=key) is None
    assert [counters.hit(key=key, period=60).value for _ in range(3)] == [1, 2, 3]
    clock.now += 45
    seen = counters.hit(key=key, period=60)
    # The window opened at the first hit and does not slide.
    assert (seen.value, seen.resets_in) == (4, 15.0)
    clock.now += 15
    assert counters.peek(key=key) is None
    fresh = counters.hit(key=key, period=60)
    assert (fresh.value, fresh.resets_in) == (1, 60.0)


@pytest.mark.django_db
@pytest.mark.postgres
def test_undo_gives_back_one_hit_and_clear_forgets_the_window(key: str) -> None:
    for _ in range(3):
        counters.hit(key=key, period=60)
    counters.undo(key=key)
    peeked = counters.peek(key=key)
    assert peeked is not None and peeked.value == 2
    counters.clear(key=key)
    assert counters.peek(key=key) is None
    counters.undo(key=key)  # nothing to give back: no window is opened by it
    assert counters.peek(key=key) is None


# Hits on one key from a separate interpreter (a worker process of its own), printed as JSON.
SCRIPT = """
import json, sys
import django

django.setup()
from yoyaku.limits import counters

key, hits = sys.argv[1], int(sys.argv[2])
print(json.dumps([counters.hit(key=key, period=3600).value for _ in range(hits)]))
"""


def _environment(tmp_path: Path, **extra: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("YOYAKU_", "DJANGO_"))}
    environment |= {"DJANGO_SETTINGS_MODULE": "yoyaku.settings", "YOYAKU_DATA_DIR": str(tmp_path), **extra}
    return environment


def _database_environment() -> dict[str, str]:
    """The test database, as the worker processes must reach it."""
    settings = connection.settings_dict
    if connection.vendor == "postgresql":
        host, port = settings["HOST"] or "127.0.0.1", settings["PORT"] or 5432
        return {"YOYAKU_DATABASE_URL": f"postgresql://{settings['USER']}@{host}:{port}/{settings['NAME']}"}
    return {"YOYAKU_SQLITE_PATH": str(settings["NAME"])}


def _race(key: str, tmp_path: Path, processes: int, hits: int, **env: str) -> list[int]:
    started = [
        subprocess.Popen(
            [sys.executable, "-c", SCRIPT, key, str(hits)],
            cwd=ROOT,
            env=_environment(tmp_path, **env),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(processes)
    ]
    values: list[int] = []
    for process in started:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        values.extend(json.loads(out))
    return values


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres
def test_processes_share_one_count_in_the_database(key: str, tmp_path: Path) -> None:
    values = _race(key, tmp_path, processes=3, hits=40, **_database_environment())
    # Every hit of every process got a count of its own: nothing counted twice, nothing lost.
    assert sorted(values) == list(range(1, 121))
    peeked = counters.peek(key=key)
    assert peeked is not None and peeked.value == 120


@pytest.mark.redis
def test_processes_share_one_count_on_redis(redis_url: str, key: str, tmp_path: Path) -> None:
    import redis

    values = _race(key, tmp_path, processes=3, hits=40, YOYAKU_REDIS_URL=redis_url)
    assert sorted(values) == list(range(1, 121))
    client = redis.Redis.from_url(redis_url)
    stored = list(client.scan_iter(match=f"yoyaku-cache:*{key}"))
    # The key carries its window as an expiry, so it can never outlive it.
    assert stored and all(0 < client.ttl(name) <= 3600 for name in stored)
    client.delete(*stored)
    client.close()
