"""The booking form asks for the names in the page language's order: 姓 then 名 in Japanese."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.factories import make_host, make_link

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("language", "first_field", "second_field", "first_label"),
    [("en", "first_name", "last_name", "First name"), ("ja", "last_name", "first_name", "姓")],
)
def test_the_name_fields_come_in_the_languages_order(
    language: str, first_field: str, second_field: str, first_label: str
) -> None:
    make_link(make_host("hana"))

    page = Client().get("/m/intro", headers={"accept-language": language}).content.decode()

    assert page.index(f'name="{first_field}"') < page.index(f'name="{second_field}"')
    assert page.index(f'for="f-{first_field}">{first_label} ') < page.index(f'name="{first_field}"')
    # Each input keeps its own autocomplete token, whatever the order.
    assert 'name="last_name" autocomplete="family-name"' in page
