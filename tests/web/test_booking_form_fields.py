"""The booking page asks a page's radio and phone questions as such."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import make_host, make_link
from tests.web.html import elements

pytestmark = pytest.mark.django_db


def test_radio_and_phone_questions_are_rendered_for_bookers() -> None:
    make_link(
        make_host(),
        slug="intro",
        form_fields=[
            {
                "key": "team",
                "label": "Team",
                "type": "radio",
                "options": ["Sales", "Support"],
                "required": True,
            },
            {"key": "phone", "label": "Phone", "type": "phone"},
        ],
    )
    html = Client().get("/m/intro").content.decode()
    radios = [i for i in elements(html, "input") if i.get("data-answer") == "team"]
    assert [(r["type"], r["value"], r["data-kind"]) for r in radios] == [
        ("radio", "Sales", "radio"),
        ("radio", "Support", "radio"),
    ]
    phone = [i for i in elements(html, "input") if i.get("data-answer") == "phone"]
    assert [(p["type"], p["autocomplete"]) for p in phone] == [("tel", "tel")]
