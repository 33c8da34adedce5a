"""A queued message is sent byte for byte as it was built: iMIP parts, attachments, headers, language."""

from __future__ import annotations

import re

import pytest
from django.core.mail import EmailMessage, EmailMultiAlternatives

from yoyaku.mail.serialise import message_from_record, message_to_record

FIXED = {"Message-ID": "<1@yoyaku.test>", "Date": "Mon, 01 Mar 2027 09:00:00 -0000"}
ICAL = "BEGIN:VCALENDAR\r\nMETHOD:REQUEST\r\nSUMMARY:打ち合わせ\r\nEND:VCALENDAR\r\n".encode()


def as_sent(message: EmailMessage) -> bytes:
    # MIME boundaries are drawn at random for every rendering.
    return re.sub(rb"=+\d+==", b"BOUNDARY", message.message().as_bytes())


def through_json(message: EmailMessage) -> EmailMessage:
    import json

    return message_from_record(json.loads(json.dumps(message_to_record(message))))


def test_an_imip_invitation_comes_back_byte_for_byte() -> None:
    message = EmailMultiAlternatives(
        subject="招待: Intro call: Sato Aiko",
        body="Sato 様\n\nご予約を承りました。",
        to=["aiko@example.com"],
        cc=["ken@example.jp"],
        reply_to=["hana@example.com"],
        headers=dict(FIXED),
    )
    message.attach_alternative(ICAL.decode(), "text/calendar; method=REQUEST; charset=UTF-8")
    message.attach("invite.ics", ICAL, "application/ics")

    again = through_json(message)

    assert isinstance(again, EmailMultiAlternatives)
    assert as_sent(again) == as_sent(message)
    assert again.attachments[0] == ("invite.ics", ICAL, "application/ics")


def test_a_plain_notice_stays_a_plain_message() -> None:
    message = EmailMessage(subject="New meeting", body="Hello", to=["ken@example.jp"], headers=dict(FIXED))
    again = through_json(message)
    assert type(again) is EmailMessage
    assert as_sent(again) == as_sent(message)


def test_a_ready_made_mime_part_is_refused_rather_than_lost() -> None:
    from email.mime.text import MIMEText

    message = EmailMessage(subject="x", body="y", to=["a@example.com"])
    message.attach(MIMEText("part"))
    with pytest.raises(TypeError):
        message_to_record(message)
