"""Calendar errors are told to hosts in their language (the adapters themselves speak English)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone, translation

from tests.factories import connect_caldav, make_host
from yoyaku.accounts.calendar_problems import calendar_problem
from yoyaku.accounts.models import ConnectionStatus
from yoyaku.calendar_sync import busy
from yoyaku.calendars.base import CalendarAuthError, CalendarError, CalendarUnavailable, EventGone
from yoyaku.scheduling.calendar_writes import _error_text

UNREACHABLE = "The CalDAV server at dav.example.com could not be reached."


def test_in_english_the_adapters_own_precise_words_are_kept() -> None:
    with translation.override("en"):
        assert calendar_problem(CalendarUnavailable(UNREACHABLE)) == UNREACHABLE


@pytest.mark.parametrize(
    ("error", "meaning"),
    [
        (CalendarAuthError("invalid_grant"), "カレンダー設定から再接続してください。"),
        (CalendarUnavailable(UNREACHABLE), "Yoyaku が後でもう一度試します。"),
        (EventGone("410 Gone"), "予定はカレンダーから削除されています。"),
        (CalendarError("412 Precondition Failed"), "カレンダーがリクエストを拒否しました。"),
    ],
)
def test_in_japanese_the_kind_of_error_is_translated_and_the_detail_follows(
    error: CalendarError, meaning: str
) -> None:
    with translation.override("ja"):
        told = calendar_problem(error)
    assert meaning in told
    assert told.endswith(f"({error})")


def test_the_stored_error_of_a_failed_write_is_in_the_hosts_language_whatever_is_active() -> None:
    with translation.override("en"):  # a background retry runs in no one's language
        stored = _error_text(CalendarUnavailable(UNREACHABLE), language="ja")
    assert stored.startswith("カレンダーのサーバーに接続できないか")
    assert len(_error_text(CalendarError("x" * 900), language="en")) == 500


class _Refusing:
    """An adapter whose server no longer accepts the saved sign-in."""

    def busy(self, **_: object) -> list[object]:
        raise CalendarAuthError("The CalDAV server at dav.example.com refused the password (401).")

    def close(self) -> None:
        pass


@pytest.mark.django_db
def test_a_refused_read_is_recorded_for_the_host_in_the_hosts_language(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    host = make_host("kenji")
    host.language = "ja"
    host.save(update_fields=["language"])
    connection = connect_caldav(
        host,
        server_url="https://dav.example.com/",
        calendar_url="https://dav.example.com/kenji/work/",
        username="kenji",
        password="pw",
    )
    monkeypatch.setattr(busy, "adapter_for", lambda _connection: _Refusing())

    with translation.override("en"), pytest.raises(CalendarAuthError):  # e.g. a booker's English page
        busy.read_busy(
            connection=connection, start=timezone.now(), end=timezone.now() + timedelta(days=1), fresh=True
        )

    connection.refresh_from_db()
    assert connection.status == ConnectionStatus.NEEDS_RECONNECT
    assert connection.status_message.startswith("カレンダーが Yoyaku のサインインを受け付けませんでした")
    assert connection.status_message.endswith("(401).)")
