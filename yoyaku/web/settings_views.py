"""Settings > General: the Calendar tab (connect a calendar) and API keys.

Thin views over ``yoyaku.accounts.connections`` and ``yoyaku.accounts.services``. The OAuth
start and callback views live in ``yoyaku.web.connections``; this page only shows what the
user agrees to and posts to the start URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from yoyaku.accounts.calendar_problems import calendar_problem
from yoyaku.accounts.connections import (
    ConnectionRefused,
    connect_blockers,
    connect_caldav_calendar,
    connect_exchange_calendar,
)
from yoyaku.accounts.models import CalendarConnection, ConnectionStatus, Provider, User
from yoyaku.accounts.providers import scope_disclosure
from yoyaku.accounts.selectors import user_connections
from yoyaku.accounts.services import create_api_key, revoke_api_key
from yoyaku.calendars.base import CalendarError
from yoyaku.web import selectors
from yoyaku.web.forms import ApiKeyForm, CalDAVForm, ExchangeForm
from yoyaku.web.host import host_user, in_user_zone


@dataclass(frozen=True)
class ProviderOption:
    code: str
    label: str
    # The name in "Accept and connect to …".
    brand: str
    description: str
    oauth: bool
    # Why this provider cannot be chosen now ("" when it can).
    blocked: str = ""
    start_url: str = ""
    # (scope, what Yoyaku does with it), shown before the OAuth redirect.
    scopes: tuple[tuple[str, str], ...] = ()


PROVIDERS: tuple[tuple[str, Any, str, Any, bool], ...] = (
    (
        "google",
        gettext_lazy("Google / Gmail"),
        "Google",
        gettext_lazy("Google Calendar with Gmail or Google Workspace."),
        True,
    ),
    (
        "microsoft",
        gettext_lazy("Office 365"),
        "Office 365",
        gettext_lazy("Outlook calendars of Microsoft 365 accounts."),
        True,
    ),
    (
        "exchange",
        gettext_lazy("Exchange"),
        "Exchange",
        gettext_lazy("Exchange Server 2010 SP2 or later, on premises."),
        False,
    ),
    (
        "caldav",
        gettext_lazy("CalDAV"),
        "CalDAV",
        gettext_lazy("Nextcloud, Fastmail, iCloud and other CalDAV servers."),
        False,
    ),
)
STEPS = {"choose"} | {code for code, *_ in PROVIDERS}


def _provider_options(user: User, general: list[str]) -> list[ProviderOption]:
    options = []
    for code, label, brand, description, oauth in PROVIDERS:
        reasons = [r for r in connect_blockers(user=user, provider=code) if r not in general]
        start_url = ""
        if oauth:
            try:
                start_url = reverse("connect-oauth-start", kwargs={"provider": code})
            except NoReverseMatch:
                reasons.append(gettext("Connecting this provider is not available on this server."))
        options.append(
            ProviderOption(
                code=code,
                label=str(label),
                brand=brand,
                description=str(description),
                oauth=oauth,
                blocked=" ".join(reasons),
                start_url=start_url,
                scopes=tuple(scope_disclosure(provider=code)),
            )
        )
    return options


def _reconnect_forms(connection: CalendarConnection) -> tuple[ExchangeForm | None, CalDAVForm | None]:
    """The form for re-entering a password, filled with what identifies the account.

    The services treat the same account as a reconnect (not a second connection), so these
    values are what makes the attempt a reconnect.
    """
    if connection.provider == Provider.EXCHANGE:
        return (
            ExchangeForm(
                initial={
                    "email": connection.account_email,
                    "username": connection.username,
                    "ews_url": connection.server_url,
                }
            ),
            None,
        )
    if connection.provider == Provider.CALDAV:
        return None, CalDAVForm(initial={"url": connection.server_url, "username": connection.username})
    return None, None


def _render_calendar_tab(
    request: HttpRequest,
    user: User,
    *,
    step: str = "",
    reconnect: CalendarConnection | None = None,
    exchange_form: ExchangeForm | None = None,
    caldav_form: CalDAVForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    connections = user_connections(user=user)
    blockers = connect_blockers(user=user)
    options = _provider_options(user, blockers)
    if reconnect is not None and exchange_form is None and caldav_form is None:
        exchange_form, caldav_form = _reconnect_forms(reconnect)
    context: dict[str, Any] = {
        "section": "settings",
        "tab": "calendar",
        "connections": connections,
        "blockers": blockers,
        "providers": options,
        "open_step": step,
        "reconnect": reconnect,
        "error": error,
        "exchange_form": exchange_form or ExchangeForm(initial={"email": user.email}),
        "caldav_form": caldav_form or CalDAVForm(),
    }
    with in_user_zone(user):
        return render(request, "web/settings_calendar.html", context, status=status)


@login_required
@require_GET
def settings_home(request: HttpRequest) -> HttpResponse:
    return redirect("settings-calendar")


@login_required
@require_GET
def calendar_tab(request: HttpRequest) -> HttpResponse:
    user = host_user(request)
    step = request.GET.get("connect", "")
    reconnect = _needing_reconnect(user, request.GET.get("reconnect", ""))
    if reconnect is not None:
        # Reconnecting is allowed at the connection limit, so the dialog opens on its provider.
        return _render_calendar_tab(request, user, step=reconnect.provider, reconnect=reconnect)
    # The dialog is not offered while the user may not connect at all.
    if step not in STEPS or connect_blockers(user=user):
        step = ""
    return _render_calendar_tab(request, user, step=step)


def _needing_reconnect(user: User, raw_id: str) -> CalendarConnection | None:
    if not raw_id.isdigit():
        return None
    for connection in user_connections(user=user):
        if connection.pk == int(raw_id) and connection.status == ConnectionStatus.NEEDS_RECONNECT:
            return connection
    return None


@login_required
@require_POST
def connect_exchange(request: HttpRequest) -> HttpResponse:
    user = host_user(request)
    form = ExchangeForm(request.POST)
    error = ""
    if form.is_valid():
        data = form.cleaned_data
        try:
            connection = connect_exchange_calendar(
                user=user,
                email=data["email"],
                password=data["password"],
                username=data["username"],
                ews_url=data["ews_url"],
            )
        except ConnectionRefused as refused:
            error = str(refused)
        except CalendarError as refused:
            error = calendar_problem(refused)
        else:
            messages.success(
                request,
                gettext("Your Exchange calendar %(email)s is connected.")
                % {"email": connection.account_email},
            )
            return redirect("dashboard")
    reconnect = _needing_reconnect(user, request.POST.get("reconnect", ""))
    return _render_calendar_tab(
        request, user, step="exchange", reconnect=reconnect, exchange_form=form, error=error
    )


@login_required
@require_POST
def connect_caldav(request: HttpRequest) -> HttpResponse:
    user = host_user(request)
    form = CalDAVForm(request.POST)
    error = ""
    if form.is_valid():
        data = form.cleaned_data
        try:
            connection = connect_caldav_calendar(
                user=user, url=data["url"], username=data["username"], password=data["password"]
            )
        except ConnectionRefused as refused:
            error = str(refused)
        except CalendarError as refused:
            error = calendar_problem(refused)
        else:
            messages.success(
                request,
                gettext("Your CalDAV calendar %(account)s is connected.")
                % {"account": connection.account_email or connection.username},
            )
            return redirect("dashboard")
    reconnect = _needing_reconnect(user, request.POST.get("reconnect", ""))
    return _render_calendar_tab(
        request, user, step="caldav", reconnect=reconnect, caldav_form=form, error=error
    )


def _render_api_keys(
    request: HttpRequest, user: User, *, form: ApiKeyForm | None = None, new_key: str | None = None
) -> HttpResponse:
    context: dict[str, Any] = {
        "section": "settings",
        "tab": "api-keys",
        "keys": selectors.api_keys(user=user),
        "form": form or ApiKeyForm(),
        "new_key": new_key,
    }
    with in_user_zone(user):
        response = render(request, "web/settings_api_keys.html", context)
    # The page may show a secret once: keep it out of every cache.
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_http_methods(["GET", "POST"])
def api_keys(request: HttpRequest) -> HttpResponse:
    user = host_user(request)
    if request.method != "POST":
        return _render_api_keys(request, user)
    form = ApiKeyForm(request.POST)
    if not form.is_valid():
        return _render_api_keys(request, user, form=form)
    # The key is shown in this response and nowhere else: a redirect would have to keep it somewhere
    # (the session store, a message cookie) until the next page, and it is stored only as a hash.
    new_key = create_api_key(user=user, name=form.cleaned_data["name"])
    return _render_api_keys(request, user, new_key=new_key)


@login_required
@require_POST
def revoke_key(request: HttpRequest, key_id: int) -> HttpResponse:
    if revoke_api_key(user=host_user(request), key_id=key_id):
        messages.success(request, gettext("The key is revoked. Requests that use it are now refused."))
    else:
        messages.error(request, gettext("That key was not found; it may already be revoked."))
    return redirect("settings-api-keys")
