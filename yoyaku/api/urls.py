"""The REST API under /api/v1, with its OpenAPI document at /api/v1/openapi.json and docs at /api/v1/docs."""

from __future__ import annotations

import logging
import math

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError

from yoyaku.accounts.connections import ConnectionRefused
from yoyaku.api import connections, crm, hosts, public
from yoyaku.api.connections import refusal_status
from yoyaku.api.middleware import not_found_detail
from yoyaku.api.parser import JsonOnlyParser, UnsupportedMediaType
from yoyaku.scheduling.host_services import LinkConflict
from yoyaku.scheduling.services import CalendarUnreadable, SlotUnavailable
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
api.add_router("/", connections.router)
api.add_router("/", crm.router)


def _error(
    request: HttpRequest, status: int, detail: str, errors: dict[str, str] | None = None
) -> HttpResponse:
    return api.create_response(request, {"detail": detail, "errors": errors or {}}, status=status)


@api.exception_handler(BookingInputError)
def _bad_input(request: HttpRequest, exc: BookingInputError) -> HttpResponse:
    return _error(request, 422, "Some fields need fixing.", exc.errors)


def _location(loc: list[object]) -> str:
    # pydantic names a bad dict key "[key]" after the key itself; the key is the field to fix.
    parts = [str(p) for p in loc if p not in ("body", "payload", "query", "[key]")]
    return ".".join(parts) or "body"


@api.exception_handler(ValidationError)
def _schema_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors: dict[str, str] = {}
    for item in exc.errors:
        message = str(item.get("msg", "Invalid value."))
        # pydantic prefixes the message of a ValueError raised by a validator; the message is ours.
        message = message.removeprefix("Value error, ")
        errors.setdefault(_location(list(item.get("loc", []))), message)
    return _error(request, 422, "Some fields need fixing.", errors)


@api.exception_handler(ConnectionRefused)
def _connection_refused(request: HttpRequest, exc: ConnectionRefused) -> HttpResponse:
    return _error(request, refusal_status(exc), str(exc))


@api.exception_handler(SlotUnavailable)
def _taken(request: HttpRequest, exc: SlotUnavailable) -> HttpResponse:
    return _error(request, 409, str(exc))


@api.exception_handler(LinkConflict)
def _conflict(request: HttpRequest, exc: LinkConflict) -> HttpResponse:
    return _error(request, 409, str(exc))


@api.exception_handler(CalendarUnreadable)
def _calendar_down(request: HttpRequest, exc: CalendarUnreadable) -> HttpResponse:
    return _error(
        request,
        503,
        "The host's calendar cannot be read right now, so this time cannot be confirmed. "
        "You can leave a meeting request instead.",
    )


@api.exception_handler(AuthenticationError)
def _unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return _error(request, 401, "Send a valid API key: Authorization: Bearer yk_...")


@api.exception_handler(Throttled)
def _throttled(request: HttpRequest, exc: Throttled) -> HttpResponse:
    if exc.wait:
        seconds = math.ceil(exc.wait)
        response = _error(request, 429, f"Too many requests; try again in {seconds} seconds.")
        response["Retry-After"] = str(seconds)
        return response
    return _error(request, 429, "Too many requests; try again later.")


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    # ninja turns whatever the body parser raises into a 400; answer by what the parser found.
    if isinstance(exc.__cause__, UnsupportedMediaType):
        return _error(
            request,
            415,
            _("Send the body as JSON, with the header Content-Type: application/json."),
            {"Content-Type": _("Use application/json.")},
        )
    if isinstance(exc.__cause__, BookingInputError):
        return _bad_input(request, exc.__cause__)
    if exc.status_code == 400 and str(exc).startswith("Cannot parse request body"):
        return _error(request, 400, _("The body is not valid JSON."))
    return _error(request, exc.status_code, str(exc))


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, not_found_detail())


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return _error(request, 413, "The request body is too large.")


@api.exception_handler(Exception)
def _unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
    # A bug, not bad input: log it with its traceback and answer in the documented shape (never an
    # HTML page, whatever DEBUG says), without details that belong in the log only.
    logger.exception("Unexpected error in %s %s", request.method, request.path)
    return _error(request, 500, _("Something went wrong on the server. Try again later."))
