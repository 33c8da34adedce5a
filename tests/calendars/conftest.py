"""Fixtures for the calendar adapter tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.emulators.radicale_server import RadicaleServer

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
