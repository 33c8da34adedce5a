"""Fixtures for the host pages: a signed-in host and a CalDAV account on the real Radicale."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import Client

from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host
from yoyaku.accounts.models import User


@pytest.fixture(scope="session")
def host_radicale() -> Iterator[RadicaleServer]:
    """A Radicale of the host-page tests' own: they add calendars other suites must not see."""
    with RadicaleServer(users={"alice": "alice-secret", "bob": "bob-secret"}) as server:
        yield server


@pytest.fixture
def host(db: None) -> User:
    return make_host("hana", time_zone="Asia/Tokyo")


@pytest.fixture
def client_in(host: User) -> Client:
    client = Client()
    client.force_login(host)
    return client
