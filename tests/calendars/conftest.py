"""Fixtures for the calendar adapter tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.emulators.radicale_server import RadicaleServer


@pytest.fixture(scope="session")
def radicale() -> Iterator[RadicaleServer]:
    """A Radicale of their own: discovery tests assert on every calendar a principal has,
    so other packages' calendars on the shared server must not show up."""
    with RadicaleServer(users={"alice": "alice-secret", "bob": "bob-secret"}) as server:
        yield server
