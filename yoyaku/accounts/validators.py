"""Shape checks for the calendar account details a host types in, shared by the settings forms and the API.

They run where the input enters, before a service looks anything up or a server is contacted, so a
malformed value is a field error (a form error, a 422) and never reaches ``urlsplit`` or an adapter
unchecked. Whether the server is reachable and allowed (``calendars/ssrf.py``) is the service's business.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils.translation import gettext_lazy as _


def validate_calendar_url(value: str, *, assume_https: bool = True) -> None:
    """An http(s) URL with a host and, if given, a port from 1 to 65535 (RFC 3986, section 3.2).

    With ``assume_https`` a bare host name is fine: the services put ``https://`` in front of it.
    """
    text = value.strip()
    if assume_https and text and "://" not in text:
        text = f"https://{text}"
    message = _("Enter a valid URL, like https://dav.example.com/.")
    try:
        parts = urlsplit(text)
        port = parts.port  # parsing the port raises ValueError for "x" or 99999
    except ValueError as error:  # also an unclosed IPv6 bracket: "http://[::1"
        raise ValidationError(message, code="invalid") from error
    if parts.scheme not in ("http", "https"):
        raise ValidationError(_("The URL must start with https:// (or http://)."), code="scheme")
    if not parts.hostname or port == 0:
        raise ValidationError(message, code="invalid")


def validate_ews_url(value: str) -> None:
    if value.strip():
        validate_calendar_url(value, assume_https=False)


def validate_account_email(value: str) -> None:
    try:
        validate_email(value.strip())
    except ValidationError as error:
        raise ValidationError(
            _("Enter a valid email address, like name@example.com."), code="invalid"
        ) from error


def as_value_error(check: Callable[[str], None]) -> Callable[[str], str]:
    """``check`` (one of the above) as a pydantic validator: a ValidationError becomes a ValueError."""

    def run(value: str) -> str:
        try:
            check(value)
        except ValidationError as error:
            raise ValueError(" ".join(str(m) for m in error.messages)) from error
        return value

    return run
