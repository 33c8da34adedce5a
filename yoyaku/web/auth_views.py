"""Sign-in and sign-out, on Django's auth views with Yoyaku's templates."""

from __future__ import annotations

import math
from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext, ngettext

from yoyaku.accounts import sign_in_limits
from yoyaku.accounts.client_address import client_address


class SignInForm(AuthenticationForm):
    """Django's sign-in form, refusing a username with too many recent failures before the password
    is checked (so guessing on gets nowhere, and costs no password hashing)."""

    def address(self) -> str:
        return client_address(self.request) if self.request is not None else ""

    def clean(self) -> dict[str, Any]:
        username = str(self.cleaned_data.get("username") or "")
        wait = sign_in_limits.locked_for(username=username, address=self.address()) if username else None
        if wait is not None:
            minutes = math.ceil(wait / 60)
            raise ValidationError(
                ngettext(
                    "Too many failed sign-in attempts. Try again in %(minutes)d minute.",
                    "Too many failed sign-in attempts. Try again in %(minutes)d minutes.",
                    minutes,
                )
                % {"minutes": minutes},
                code="too_many_attempts",
            )
        try:
            return super().clean()
        except ValidationError as error:
            if username and getattr(error, "code", "") == "invalid_login":
                sign_in_limits.record_failure(username=username, address=self.address())
            raise


class SignInView(auth_views.LoginView):
    template_name = "web/login.html"
    redirect_authenticated_user = True
    form_class = SignInForm

    def form_valid(self, form: AuthenticationForm) -> HttpResponse:
        username = str(form.cleaned_data.get("username") or "")
        sign_in_limits.clear_failures(username=username, address=client_address(self.request))
        return super().form_valid(form)

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_invalid(form)
        if form.has_error(NON_FIELD_ERRORS, "too_many_attempts"):
            response.status_code = 429
            username = str(form.cleaned_data.get("username") or "")
            wait = sign_in_limits.locked_for(username=username, address=client_address(self.request))
            if wait is not None:
                response["Retry-After"] = str(wait)
        return response


class SignOutView(auth_views.LogoutView):
    """POST only (Django's rule): a link could sign people out from another site."""

    next_page = "login"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        # After logout the session is new; the message lives in it until the sign-in page shows it.
        messages.info(request, gettext("You have signed out."))
        return response
