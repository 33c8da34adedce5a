"""The browser side of connecting Google and Microsoft 365: start the OAuth flow, take the callback.

Thin views: the rules and the provider work live in yoyaku.accounts.connections.
The flow's state and PKCE verifier stay in the user's session between the two.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from yoyaku.accounts.connections import (
    OAUTH_PROVIDERS,
    ConnectionRefused,
    complete_oauth,
    provider_label,
    start_oauth,
)
from yoyaku.accounts.models import User
from yoyaku.accounts.providers import default_redirect_uri

SETTINGS_URL = "/settings/calendar/"
DASHBOARD_URL = "/dashboard/"


def _session_key(provider: str) -> str:
    return f"yoyaku.oauth.{provider}"


def _user(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)
    return user


@login_required
@require_POST
def oauth_start(request: HttpRequest, provider: str) -> HttpResponse:
    if provider not in OAUTH_PROVIDERS:
        messages.error(request, _("Unknown calendar provider."))
        return redirect(SETTINGS_URL)
    try:
        # The registered redirect URI is the public base URL's, not whatever Host header came in.
        start = start_oauth(
            user=_user(request), provider=provider, redirect_uri=default_redirect_uri(provider)
        )
    except ConnectionRefused as refused:
        messages.error(request, str(refused))
        return redirect(SETTINGS_URL)
    request.session[_session_key(provider)] = start.session_data
    return redirect(start.url)


@login_required
@require_GET
def oauth_callback(request: HttpRequest, provider: str) -> HttpResponse:
    if provider not in OAUTH_PROVIDERS:
        messages.error(request, _("Unknown calendar provider."))
        return redirect(SETTINGS_URL)
    # One use only: a replayed callback finds no flow.
    session_data = request.session.pop(_session_key(provider), None) or {}
    try:
        connection = complete_oauth(
            user=_user(request),
            provider=provider,
            query=request.GET.dict(),
            session_data=session_data,
            redirect_uri=default_redirect_uri(provider),
        )
    except ConnectionRefused as refused:
        messages.error(request, str(refused))
        return redirect(SETTINGS_URL)
    messages.success(
        request,
        _("Your %(provider)s calendar %(account)s is connected. Choose which calendars to check below.")
        % {"provider": provider_label(provider), "account": connection.account_email},
    )
    return redirect(DASHBOARD_URL)
