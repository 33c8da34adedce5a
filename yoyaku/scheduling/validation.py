"""Checks on what a booker sends, with messages that say what to fix."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from yoyaku.availability.zones import is_iana_zone
from yoyaku.scheduling.models import MeetingLink

_MARKUP = re.compile(r"[<>]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_ANSWER_LENGTH = 2000


class BookingInputError(ValueError):
    """Bad input; ``errors`` maps each field to what is wrong with it."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = dict(errors)


def check_time_zone(name: str, *, field: str = "timezone") -> str:
    if not is_iana_zone(name):
        raise BookingInputError(
            {field: f"Unknown time zone {name!r}; use an IANA name such as 'Europe/Berlin'."}
        )
    return name


@dataclass(frozen=True)
class BookerDetails:
    first_name: str
    last_name: str
    email: str
    answers: dict[str, Any]


def _name(value: str, *, field: str, label: str, errors: dict[str, str]) -> str:
    cleaned = value.strip()
    if not cleaned:
        errors[field] = f"{label} is required."
    elif len(cleaned) > 100:
        errors[field] = f"{label} must be at most 100 characters."
    elif _MARKUP.search(cleaned) or _CONTROL.search(cleaned):
        errors[field] = f"{label} cannot contain '<', '>' or control characters."
    return cleaned


def clean_booker(
    *, link: MeetingLink, first_name: str, last_name: str, email: str, answers: Mapping[str, Any]
) -> BookerDetails:
    errors: dict[str, str] = {}
    first = _name(first_name, field="first_name", label="First name", errors=errors)
    last = _name(last_name, field="last_name", label="Last name", errors=errors)
    address = email.strip()
    try:
        validate_email(address)
    except ValidationError:
        errors["email"] = "Enter a valid email address, like name@example.com."
    cleaned: dict[str, Any] = {}
    known = {f["key"]: f for f in link.form_fields}
    for key in answers:
        if key not in known:
            errors[f"answers.{key}"] = "This page has no such question."
    for key, spec in known.items():
        value = answers.get(key)
        kind = spec.get("type", "text")
        empty = value is None or value == "" or value == [] or (kind == "checkbox" and value is False)
        if empty:
            if spec.get("required"):
                errors[f"answers.{key}"] = f"{spec.get('label', key)} is required."
            continue
        if kind == "checkbox":
            if not isinstance(value, bool):
                errors[f"answers.{key}"] = "Answer with true or false."
                continue
        elif not isinstance(value, str):
            errors[f"answers.{key}"] = "Answer with text."
            continue
        elif len(value) > MAX_ANSWER_LENGTH:
            errors[f"answers.{key}"] = f"Answers are limited to {MAX_ANSWER_LENGTH} characters."
            continue
        elif kind == "select" and value not in spec.get("options", []):
            options = ", ".join(spec.get("options", []))
            errors[f"answers.{key}"] = f"Choose one of: {options}."
            continue
        cleaned[key] = value
    if errors:
        raise BookingInputError(errors)
    return BookerDetails(first_name=first, last_name=last, email=address, answers=cleaned)
