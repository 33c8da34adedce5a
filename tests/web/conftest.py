"""Fixtures for the web tests: a signed-in host, a CalDAV account on the real Radicale, and headless
Chromium with a folder for its screenshots."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

from tests.conftest import REQUIRE_SERVICES
from tests.emulators.radicale_server import RadicaleServer
from tests.factories import make_host
from yoyaku.accounts.models import User

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


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


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        message = f"Chromium is not installed at {CHROMIUM}"
        if REQUIRE_SERVICES:
            pytest.fail(f"{message}, and YOYAKU_REQUIRE_SERVICES=1 says it must be.")
        pytest.skip(f"{message} (install Debian's chromium package to run the browser tests).")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread; the ORM calls the
    # tests make between page actions are ordinary synchronous code.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    """Where a browser test leaves its screenshots: YOYAKU_SCREENSHOT_DIR, else its temporary folder."""
    folder = Path(os.environ.get("YOYAKU_SCREENSHOT_DIR") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
