"""The REST API under /api/v1, with its OpenAPI document at /api/v1/openapi.json and docs at /api/v1/docs."""

from __future__ import annotations

import logging
import math

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext, gettext_noop, ngettext
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError

from yoyaku.accounts.connections import ConnectionRefused
from yoyaku.api import connections, crm, hosts, manage, public
from yoyaku.api.connections import refusal_status
from yoyaku.api.middleware import not_found_detail
from yoyaku.api.parser import JsonOnlyParser, UnsupportedMediaType
from yoyaku.scheduling.host_services import LinkConflict
from yoyaku.scheduling.services import CalendarUnreadable, PageClosed, RequestTimeTaken, SlotUnavailable
from yoyaku.scheduling.validation import BookingInputError

logger = logging.getLogger(__name__)

api = NinjaAPI(
    title="Yoyaku API",
    version="1",
    description=(
        "Scheduling pages, availability and bookings. Host endpoints take `Authorization: Bearer <API key>`."
    ),
    urls_namespace="api-v1",
    parser=JsonOnlyParser(),
)
api.add_router("/", hosts.router)
api.add_router("/", public.router)
api.add_router("/", manage.router)
api.add_router("/", connections.router)
api.add_router("/", crm.router)


def _error(
    request: HttpRequest, status: int, detail: str, errors: dict[str, str] | None = None
) -> HttpResponse:
    return api.create_response(request, {"detail": detail, "errors": errors or {}}, status=status)


@api.exception_handler(BookingInputError)
def _bad_input(request: HttpRequest, exc: BookingInputError) -> HttpResponse:
    return _error(request, 422, gettext("Some fields need fixing."), exc.errors)


def _location(loc: list[object]) -> str:
    # pydantic names a bad dict key "[key]" after the key itself; the key is the field to fix.
    parts = [str(p) for p in loc if p not in ("body", "payload", "query", "[key]")]
    return ".".join(parts) or "body"


# pydantic's messages are English; the common kinds get a translated message, the rest keep theirs.
_SCHEMA_MESSAGES = {
    "missing": gettext_noop("This field is required."),
    "string_too_long": gettext_noop("This value is too long."),
    "string_too_short": gettext_noop("This value is too short."),
    "string_type": gettext_noop("Give text here."),
    "int_parsing": gettext_noop("Give a whole number here."),
    "int_type": gettext_noop("Give a whole number here."),
    "greater_than_equal": gettext_noop("This number is too small."),
    "less_than_equal": gettext_noop("This number is too large."),
    "datetime_parsing": gettext_noop("Give a date and time like 2027-03-01T09:00:00+01:00."),
    "datetime_from_date_parsing": gettext_noop("Give a date and time like 2027-03-01T09:00:00+01:00."),
    "date_parsing": gettext_noop("Give a date like 2027-03-01."),
    "date_from_datetime_parsing": gettext_noop("Give a date like 2027-03-01."),
    "bool_parsing": gettext_noop("Answer with true or false."),
    "bool_type": gettext_noop("Answer with true or false."),
    "json_invalid": gettext_noop("The request body is not valid JSON."),
    "model_attributes_type": gettext_noop("Send a JSON object."),
    "dict_type": gettext_noop("Send a JSON object."),
    "extra_forbidden": gettext_noop("This field is not accepted here."),
}


def _schema_message(item: dict[str, object]) -> str:
    known = _SCHEMA_MESSAGES.get(str(item.get("type", "")))
    if known is not None:
        return gettext(known)
    return str(item.get("msg", gettext("Invalid value.")))


@api.exception_handler(ValidationError)
def _schema_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors: dict[str, str] = {}
    for item in exc.errors:
        errors.setdefault(_location(list(item.get("loc", []))), _schema_message(item))
    return _error(request, 422, gettext("Some fields need fixing."), errors)


@api.exception_handler(ConnectionRefused)
def _connection_refused(request: HttpRequest, exc: ConnectionRefused) -> HttpResponse:
    return _error(request, refusal_status(exc), str(exc))


@api.exception_handler(SlotUnavailable)
def _taken(request: HttpRequest, exc: SlotUnavailable) -> HttpResponse:
    if isinstance(exc, RequestTimeTaken):
        body = {"detail": str(exc), "errors": {}, "alternatives": [a.isoformat() for a in exc.alternatives]}
        return api.create_response(request, body, status=409)
    return _error(request, 409, str(exc))


@api.exception_handler(LinkConflict)
def _conflict(request: HttpRequest, exc: LinkConflict) -> HttpResponse:
    return _error(request, 409, str(exc))


@api.exception_handler(CalendarUnreadable)
def _calendar_down(request: HttpRequest, exc: CalendarUnreadable) -> HttpResponse:
    return _error(
        request,
        503,
        gettext(
            "The host's calendar cannot be read right now, so this time cannot be confirmed. "
            "You can leave a meeting request instead."
        ),
    )


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(request, 401, gettext("Send a valid API key: Authorization: Bearer yk_..."))


@api.exception_handler(Throttled)
def _throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    if exc.wait:
        seconds = math.ceil(exc.wait)
        response = _error(
            request,
            429,
            ngettext(
                "Too many requests; try again in %(seconds)d second.",
                "Too many requests; try again in %(seconds)d seconds.",
                seconds,
            )
            % {"seconds": seconds},
        )
        response["Retry-After"] = str(seconds)
        return response
    return _error(request, 429, gettext("Too many requests; try again later."))


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # ninja turns whatever the body parser raises into a 400; answer by what the parser found.
    if isinstance(exc.__cause__, UnsupportedMediaType):
        return _error(
            request,
            415,
            gettext("Send the body as JSON, with the header Content-Type: application/json."),
            {"Content-Type": gettext("Use application/json.")},
        )
    if isinstance(exc.__cause__, BookingInputError):
        return _bad_input(request, exc.__cause__)
    if exc.status_code == 400 and str(exc).startswith("Cannot parse request body"):
        return _error(request, 400, gettext("The body is not valid JSON."))
    return _error(request, exc.status_code, str(exc))


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, not_found_detail())


@api.exception_handler(PageClosed)
def _page_closed(request: HttpRequest, exc: PageClosed) -> HttpResponse:
    # As for a page that does not exist: the answer says nothing about the page's people.
    return _error(request, 404, not_found_detail())


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return _error(request, 413, gettext("The request body is too large."))


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    # A bug, not bad input: log it with its traceback and answer in the documented shape (never an
    # HTML page, whatever DEBUG says), without details that belong in the log only.
    logger.exception("Unexpected error in %s %s", request.method, request.path)
    return _error(request, 500, gettext("Something went wrong on the server. Try again later."))
