"""Fixtures for the host pages: a signed-in host and a CalDAV account on the real Radicale."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import make_host
from yoyaku.accounts.models import User


@pytest.fixture
def host(db: None) -> User:
    return make_host("hana", time_zone="Asia/Tokyo")


@pytest.fixture
def client_in(host: User) -> Client:
    client = Client()
    client.force_login(host)
    return client
