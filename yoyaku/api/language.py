"""The language of the API's messages.

Django's LocaleMiddleware has already chosen one from the language cookie or ``Accept-Language``
(RFC 9110 §12.5.4). A booking page also names its own language in a ``lang`` query parameter on
its calls, because an embedded page may not get its cookie back (third-party cookies) and its
answers and mails must speak the page's language, not the browser's.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import translation


def requested_language(request: HttpRequest) -> str | None:
    """The supported language the ``lang`` parameter names (``ja-JP`` is ``ja``), or None."""
    asked = request.GET.get("lang", "")
    if not asked:
        return None
    try:
        return translation.get_supported_language_variant(asked)
    except LookupError:
        return None


class ApiLanguageMiddleware:
    """Under the API's prefix, ``?lang=`` chooses the language; elsewhere nothing changes."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        language = requested_language(request) if request.path.startswith("/api/") else None
        if language is None:
            return self.get_response(request)
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        # LocaleMiddleware, outside this one, adds the Content-Language header of the language active now.
        return response
