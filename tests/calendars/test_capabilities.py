"""What each provider's calendar lets Yoyaku do."""

from __future__ import annotations

import pytest

from yoyaku.calendars.capabilities import capabilities


@pytest.mark.parametrize("provider", ["caldav", "google", "microsoft"])
def test_two_way_providers_allow_everything(provider: str) -> None:
    allowed = capabilities(provider)
    assert allowed.write_events and allowed.can_cancel and allowed.can_reschedule
    assert allowed.crm_to_calendar and allowed.calendar_to_crm and allowed.event_sync
    # Not built for any provider yet, so not claimed.
    assert not allowed.insert_times_in_email


def test_exchange_only_takes_new_meetings() -> None:
    allowed = capabilities("exchange")
    assert allowed.write_events
    assert not (allowed.can_cancel or allowed.can_reschedule or allowed.crm_to_calendar)
    assert not (allowed.calendar_to_crm or allowed.insert_times_in_email or allowed.event_sync)


def test_an_unknown_provider_is_not_guessed_at() -> None:
    with pytest.raises(KeyError):
        capabilities("lotus-notes")
