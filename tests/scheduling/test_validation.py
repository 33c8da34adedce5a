from __future__ import annotations

import pytest

from tests.factories import make_host, make_link
from yoyaku.scheduling.validation import BookingInputError, clean_booker

pytestmark = pytest.mark.django_db

FIELDS = [
    {"key": "team", "label": "Team", "type": "radio", "options": ["Sales", "Support"], "required": True},
    {"key": "phone", "label": "Phone", "type": "phone"},
]


def _clean(answers: dict[str, object]) -> dict[str, object]:
    link = make_link(make_host(), form_fields=FIELDS)
    return clean_booker(
        link=link, first_name="Hana", last_name="Sato", email="hana@example.com", answers=answers
    ).answers


def test_radio_and_phone_answers_are_kept() -> None:
    assert _clean({"team": "Support", "phone": "+81 3-1234-5678"}) == {
        "team": "Support",
        "phone": "+81 3-1234-5678",
    }


@pytest.mark.parametrize(
    ("answers", "field"),
    [
        ({"team": "Marketing"}, "answers.team"),
        ({}, "answers.team"),
        ({"team": "Sales", "phone": "call me"}, "answers.phone"),
    ],
)
def test_radio_and_phone_answers_are_checked(answers: dict[str, object], field: str) -> None:
    with pytest.raises(BookingInputError) as caught:
        _clean(answers)
    assert field in caught.value.errors
