"""Every answer under /api/v1 is JSON, whichever part of Django produced it.

The API's exception handlers (``api/urls.py``) shape the errors its operations raise. Some answers are
made before or outside an operation: 404 for a path no operation has (or one holding NUL, ``%00``,
which names nothing and which PostgreSQL could not even compare), 405 from the router, Django's own
400 and 500 pages. This middleware gives those the documented shape ``{"detail": ..., "errors": {}}``,
keeping ``Allow`` and ``Retry-After``.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.utils.translation import gettext as _

from yoyaku.api.parser import JSON_TYPE, is_json

API_PREFIX = "/api/v1/"


def not_found_detail() -> str:
    return _("Nothing here: check the address (a scheduling page's slug, for example).")


def _detail(request: HttpRequest, status: int) -> str:
    if status == 404:
        return not_found_detail()
    if status == 405:
        return _("This address does not accept the %(method)s method.") % {"method": request.method}
    if status >= 500:
        return _("Something went wrong on the server. Try again later.")
    return _("The request could not be handled (HTTP %(status)s).") % {"status": status}


def _json_error(request: HttpRequest, status: int) -> HttpResponse:
    body = {"detail": _detail(request, status), "errors": {}}
    return HttpResponse(json.dumps(body), status=status, content_type=JSON_TYPE)


class ApiMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if not request.path.startswith(API_PREFIX):
            return self.get_response(request)
        if "\x00" in request.path:
            return _json_error(request, 404)
        response = self.get_response(request)
        if response.status_code >= 400 and not is_json(response.get("Content-Type")):
            answer = _json_error(request, response.status_code)
            for header in ("Allow", "Retry-After"):
                if header in response:
                    answer[header] = response[header]
            return answer
        return response
