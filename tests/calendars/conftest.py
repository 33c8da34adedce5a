"""Fixtures for the calendar adapter tests."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.emulators.radicale_server import RadicaleServer
from tests.emulators.xandikos_server import XandikosServer


@pytest.fixture(scope="session")
def radicale() -> Iterator[RadicaleServer]:
    """A Radicale of their own: discovery tests assert on every calendar a principal has,
    so other packages' calendars on the shared server must not show up."""
    with RadicaleServer(users={"alice": "alice-secret", "bob": "bob-secret"}) as server:
        yield server


@pytest.fixture(scope="session")
def xandikos() -> Iterator[XandikosServer]:
    with XandikosServer() as server:
        yield server


@pytest.fixture(params=["radicale", "xandikos"])
def dav_server(request: pytest.FixtureRequest) -> RadicaleServer | XandikosServer:
    """Each of the two independent CalDAV servers in turn: where the RFCs leave room they differ."""
    server: RadicaleServer | XandikosServer = request.getfixturevalue(request.param)
    return server


@pytest.fixture
def dav_calendar(dav_server: RadicaleServer | XandikosServer) -> str:
    """URL of a fresh, empty calendar on ``dav_server``."""
    return dav_server.ensure_calendar(f"test-{uuid.uuid4().hex[:12]}")
