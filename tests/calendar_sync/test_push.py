"""Push: a provider's notification, checked against the channel's secret, syncs that calendar; channels
are renewed before they expire and stopped on disconnect."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.test import Client, override_settings
from django.utils import timezone

from tests.calendar_sync.test_sync import day_at, indexed, rfc3339
from tests.emulators.google import GoogleEmulator
from tests.emulators.microsoft import MicrosoftEmulator
from tests.factories import make_host, sync_now
from tests.providers import GOOGLE_EMAIL
from yoyaku.accounts.connections import disconnect_calendar
from yoyaku.accounts.models import CalendarConnection, User
from yoyaku.calendar_sync.models import PushChannel
from yoyaku.calendar_sync.push import ensure_push

pytestmark = pytest.mark.django_db


@pytest.fixture
def host() -> User:
    return make_host()


@pytest.fixture(autouse=True)
def _push_on() -> Any:
    with override_settings(YOYAKU_SYNC_PUSH="1"):
        yield


def post_google(headers: dict[str, str], capture: Any) -> int:
    with capture(execute=True):
        return Client().post("/calendar/push/google/", headers=headers).status_code


def test_a_google_notification_syncs_the_calendar(
    connected_google: GoogleEmulator, host: User, django_capture_on_commit_callbacks: Any
) -> None:
    connection = CalendarConnection.objects.get(user=host)
    assert ensure_push(connection_id=connection.pk) == 1
    channel = PushChannel.objects.get(connection=connection)
    assert channel.calendar_id == "primary" and channel.resource_id and channel.expires_at

    connected_google.add_event(
        GOOGLE_EMAIL, {"start": {"dateTime": rfc3339(day_at(10))}, "end": {"dateTime": rfc3339(day_at(11))}}
    )
    assert indexed(connection) == []
    [sent] = [n for n in connected_google.notifications if n["headers"]["X-Goog-Resource-State"] == "exists"]
    assert sent["address"] == "http://testserver/calendar/push/google/"

    assert post_google(sent["headers"], django_capture_on_commit_callbacks) == 200
    assert indexed(connection) == [(day_at(10), day_at(11))]


def test_a_google_notification_with_a_wrong_token_syncs_nothing(
    connected_google: GoogleEmulator, host: User, django_capture_on_commit_callbacks: Any
) -> None:
    connection = CalendarConnection.objects.get(user=host)
    ensure_push(connection_id=connection.pk)
    connected_google.add_event(
        GOOGLE_EMAIL, {"start": {"dateTime": rfc3339(day_at(10))}, "end": {"dateTime": rfc3339(day_at(11))}}
    )
    [sent] = [n for n in connected_google.notifications if n["headers"]["X-Goog-Resource-State"] == "exists"]

    forged = {**sent["headers"], "X-Goog-Channel-Token": "guessed"}
    unknown = {**sent["headers"], "X-Goog-Channel-ID": "someone-elses-channel"}
    assert post_google(forged, django_capture_on_commit_callbacks) == 404
    assert post_google(unknown, django_capture_on_commit_callbacks) == 404
    assert post_google({}, django_capture_on_commit_callbacks) == 400
    assert indexed(connection) == []


def test_google_channels_are_renewed_before_they_expire_and_stopped_on_disconnect(
    connected_google: GoogleEmulator, host: User
) -> None:
    connection = CalendarConnection.objects.get(user=host)
    ensure_push(connection_id=connection.pk)
    first = PushChannel.objects.get(connection=connection)
    assert ensure_push(connection_id=connection.pk) == 0  # far from expiring

    PushChannel.objects.filter(pk=first.pk).update(expires_at=timezone.now() + timedelta(hours=1))
    assert ensure_push(connection_id=connection.pk) == 1
    second = PushChannel.objects.get(connection=connection)
    assert second.channel_id != first.channel_id
    assert connected_google.channels[first.channel_id].stopped
    assert not connected_google.channels[second.channel_id].stopped

    disconnect_calendar(user=host, connection_id=connection.pk)
    assert connected_google.channels[second.channel_id].stopped


@pytest.mark.django_db(transaction=True)
def test_a_graph_subscription_is_validated_and_its_notifications_sync_the_calendar(
    connected_microsoft: MicrosoftEmulator, host: User, live_server: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    connection = CalendarConnection.objects.get(user=host)
    with override_settings(YOYAKU_BASE_URL=live_server.url):
        # Graph calls the address back with a validationToken before it creates the subscription.
        assert ensure_push(connection_id=connection.pk) == 1
    channel = PushChannel.objects.get(connection=connection)
    assert channel.channel_id in connected_microsoft.subscriptions
    sync_now(connection)
    # The emulator's own delivery would race the test's; the test posts what it recorded instead.
    monkeypatch.setattr(connected_microsoft, "_post_async", lambda url, payload: None)

    connected_microsoft.add_event(start=day_at(10), end=day_at(11))
    # The emulator records what it sent; that body, posted here, is what Graph delivers.
    [payload] = [
        p
        for p in connected_microsoft.notifications_sent
        if p["value"][0]["subscriptionId"] == channel.channel_id
    ]
    answer = Client().post("/calendar/push/microsoft/", json.dumps(payload), content_type="application/json")

    assert answer.status_code == 202
    assert indexed(connection) == [(day_at(10), day_at(11))]

    # Near its expiry the subscription is renewed in place (PATCH), keeping its id and secret.
    PushChannel.objects.filter(pk=channel.pk).update(expires_at=timezone.now() + timedelta(hours=1))
    with override_settings(YOYAKU_BASE_URL=live_server.url):
        assert ensure_push(connection_id=connection.pk) == 1
    renewed = PushChannel.objects.get(connection=connection)
    assert renewed.channel_id == channel.channel_id and renewed.secret == channel.secret
    assert renewed.expires_at is not None and renewed.expires_at > timezone.now() + timedelta(days=6)


def test_a_graph_notification_with_a_wrong_client_state_is_refused(
    connected_microsoft: MicrosoftEmulator, host: User
) -> None:
    connection = CalendarConnection.objects.get(user=host)
    PushChannel.objects.create(
        connection=connection,
        calendar_id="",
        channel_id="sub-1",
        secret="the-secret",
        expires_at=timezone.now(),
    )
    body = {"value": [{"subscriptionId": "sub-1", "clientState": "guessed", "changeType": "created"}]}

    answer = Client().post("/calendar/push/microsoft/", json.dumps(body), content_type="application/json")

    assert answer.status_code == 403
    echo = Client().post("/calendar/push/microsoft/?validationToken=abc%20def")
    assert (echo.status_code, echo.content, echo["Content-Type"]) == (
        200,
        b"abc def",
        "text/plain; charset=utf-8",
    )


def test_graph_lifecycle_events_renew_or_reopen_the_subscription(
    connected_microsoft: MicrosoftEmulator, host: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    from yoyaku.calendar_sync import push

    connection = CalendarConnection.objects.get(user=host)
    channel = PushChannel.objects.create(
        connection=connection,
        calendar_id="",
        channel_id="sub-1",
        secret="s",
        expires_at=timezone.now() + timedelta(days=5),
    )
    renewals: list[int] = []
    syncs: list[int] = []
    monkeypatch.setattr(push, "_queue_renewal", renewals.append)
    monkeypatch.setattr(push, "_queue_sync", syncs.append)

    def lifecycle(event: str) -> int:
        body = {"value": [{"subscriptionId": "sub-1", "clientState": "s", "lifecycleEvent": event}]}
        return (
            Client()
            .post("/calendar/push/microsoft/", json.dumps(body), content_type="application/json")
            .status_code
        )

    assert lifecycle("reauthorizationRequired") == 202
    assert renewals == [connection.pk] and syncs == []
    channel.refresh_from_db()
    assert channel.expires_at is not None and channel.expires_at <= timezone.now()
    assert lifecycle("missed") == 202
    assert syncs == [connection.pk]
    assert lifecycle("subscriptionRemoved") == 202
    assert renewals == [connection.pk, connection.pk] and syncs == [connection.pk, connection.pk]


def test_the_hourly_renewal_opens_missing_channels_and_only_with_push_on(
    connected_google: GoogleEmulator, host: User
) -> None:
    from yoyaku.calendar_sync.tasks import renew_push_channels

    connection = CalendarConnection.objects.get(user=host)
    with override_settings(YOYAKU_SYNC_PUSH="auto", YOYAKU_BASE_URL="http://book.example.com"):
        renew_push_channels.call_local()  # a plain-http address: the providers would not call it
    assert not PushChannel.objects.filter(connection=connection).exists()

    renew_push_channels.call_local()
    assert PushChannel.objects.filter(connection=connection).count() == 1
