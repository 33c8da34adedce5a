"""The scheduling page editor and the hours editor (server side; the browser walk is in
test_host_pages_editor_browser.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.factories import make_host, make_link, make_workspace
from yoyaku.accounts.models import User
from yoyaku.scheduling.models import Availability, LinkKind, MeetingLink

pytestmark = pytest.mark.django_db


def page_form(**change: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": "Team call",
        "slug": "team-call",
        "kind": "one_on_one",
        "durations": "30, 60",
        "increment_minutes": "30",
        "notice_minutes": "0",
        "change_notice_minutes": "0",
        "buffer_before_minutes": "0",
        "buffer_after_minutes": "0",
        "horizon": "weeks",
        "rolling_weeks": "4",
        "active": "on",
        "q-TOTAL_FORMS": "1",
        "q-INITIAL_FORMS": "0",
        "q-0-label": "",
        "q-0-type": "text",
    }
    data.update(change)
    return data


def test_a_host_creates_a_round_robin_page_with_a_co_host_and_questions(
    host: User, client_in: Client
) -> None:
    make_host("ken")
    data = page_form(
        kind="round_robin",
        co_hosts=["ken"],
        horizon="days",
        rolling_days="2",
        increment_minutes="90",
        change_notice_minutes="120",
        **{"q-0-label": "Team", "q-0-type": "radio", "q-0-options": "Sales\nSupport", "q-0-required": "on"},
    )
    response = client_in.post("/pages/new/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    link = MeetingLink.objects.get(slug="team-call")
    assert link.kind == LinkKind.ROUND_ROBIN
    assert sorted(link.hosts.values_list("username", flat=True)) == ["hana", "ken"]
    assert (link.rolling_days, link.rolling_weeks, link.increment_minutes) == (2, None, 90)
    assert link.change_notice_minutes == 120  # the booker's links stop two hours before
    assert link.durations == [30, 60]
    assert link.form_fields == [
        {"key": "team", "label": "Team", "type": "radio", "required": True, "options": ["Sales", "Support"]}
    ]
    page = client_in.get(response["Location"]).content.decode()
    assert "Preview: the coming week" in page
    assert "data-yoyaku-embed" in page and "/m/team-call" in page


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"increment_minutes": "721"}, "increment_minutes", "from 5 to 720"),
        ({"redirect_url": "http://example.com/thanks"}, "redirect_url", "https://"),
        ({"kind": "group"}, "co_hosts", "at least two hosts"),
        ({"horizon": "days", "rolling_days": ""}, "rolling_days", "how far ahead"),
        ({"horizon": "range", "fixed_start": "2027-02-01", "fixed_end": "2027-01-01"}, "fixed_end", "before"),
        ({"horizon": "range", "fixed_start": "9999-12-30", "fixed_end": "9999-12-31"}, "fixed_end", "2200"),
        ({"durations": "15, abc"}, "durations", "numbers"),
        ({"q-0-label": "Size", "q-0-type": "select"}, "form_fields", "options"),
    ],
)
def test_the_live_check_answers_with_the_servers_rules_and_saves_nothing(
    host: User, client_in: Client, change: dict[str, str], field: str, words: str
) -> None:
    response = client_in.post("/pages/new/", page_form(check="1", **change))
    assert response.status_code == 200
    errors = response.json()["errors"]
    assert words in errors.get(field, ""), errors
    # The same answer by the field when the page is saved, and nothing is saved.
    saved = client_in.post("/pages/new/", page_form(**change))
    assert saved.status_code == 422
    assert words in saved.content.decode().replace("&#x27;", "'")
    assert not MeetingLink.objects.exists()


def test_a_valid_draft_checks_clean_and_a_taken_address_is_said(host: User, client_in: Client) -> None:
    answer = client_in.post("/pages/new/", page_form(check="1")).json()
    assert answer["errors"] == {}
    # The preview of the draft: the page as it would be, computed and rolled back.
    assert "Not saved yet" in answer["preview"] and "preview-days" in answer["preview"]
    assert not MeetingLink.objects.exists()
    make_link(host, slug="team-call")
    assert "taken" in client_in.post("/pages/new/", page_form(check="1")).json()["errors"]["slug"]


def test_co_hosts_come_from_the_workspace_only(host: User, client_in: Client) -> None:
    make_host("bob", workspace=make_workspace())
    page = client_in.get("/pages/new/").content.decode()
    assert 'value="bob"' not in page
    response = client_in.post("/pages/new/", page_form(kind="group", co_hosts=["bob"]))
    assert response.status_code == 422
    assert not MeetingLink.objects.exists()


def test_edit_duplicate_switch_off_and_delete(host: User, client_in: Client) -> None:
    link = make_link(host, slug="intro", form_fields=[{"key": "company", "label": "Company"}])
    edited = client_in.post(
        "/pages/intro/edit/",
        page_form(
            name="Intro, longer",
            slug="ignored",
            durations="45",
            **{
                "q-TOTAL_FORMS": "2",
                "q-INITIAL_FORMS": "1",
                "q-0-key": "company",
                "q-0-label": "Company name",
                "q-0-type": "text",
                "q-1-label": "",
                "q-1-type": "text",
            },
        ),
    )
    assert edited.status_code == 302
    link.refresh_from_db()
    assert (link.slug, link.name, link.durations) == ("intro", "Intro, longer", [45])
    assert link.form_fields == [
        {"key": "company", "label": "Company name", "type": "text", "required": False}
    ]

    copied = client_in.post("/pages/intro/duplicate/")
    copy = MeetingLink.objects.get(slug="intro-copy")
    assert copied["Location"] == "/pages/intro-copy/edit/"
    assert (copy.active, copy.durations, copy.form_fields) == (False, [45], link.form_fields)

    client_in.post("/pages/intro/active/", {"active": "0"})
    link.refresh_from_db()
    assert not link.active
    assert client_in.get("/m/intro").status_code == 404
    client_in.post("/pages/intro/active/", {"active": "1"})
    link.refresh_from_db()
    assert link.active

    client_in.post("/pages/intro/delete/")
    assert not MeetingLink.objects.filter(slug="intro").exists()
    listing = client_in.get("/pages/").content.decode()
    assert "intro-copy" in listing


def test_only_the_owner_edits_a_page(host: User) -> None:
    make_link(host, slug="intro")
    ken = make_host("ken")
    client = Client()
    client.force_login(ken)
    assert client.get("/pages/intro/edit/").status_code == 404
    assert client.post("/pages/intro/delete/").status_code == 404
    assert MeetingLink.objects.filter(slug="intro").exists()


def hours_form(**change: str) -> dict[str, str]:
    data = {
        "time_zone": "Asia/Tokyo",
        "day_0": "9:00-12:00, 13:00-17:30",
        "day_2": "10:00-16:00",
        "o-TOTAL_FORMS": "2",
        "o-INITIAL_FORMS": "0",
        "o-0-day": "2027-01-04",
        "o-0-hours": "",
        "o-1-day": "2027-01-05",
        "o-1-hours": "10:00-11:00",
    }
    data.update(change)
    return data


def test_the_hours_editor_saves_spans_days_off_and_the_zone(host: User, client_in: Client) -> None:
    response = client_in.post("/availability/", hours_form())
    assert response.status_code == 302, response.content.decode()[:2000]
    host.refresh_from_db()
    stored = Availability.objects.get(user=host)
    assert host.time_zone == "Asia/Tokyo"
    assert stored.weekly == {"0": [[540, 720], [780, 1050]], "2": [[600, 960]]}
    assert stored.overrides == {"2027-01-04": [], "2027-01-05": [[600, 660]]}
    page = client_in.get("/availability/").content.decode()
    assert 'value="9:00-12:00, 13:00-17:30"' in page
    assert 'value="2027-01-04"' in page


@pytest.mark.parametrize(
    "change",
    [{"day_1": "nine to five"}, {"day_1": "9:00-12:00, 11:00-13:00"}, {"time_zone": "Mars/Olympus"}],
)
def test_bad_hours_are_refused_by_the_field_and_nothing_changes(
    host: User, client_in: Client, change: dict[str, str]
) -> None:
    before = Availability.objects.get(user=host).weekly
    response = client_in.post("/availability/", hours_form(**change))
    assert response.status_code == 422
    assert 'class="field-error"' in response.content.decode()
    assert Availability.objects.get(user=host).weekly == before


def test_the_editors_speak_japanese(host: User, client_in: Client) -> None:
    client_in.cookies["django_language"] = "ja"
    editor = client_in.get("/pages/new/").content.decode()
    assert "ページを作成" in editor and "開始時刻の間隔(分)" in editor
    refused = client_in.post("/pages/new/", page_form(check="1", increment_minutes="721")).json()
    assert refused["errors"]["increment_minutes"] == "5 から 720 までの整数を入力してください。"
    hours = client_in.get("/availability/").content.decode()
    assert "日付ごとの変更と休日" in hours and "月曜日" in hours


def test_the_hours_preview_follows_what_is_typed_and_saves_nothing(host: User, client_in: Client) -> None:
    make_link(host, slug="intro", durations=[60], increment_minutes=60)
    before = Availability.objects.get(user=host).weekly
    # Every day 9:00-10:00 only: each day of the coming week offers at most the one 9:00 slot.
    typed = hours_form(**{f"day_{d}": "9:00-10:00" for d in range(7)}, time_zone="Asia/Tokyo")
    answer = client_in.post("/availability/", {**typed, "preview": "1"}).json()
    assert answer["errors"] == {}
    assert "09:00" in answer["preview"] and "10:00" not in answer["preview"]
    assert Availability.objects.get(user=host).weekly == before
    host.refresh_from_db()
    assert host.time_zone == "Asia/Tokyo"  # the fixture's own zone, unchanged
    refused = client_in.post("/availability/", {**hours_form(day_1="soon"), "preview": "1"}).json()
    assert "day_1" in refused["errors"] and "preview" not in refused


def test_a_refused_edit_shows_the_saved_page_and_changes_nothing(host: User, client_in: Client) -> None:
    make_link(host, slug="intro", name="Intro call")
    response = client_in.post("/pages/intro/edit/", page_form(name="Renamed", increment_minutes="721"))
    assert response.status_code == 422
    html = response.content.decode()
    assert "Give a whole number from 5 to 720." in html
    # The preview beside the form is the stored page's, and the stored page is unchanged.
    assert "Preview: the coming week" in html
    link = MeetingLink.objects.get(slug="intro")
    assert (link.name, link.increment_minutes) == ("Intro call", 30)
