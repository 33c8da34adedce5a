"""How the API reads request bodies and query strings: JSON only, and only text the databases can store.

A body is read only by operations that take one, and only as ``application/json`` (RFC 8259). Browsers
send ``text/plain``, ``application/x-www-form-urlencoded`` and ``multipart/form-data`` bodies to other
origins without asking first (CORS "simple requests", https://fetch.spec.whatwg.org/#simple-header);
a JSON body from another origin needs a preflight, which gets no ``Access-Control-Allow-*`` headers
here and so fails. So no page elsewhere can make its visitors' browsers book or change anything.

NUL (U+0000) cannot be stored in PostgreSQL's text types, and an unpaired surrogate (legal in a JSON
string as ``\\ud800``) cannot be encoded as UTF-8 (RFC 3629) by either database: both are refused with
a 422 that names the field, before anything is looked up or written.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from django.utils.datastructures import MultiValueDict
from django.utils.translation import gettext as _
from ninja.parser import Parser

from yoyaku.scheduling.validation import BookingInputError

JSON_TYPE = "application/json"


class UnsupportedMediaType(Exception):
    """A body that is not JSON; the API answers 415."""


def is_json(content_type: str | None) -> bool:
    # RFC 8259, section 11: the media type is application/json; parameters (charset) may follow.
    return (content_type or "").split(";", 1)[0].strip().lower() == JSON_TYPE


def storable(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unstorable_message() -> str:
    return _("Remove the NUL character (\\u0000) or unpaired surrogate from this text.")


def _walk(value: object, path: str, errors: dict[str, str]) -> None:
    if isinstance(value, str):
        if not storable(value):
            errors.setdefault(path or "body", unstorable_message())
    elif isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if not storable(str(key)):
                errors.setdefault(path or "body", unstorable_message())
                continue
            _walk(item, where, errors)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _walk(item, f"{path}.{index}" if path else str(index), errors)


class JsonOnlyParser(Parser):
    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        # ninja wraps what this raises in a 400 HttpError; the API's handler answers by its cause.
        if not is_json(request.content_type):
            raise UnsupportedMediaType(request.content_type)
        data = json.loads(request.body)
        if not isinstance(data, dict):
            # Every body of this API is an object; ninja's schemas would read the fields of anything
            # else as absent, so ``[null]`` would pass for an empty PATCH.
            raise BookingInputError({"body": _('Send a JSON object, like {"name": "..."}.')})
        errors: dict[str, str] = {}
        _walk(data, "", errors)
        if errors:
            raise BookingInputError(errors)
        return data  # type: ignore[no-any-return]

    def parse_querydict(
        self, data: MultiValueDict[str, Any], list_fields: list[str], request: HttpRequest
    ) -> dict[str, Any]:
        errors: dict[str, str] = {}
        for key, values in data.lists():
            if not storable(key):
                errors.setdefault("query", unstorable_message())
            elif not all(storable(v) for v in values if isinstance(v, str)):
                errors.setdefault(key, unstorable_message())
        if errors:
            raise BookingInputError(errors)
        return super().parse_querydict(data, list_fields, request)
