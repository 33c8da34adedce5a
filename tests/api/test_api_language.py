"""The API answers in the request's language: the booking page's ``lang`` parameter, else the language
cookie or Accept-Language; field errors included."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings
from django.test import Client

from tests.connection_helpers import berlin, future_day
from tests.factories import make_host, make_link
from yoyaku.scheduling.models import Booking, MeetingLink

pytestmark = pytest.mark.django_db


@pytest.fixture
def link() -> MeetingLink:
    return make_link(make_host("hana"))


def payload(**changes: Any) -> dict[str, Any]:
    data = {
        "start": berlin(future_day(), 11).isoformat(),
        "duration": 30,
        "timezone": "Asia/Tokyo",
        "first_name": "Aiko",
        "last_name": "Sato",
        "email": "aiko@example.com",
    }
    return {**data, **changes}


def post(client: Client, path: str, body: dict[str, Any], **headers: str) -> Any:
    return client.post(path, body, content_type="application/json", headers=headers)


def test_field_errors_follow_accept_language(link: MeetingLink) -> None:
    body = payload(first_name=" ", email="nope", timezone="Mars/Olympus")

    english = post(Client(), "/api/v1/book/intro", body).json()
    japanese = post(Client(), "/api/v1/book/intro", body, accept_language="ja,en;q=0.5").json()

    assert english["errors"]["first_name"] == "First name is required."
    assert japanese["detail"] == "入力内容に修正が必要な項目があります。"
    assert japanese["errors"]["first_name"] == "名を入力してください。"
    assert japanese["errors"]["email"].startswith("name@example.com のような")
    assert "Mars/Olympus" in japanese["errors"]["timezone"] and "IANA" in japanese["errors"]["timezone"]


def test_the_pages_lang_parameter_outranks_the_cookie_and_the_booking_keeps_it(link: MeetingLink) -> None:
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"  # e.g. left by another page of the site

    bad = post(client, "/api/v1/book/intro?lang=ja", payload(last_name=""))
    good = post(client, "/api/v1/book/intro?lang=ja", payload())

    assert bad.status_code == 422 and bad.json()["errors"]["last_name"] == "姓を入力してください。"
    assert bad.headers["Content-Language"] == "ja"
    assert good.status_code == 201, good.content
    assert Booking.objects.get(pk=good.json()["id"]).language == "ja"  # its mails speak Japanese


def test_an_unsupported_lang_parameter_changes_nothing(link: MeetingLink) -> None:
    answer = post(Client(), "/api/v1/book/intro?lang=xx", payload(first_name=""), accept_language="ja")
    assert answer.json()["errors"]["first_name"] == "名を入力してください。"


def test_schema_errors_and_not_found_are_translated_too(link: MeetingLink) -> None:
    missing = post(Client(), "/api/v1/book/intro?lang=ja", {"duration": "long"}).json()
    nowhere = Client().get("/api/v1/book/nowhere/availability?lang=ja").json()

    assert missing["errors"]["duration"] == "ここには整数を入力してください。"
    assert missing["errors"]["email"] == "この項目は必須です。"
    assert nowhere["detail"].startswith("ここには何もありません。")


def test_availability_errors_speak_the_page_language(link: MeetingLink) -> None:
    day = future_day()
    query = f"start={day.isoformat()}&end={day.replace(year=day.year + 2).isoformat()}&lang=ja"
    answer = Client().get(f"/api/v1/book/intro/availability?{query}")
    assert answer.status_code == 422
    assert answer.json()["errors"]["end"] == "空き時間は一度に 1 年分までにしてください。"
