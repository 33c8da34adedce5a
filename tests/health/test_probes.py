"""/healthz answers without the database; /readyz names what a request would find missing."""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone
from huey import MemoryHuey, RedisHuey

from yoyaku.health import tasks as health_tasks
from yoyaku.health import views
from yoyaku.health.heartbeat import last_heartbeat, record_heartbeat


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> MemoryHuey:
    """A queue served by a separate worker, as in production (the suite runs tasks inline)."""
    memory = MemoryHuey("yoyaku-test", immediate=False)
    monkeypatch.setattr(views, "HUEY", memory)
    return memory


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_healthz_answers_without_touching_the_database(client: Client) -> None:
    # No django_db mark: any database access in the request would raise here.
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]
    # Load balancers probe with HEAD too; writes are refused.
    assert client.head("/healthz").status_code == 200
    assert client.post("/healthz").status_code == 405


@pytest.mark.django_db
def test_readyz_ok_with_a_recent_worker(client: Client, queue: MemoryHuey) -> None:
    record_heartbeat(queue=queue, now=timezone.now() - timedelta(seconds=30))
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert body["failed"] == []
    assert set(body["checks"]) == {"database", "cache", "queue", "worker"}
    assert all(check["ok"] for check in body["checks"].values())


@pytest.mark.django_db
@override_settings(YOYAKU_WORKER_HEARTBEAT_MAX_AGE=180)
def test_readyz_fails_when_the_worker_heartbeat_is_stale(client: Client, queue: MemoryHuey) -> None:
    record_heartbeat(queue=queue, now=timezone.now() - timedelta(seconds=600))
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert (body["status"], body["failed"]) == ("unavailable", ["worker"])
    assert "last seen 600 s ago" in body["checks"]["worker"]["detail"]
    assert body["checks"]["database"]["ok"] and body["checks"]["queue"]["ok"]


@pytest.mark.django_db
def test_readyz_fails_when_no_worker_was_ever_seen(client: Client, queue: MemoryHuey) -> None:
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["worker"]
    assert "run_huey" in response.json()["checks"]["worker"]["detail"]


@pytest.mark.django_db
def test_readyz_fails_naming_cache_and_queue_when_redis_is_unreachable(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    unreachable = f"redis://127.0.0.1:{closed_port()}/0"
    monkeypatch.setattr(views, "HUEY", RedisHuey("yoyaku-test", url=unreachable))
    caches = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": unreachable}}
    with override_settings(CACHES=caches):
        response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failed"] == ["cache", "queue", "worker"]
    assert body["checks"]["database"]["ok"]
    assert "Connection refused" in body["checks"]["queue"]["detail"]


@pytest.mark.django_db(transaction=True)
def test_readyz_fails_when_the_database_is_unreachable(
    client: Client, queue: MemoryHuey, monkeypatch: pytest.MonkeyPatch
) -> None:
    record_heartbeat(queue=queue, now=timezone.now())

    def refuse(*args: object, **kwargs: object) -> None:
        raise connection.Database.OperationalError("could not connect to server")  # type: ignore[attr-defined]

    monkeypatch.setattr(connection, "ensure_connection", refuse)
    connection.close()
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    # Without Redis the cache is a table in the same database, so it is down with it.
    cache_in_database = settings.CACHES["default"]["BACKEND"].endswith("DatabaseCache")
    assert body["failed"] == (["database", "cache"] if cache_in_database else ["database"])
    assert "could not connect" in body["checks"]["database"]["detail"]


def test_the_periodic_task_and_the_consumer_start_write_the_heartbeat(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    memory = MemoryHuey("yoyaku-test", immediate=False)
    monkeypatch.setattr(health_tasks, "HUEY", memory)
    assert last_heartbeat(queue=memory) is None
    health_tasks.heartbeat_on_start()
    first = last_heartbeat(queue=memory)
    assert first is not None and abs(first - timezone.now().timestamp()) < 60
    memory.put("yoyaku:worker-heartbeat", 0.0)
    health_tasks.worker_heartbeat.call_local()
    second = last_heartbeat(queue=memory)
    assert second is not None and second >= first


@pytest.mark.django_db
def test_readyz_and_healthz_are_exempt_from_the_https_redirect(client: Client, queue: MemoryHuey) -> None:
    record_heartbeat(queue=queue, now=timezone.now())
    with override_settings(SECURE_SSL_REDIRECT=True):
        assert client.get("/healthz").status_code == 200
        assert client.get("/readyz").status_code == 200
        assert client.get("/accounts/login/").status_code == 301
