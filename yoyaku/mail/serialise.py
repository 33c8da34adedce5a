"""A Django email message as JSON and back, so the worker sends exactly what the notification built.

Everything that makes the message's bytes is kept: the class (alternatives or not), subject, body,
sender, recipients, reply-to, extra headers in order, alternatives with their content types (the
iMIP ``text/calendar; method=...`` part, RFC 6047 §2.4) and attachments, binary ones in base64.
"""

from __future__ import annotations

import base64
from typing import Any

from django.core.mail import EmailMessage, EmailMultiAlternatives
from django.core.mail.message import EmailAttachment

FORMAT = 1


def message_to_record(message: EmailMessage) -> dict[str, Any]:
    attachments = []
    for attachment in message.attachments:
        if not isinstance(attachment, tuple):
            # A ready-made MIME part: no product mail builds one, and it would not survive JSON as is.
            raise TypeError(
                f"Only (filename, content, mimetype) attachments can be queued, not {attachment!r}"
            )
        filename, content, mimetype = attachment
        attachments.append({"filename": filename, "mimetype": mimetype, **_content(content)})
    return {
        "format": FORMAT,
        "alternatives_class": isinstance(message, EmailMultiAlternatives),
        "subject": message.subject,
        "body": message.body,
        "from_email": message.from_email,
        "to": list(message.to),
        "cc": list(message.cc),
        "bcc": list(message.bcc),
        "reply_to": list(message.reply_to),
        "headers": [[name, value] for name, value in message.extra_headers.items()],
        "content_subtype": message.content_subtype,
        "encoding": message.encoding,
        "alternatives": [
            {"mimetype": mimetype, **_content(content)}
            for content, mimetype in getattr(message, "alternatives", [])
        ],
        "attachments": attachments,
    }


def message_from_record(record: dict[str, Any]) -> EmailMessage:
    fields: dict[str, Any] = {
        "subject": record["subject"],
        "body": record["body"],
        "from_email": record["from_email"],
        "to": record["to"],
        "cc": record["cc"],
        "bcc": record["bcc"],
        "reply_to": record["reply_to"],
        "headers": dict(record["headers"]),
    }
    message: EmailMessage
    if record["alternatives_class"]:
        message = EmailMultiAlternatives(**fields)
        for alternative in record["alternatives"]:
            message.attach_alternative(_restore(alternative), alternative["mimetype"])
    else:
        message = EmailMessage(**fields)
    message.content_subtype = record["content_subtype"]
    message.encoding = record["encoding"]
    for attachment in record["attachments"]:
        # Appended as stored: attach() would decode text/* bytes again, which was done at build time.
        message.attachments.append(
            EmailAttachment(attachment["filename"], _restore(attachment), attachment["mimetype"])
        )
    return message


def _content(content: str | bytes) -> dict[str, str]:
    if isinstance(content, bytes):
        return {"base64": base64.b64encode(content).decode("ascii")}
    return {"text": content}


def _restore(part: dict[str, str]) -> str | bytes:
    if "base64" in part:
        return base64.b64decode(part["base64"])
    return part["text"]
