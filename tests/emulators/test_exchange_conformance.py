"""The EWS emulator answers only the properties a request asks for, as Exchange does, so the adapter must
ask for every property it reads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import requests
from lxml import etree

from tests.emulators.exchange import ExchangeEmulator
from tests.emulators.exchange import start as start_exchange

EMAIL = "alice@example.com"
PASSWORD = "s3cret"
T = "http://schemas.microsoft.com/exchange/services/2006/types"


@pytest.fixture
def emulator() -> Iterator[ExchangeEmulator]:
    server = start_exchange(email=EMAIL, password=PASSWORD, auth_types=("basic",))
    server.add_event(
        subject="Review",
        start=datetime(2030, 3, 11, 9, tzinfo=UTC),
        end=datetime(2030, 3, 11, 10, tzinfo=UTC),
    )
    yield server
    server.stop()


def find_items(emulator: ExchangeEmulator, shape: str) -> etree._Element:
    envelope = (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"'
        f' xmlns:m="http://schemas.microsoft.com/exchange/services/2006/messages" xmlns:t="{T}">'
        '<s:Header><t:RequestServerVersion Version="Exchange2013"/></s:Header><s:Body>'
        f'<m:FindItem Traversal="Shallow"><m:ItemShape>{shape}</m:ItemShape>'
        '<m:CalendarView StartDate="2030-03-10T00:00:00Z" EndDate="2030-03-12T00:00:00Z"/>'
        '<m:ParentFolderIds><t:DistinguishedFolderId Id="calendar"/></m:ParentFolderIds>'
        "</m:FindItem></s:Body></s:Envelope>"
    )
    response = requests.post(
        emulator.ews_url,
        data=envelope.encode(),
        auth=(EMAIL, PASSWORD),
        headers={"Content-Type": "text/xml; charset=utf-8"},
        timeout=5,
    )
    assert response.status_code == 200, response.text
    [item] = etree.fromstring(response.content).iter(f"{{{T}}}CalendarItem")
    return item


def names(item: etree._Element) -> set[str]:
    return {etree.QName(child).localname for child in item}


def test_id_only_with_additional_properties_answers_just_those(emulator: ExchangeEmulator) -> None:
    item = find_items(
        emulator,
        "<t:BaseShape>IdOnly</t:BaseShape><t:AdditionalProperties>"
        '<t:FieldURI FieldURI="item:Subject"/><t:FieldURI FieldURI="calendar:Start"/>'
        "</t:AdditionalProperties>",
    )
    assert names(item) == {"ItemId", "Subject", "Start"}


def test_default_shape_leaves_out_what_must_be_asked_for(emulator: ExchangeEmulator) -> None:
    item = find_items(emulator, "<t:BaseShape>Default</t:BaseShape>")
    assert {"Subject", "Start", "End", "LegacyFreeBusyStatus"} <= names(item)
    assert not {"MyResponseType", "IsCancelled", "IsAllDayEvent"} & names(item)


def test_all_properties_answers_everything(emulator: ExchangeEmulator) -> None:
    item = find_items(emulator, "<t:BaseShape>AllProperties</t:BaseShape>")
    assert {"MyResponseType", "IsCancelled", "IsAllDayEvent", "UID"} <= names(item)
