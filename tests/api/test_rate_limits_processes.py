"""Every process sees the same counts: with YOYAKU_REDIS_URL they are on Redis, without it in the
database (never in one process's memory).

Settings read the environment when they are imported, so each process here is a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

ROOT = Path(__file__).resolve().parents[2]
ADDRESS = "203.0.113.5"

# One request through the booking throttle, or one sign-in failure, then what this process sees.
SCRIPT = """
import json, sys
import django

django.setup()
from django.conf import settings
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import RequestFactory

from yoyaku.accounts import sign_in_limits
from yoyaku.api.throttling import ClientRateThrottle
from yoyaku.limits import counters

call_command("migrate", verbosity=0)
mode, scope, address = sys.argv[1:4]
backend = settings.CACHES["default"]["BACKEND"]
if mode == "throttle":
    throttle = ClientRateThrottle(scope=scope, setting="YOYAKU_BOOKING_RATE_LIMIT")
    allowed = throttle.allow_request(RequestFactory().post("/", REMOTE_ADDR=address))
    count = counters.peek(key=f"yoyaku-rate:{scope}:{address}").value
    print(json.dumps({"backend": backend, "allowed": allowed, "wait": throttle.wait(), "count": count}))
else:
    before = sign_in_limits.locked_for(username=scope, address=address)
    authenticate(RequestFactory().post("/", REMOTE_ADDR=address), username=scope, password="wrong")
    print(json.dumps({"backend": backend, "locked_before": before}))
"""


@pytest.fixture
def scope() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def server(redis_url: str) -> Iterator[redis.Redis]:
    """The test database's client; the cache keys the test adds are removed after it."""
    client = redis.Redis.from_url(redis_url)
    before = set(client.scan_iter(match="yoyaku-cache:*"))
    yield client
    added = set(client.scan_iter(match="yoyaku-cache:*")) - before
    if added:
        client.delete(*added)
    client.close()


def run(mode: str, scope: str, tmp_path: Path, **env: str) -> dict[str, Any]:
    environment = {
        key: value for key, value in os.environ.items() if not key.startswith(("YOYAKU_", "DJANGO_"))
    }
    environment |= {
        "DJANGO_SETTINGS_MODULE": "yoyaku.settings",
        "YOYAKU_DATA_DIR": str(tmp_path),
        "YOYAKU_BOOKING_RATE_LIMIT": "1/h",
        "YOYAKU_SIGNIN_MAX_FAILURES": "1",
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode, scope, ADDRESS],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.redis
def test_two_processes_share_the_booking_limit(
    redis_url: str, server: redis.Redis, scope: str, tmp_path: Path
) -> None:
    first = run("throttle", scope, tmp_path, YOYAKU_REDIS_URL=redis_url)
    second = run("throttle", scope, tmp_path, YOYAKU_REDIS_URL=redis_url)
    assert first["backend"] == "django.core.cache.backends.redis.RedisCache"
    assert (first["allowed"], first["wait"], first["count"]) == (True, None, 1)
    # The second process counts on from the first: its request is the second in the hour, over "1/h".
    assert (second["allowed"], second["count"]) == (False, 2)
    assert 1 <= second["wait"] <= 3600
    # Stored under the cache's own prefix, apart from the task queue's keys.
    assert list(server.scan_iter(match=f"yoyaku-cache:*yoyaku-rate:{scope}:*"))


@pytest.mark.redis
def test_two_processes_share_sign_in_failures(
    redis_url: str, server: redis.Redis, scope: str, tmp_path: Path
) -> None:
    first = run("sign-in", scope, tmp_path, YOYAKU_REDIS_URL=redis_url)
    assert first["backend"] == "django.core.cache.backends.redis.RedisCache"
    assert first["locked_before"] is None
    # One failure is the limit here: the second process finds the username locked by the first's.
    locked = run("sign-in", scope, tmp_path, YOYAKU_REDIS_URL=redis_url)["locked_before"]
    assert locked is not None and locked > 0
    assert list(server.scan_iter(match="yoyaku-cache:*yoyaku-signin:*"))


def test_without_redis_processes_share_the_count_in_the_database(tmp_path: Path, scope: str) -> None:
    runs = [run("throttle", scope, tmp_path) for _ in range(2)]
    assert {result["backend"] for result in runs} == {"django.core.cache.backends.db.DatabaseCache"}
    # One SQLite file in tmp_path for both: the second process counts on from the first.
    assert [(result["allowed"], result["count"]) for result in runs] == [(True, 1), (False, 2)]


def test_without_redis_processes_share_sign_in_failures(tmp_path: Path, scope: str) -> None:
    assert run("sign-in", scope, tmp_path)["locked_before"] is None
    locked = run("sign-in", scope, tmp_path)["locked_before"]
    assert locked is not None and locked > 0
