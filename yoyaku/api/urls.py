"""The REST API under /api/v1, with its OpenAPI document at /api/v1/openapi.json and docs at /api/v1/docs."""

from __future__ import annotations

import math

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, Throttled, ValidationError

from yoyaku.accounts.connections import ConnectionRefused
from yoyaku.api import connections, crm, hosts, manage, public
from yoyaku.api.connections import refusal_status
from yoyaku.scheduling.host_services import LinkConflict
from yoyaku.scheduling.services import CalendarUnreadable, SlotUnavailable
from yoyaku.scheduling.validation import BookingInputError

api = NinjaAPI(
    title="Yoyaku API",
    version="1",
    description=(
        "Scheduling pages, availability and bookings. Host endpoints take `Authorization: Bearer <API key>`."
    ),
    urls_namespace="api-v1",
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
    return _error(request, 422, "Some fields need fixing.", exc.errors)


def _location(loc: list[object]) -> str:
    # pydantic names a bad dict key "[key]" after the key itself; the key is the field to fix.
    parts = [str(p) for p in loc if p not in ("body", "payload", "query", "[key]")]
    return ".".join(parts) or "body"


@api.exception_handler(ValidationError)
def _schema_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors: dict[str, str] = {}
    for item in exc.errors:
        errors.setdefault(_location(list(item.get("loc", []))), str(item.get("msg", "Invalid value.")))
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
    return _error(request, exc.status_code, str(exc))


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
    return _error(request, 404, "Nothing here: check the address (a scheduling page's slug, for example).")


@api.exception_handler(RequestDataTooBig)
def _too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return _error(request, 413, "The request body is too large.")
