"""Fixtures shared by the whole suite, and the rule for external services.

PostgreSQL and Redis tests skip with a reason when the server is not
reachable, unless YOYAKU_REQUIRE_SERVICES=1 (as CI sets it): then they fail.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator

import pytest
from django.core.servers import basehttp

from tests.emulators.radicale_server import RadicaleServer

# The emulator fixtures, so that every module can ask for them by name.
from tests.providers import connected_google, connected_microsoft, google, microsoft  # noqa: F401

# Races open dozens of connections at once; Django's default listen backlog of 10
# would reset some of them before the server ever sees the request.
basehttp.WSGIServer.request_queue_size = 128

REQUIRE_SERVICES = os.environ.get("YOYAKU_REQUIRE_SERVICES") == "1"


def reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def need_service(name: str, host: str, port: int) -> None:
    if reachable(host, port):
        return
    message = f"{name} is not reachable at {host}:{port}"
    if REQUIRE_SERVICES:
        pytest.fail(f"{message}, and YOYAKU_REQUIRE_SERVICES=1 says it must be.")
    pytest.skip(f"{message} (start it to run this test).")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("YOYAKU_TEST_DATABASE") != "postgresql" or reachable("127.0.0.1", 5432):
        return
    if REQUIRE_SERVICES:
        raise pytest.UsageError(
            "PostgreSQL is not reachable at 127.0.0.1:5432 and YOYAKU_REQUIRE_SERVICES=1."
        )
    skip = pytest.mark.skip(reason="PostgreSQL is not reachable at 127.0.0.1:5432.")
    for item in items:
        item.add_marker(skip)


@pytest.fixture
def redis_url() -> str:
    need_service("Redis", "127.0.0.1", 6379)
    return "redis://127.0.0.1:6379/15"


# -- CalDAV ---------------------------------------------------------------------


@pytest.fixture(scope="session")
def radicale() -> Iterator[RadicaleServer]:
    """One real Radicale for the session; tests isolate themselves by calendar."""
    with RadicaleServer(users={"alice": "alice-secret", "bob": "bob-secret"}) as server:
        yield server


@pytest.fixture
def caldav_calendar(radicale: RadicaleServer) -> str:
    """URL of a fresh, empty calendar owned by ``radicale.username``."""
    return radicale.ensure_calendar(f"test-{uuid.uuid4().hex[:12]}")


@pytest.fixture(autouse=True)
def _english_between_tests() -> Iterator[None]:
    """A request served in Japanese leaves Japanese active in its thread; each test starts in the default."""
    from django.utils import translation

    translation.deactivate()
    yield
    translation.deactivate()
