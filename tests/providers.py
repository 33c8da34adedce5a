"""The Google and Microsoft emulators as fixtures: started, with the settings pointing at them, and
optionally with the test's ``host`` already connected to them.

tests/conftest.py imports the fixtures, so every test module can ask for them by name; a module
defines its own ``host`` for the connected ones.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from tests.connection_helpers import google_settings, microsoft_settings, provider_settings
from tests.emulators import microsoft as microsoft_emulator
from tests.emulators.google import GoogleEmulator
from tests.emulators.google import start as start_google
from tests.emulators.microsoft import MicrosoftEmulator
from tests.factories import sync_now
from yoyaku.accounts.models import CalendarConnection, ConnectionPurpose, User
from yoyaku.calendars.oauth import OAuthTokens

GOOGLE_EMAIL = "host@example.com"


def store_oauth(
    *,
    user: User,
    provider: str,
    issued: dict[str, object],
    email: str,
    purpose: str = ConnectionPurpose.MEETINGS,
) -> CalendarConnection:
    """A connection as the OAuth callback leaves it (the flow itself is tested in tests/web)."""
    connection = CalendarConnection(user=user, provider=provider, account_email=email, purpose=purpose)
    connection.secret = OAuthTokens(
        access_token=str(issued["access_token"]),
        refresh_token=str(issued["refresh_token"]),
        expires_at=datetime.now(tz=UTC) + timedelta(seconds=int(str(issued["expires_in"]))),
        account_email=email,
    ).to_json()
    connection.save()
    return connection


@pytest.fixture
def google() -> Iterator[GoogleEmulator]:
    """The Google emulator with one account, GOOGLE_EMAIL, and the settings pointing at it."""
    emu = start_google(accounts=(GOOGLE_EMAIL,))
    try:
        with provider_settings(**google_settings(emu)):
            yield emu
    finally:
        emu.stop()


@pytest.fixture
def microsoft() -> Iterator[MicrosoftEmulator]:
    """The Microsoft emulator and the settings pointing at it."""
    emu = microsoft_emulator.start()
    try:
        with provider_settings(**microsoft_settings(emu)):
            yield emu
    finally:
        emu.stop()


@pytest.fixture
def connected_google(google: GoogleEmulator, host: User) -> GoogleEmulator:
    """The Google emulator with ``host``'s calendar connected to its account and synced once."""
    connection = store_oauth(
        user=host, provider="google", issued=google.issue_tokens(GOOGLE_EMAIL), email=GOOGLE_EMAIL
    )
    sync_now(connection)
    return google


@pytest.fixture
def connected_microsoft(microsoft: MicrosoftEmulator, host: User) -> MicrosoftEmulator:
    """The Microsoft emulator with ``host``'s calendar connected to its account and synced once."""
    connection = store_oauth(
        user=host,
        provider="microsoft",
        issued=microsoft.issue_tokens(),
        email=microsoft_emulator.DEFAULT_EMAIL,
    )
    sync_now(connection)
    return microsoft
