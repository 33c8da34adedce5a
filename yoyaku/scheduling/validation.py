"""Checks on what a booker sends, with messages that say what to fix."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext

from yoyaku.accounts.models import User
from yoyaku.availability import HostAvailability, NotOffered, not_offered
from yoyaku.availability.zones import is_iana_zone
from yoyaku.formatting import format_calendar_day, format_moment
from yoyaku.scheduling.models import LinkKind, MeetingLink
from yoyaku.scheduling.selectors import hosts_hours, link_hosts, link_rules

_MARKUP = re.compile(r"[<>]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_ANSWER_LENGTH = 2000
# A phone number as people type it (E.164 with the usual separators): 4 to 30 characters.
_PHONE = re.compile(r"\+?[0-9][0-9 ().\-]{2,28}[0-9]")


class BookingInputError(ValueError):
    """Bad input; ``errors`` maps each field to what is wrong with it."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


def durations_offered(*, link: MeetingLink) -> str:
    """The error for a duration the page does not offer, naming those it does."""
    allowed = gettext(", ").join(str(d) for d in link.durations)
    return gettext("This page offers %(durations)s minute meetings.") % {"durations": allowed}


def check_time_zone(name: str, *, field: str = "timezone") -> str:
    if not is_iana_zone(name):
        raise BookingInputError(
            {
                field: gettext("Unknown time zone “%(name)s”; use an IANA name such as Europe/Berlin.")
                % {"name": name}
            }
        )
    return name


@dataclass(frozen=True)
class BookerDetails:
    first_name: str
    last_name: str
    email: str
    answers: dict[str, Any]


def _name(value: str, *, field: str, errors: dict[str, str]) -> str:
    # One message per name rather than a label put into a sentence: translators need the whole
    # sentence (and Japanese calls these 名 and 姓).
    messages = {
        "first_name": (
            gettext("First name is required."),
            gettext("First name must be at most 100 characters."),
            gettext("First name cannot contain “<”, “>” or control characters."),
        ),
        "last_name": (
            gettext("Last name is required."),
            gettext("Last name must be at most 100 characters."),
            gettext("Last name cannot contain “<”, “>” or control characters."),
        ),
    }[field]
    cleaned = value.strip()
    if not cleaned:
        errors[field] = messages[0]
    elif len(cleaned) > 100:
        errors[field] = messages[1]
    elif _MARKUP.search(cleaned) or _CONTROL.search(cleaned):
        errors[field] = messages[2]
    return cleaned


def clean_booker(
    *, link: MeetingLink, first_name: str, last_name: str, email: str, answers: Mapping[str, Any]
) -> BookerDetails:
    errors: dict[str, str] = {}
    first = _name(first_name, field="first_name", errors=errors)
    last = _name(last_name, field="last_name", errors=errors)
    address = email.strip()
    try:
        validate_email(address)
    except ValidationError:
        errors["email"] = gettext("Enter a valid email address, like name@example.com.")
    cleaned: dict[str, Any] = {}
    known = {f["key"]: f for f in link.form_fields}
    for key in answers:
        if key not in known:
            errors[f"answers.{key}"] = gettext("This page has no such question.")
    for key, spec in known.items():
        value = answers.get(key)
        kind = spec.get("type", "text")
        empty = value is None or value == "" or value == [] or (kind == "checkbox" and value is False)
        if empty:
            if spec.get("required"):
                errors[f"answers.{key}"] = gettext("%(label)s is required.") % {
                    "label": spec.get("label", key)
                }
            continue
        if kind == "checkbox":
            if not isinstance(value, bool):
                errors[f"answers.{key}"] = gettext("Answer with true or false.")
                continue
        elif not isinstance(value, str):
            errors[f"answers.{key}"] = gettext("Answer with text.")
            continue
        elif len(value) > MAX_ANSWER_LENGTH:
            errors[f"answers.{key}"] = gettext("Answers are limited to %(limit)s characters.") % {
                "limit": f"{MAX_ANSWER_LENGTH:,}"
            }
            continue
        elif kind == "phone" and not _PHONE.fullmatch(value.strip()):
            errors[f"answers.{key}"] = gettext(
                "Enter a phone number: digits, spaces, and + ( ) - . only, such as +81 3-1234-5678."
            )
            continue
        elif kind in ("select", "radio") and value not in spec.get("options", []):
            options = gettext(", ").join(spec.get("options", []))
            errors[f"answers.{key}"] = gettext("Choose one of: %(options)s.") % {"options": options}
            continue
        cleaned[key] = value
    if errors:
        raise BookingInputError(errors)
    return BookerDetails(first_name=first, last_name=last, email=address, answers=cleaned)


def check_start_offered(
    *,
    link: MeetingLink,
    start: datetime,
    duration: int,
    now: datetime,
    hosts: list[User] | None = None,
    hours: Sequence[HostAvailability] | None = None,
) -> None:
    """Refuse a start the page never offers, whatever is booked: 422 with what to change, not 409.

    409 (``SlotUnavailable``) means the time was offered and someone or something took it. A start
    with seconds, in the past, within the notice, outside the booking window, off the start-time
    grid or outside the hosts' working hours was never offered: the booker (or host, moving a
    meeting) has to choose differently, and the message says how. ``start`` must be aware. ``hosts``
    and ``hours``: the page's hosts and their ``hosts_hours``, when the caller has read them already.
    """
    if start.second or start.microsecond:
        raise BookingInputError(
            {"start": gettext("The start must not have seconds: give a time on the minute, such as 10:30.")}
        )
    why = not_offered(
        hosts=hours if hours is not None else hosts_hours(users=hosts or link_hosts(link=link)),
        rules=link_rules(link=link, duration=duration),
        start=int(start.timestamp()),
        now=int(now.timestamp()),
        every_host=link.kind == LinkKind.GROUP,
    )
    if why is not None:
        raise BookingInputError({"start": _not_offered_message(why, link=link, zone=start.tzinfo)})


def _not_offered_message(why: NotOffered, *, link: MeetingLink, zone: tzinfo | None) -> str:
    # Times are shown with the offset the start was given in: the caller's own clock.
    def instant(epoch: int | None) -> str:
        return "?" if epoch is None else format_moment(datetime.fromtimestamp(epoch, zone), zone)

    def clock(epoch: int | None) -> str:
        return "?" if epoch is None else datetime.fromtimestamp(epoch, zone).strftime("%H:%M")

    if why.reason == "past":
        return gettext("This time is in the past.")
    if why.reason == "notice":
        return gettext(
            "This time is too soon: the page needs notice, and the earliest start it takes is %(earliest)s."
        ) % {"earliest": instant(why.bound)}
    if why.reason == "before_window":
        first = format_calendar_day(link.fixed_start) if link.fixed_start is not None else instant(why.bound)
        return gettext("This time is before the page's booking window, which opens on %(first)s.") % {
            "first": first
        }
    if why.reason == "beyond_window":
        last = format_calendar_day(link.fixed_end) if link.fixed_end is not None else instant(why.bound)
        return gettext("This time is beyond the page's booking window (up to %(last)s).") % {"last": last}
    if why.reason == "off_grid":
        increment = link.increment_minutes
        names = {"minutes": increment, "before": clock(why.bound), "after": clock(why.after)}
        if 60 % increment == 0 and why.bound is not None:
            marks = sorted(
                {
                    datetime.fromtimestamp(why.bound + k * increment * 60, zone).minute
                    for k in range(60 // increment)
                }
            )
            names["marks"] = ", ".join(f"…:{m:02d}" for m in marks)
            return (
                gettext(
                    "The start must be on the page's %(minutes)d-minute grid (%(marks)s); "
                    "the nearest times are %(before)s and %(after)s."
                )
                % names
            )
        return (
            gettext(
                "The start must be on the page's %(minutes)d-minute grid, counted from midnight; "
                "the nearest times are %(before)s and %(after)s."
            )
            % names
        )
    return gettext("This time is outside the hours this page offers: the whole meeting must fit in them.")
