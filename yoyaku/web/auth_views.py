"""Sign-in and sign-out, on Django's auth views with Yoyaku's templates."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext

from yoyaku.accounts import sign_in_limits


class LimitedSignInMixin:
    """Turns a sign-in the limits refused (``accounts/sign_in_limits.SignInLimitBackend``, which counted
    the attempt and did not check the password) into its own error, "try again in N minutes"."""

    request: HttpRequest | None

    def clean(self) -> dict[str, Any]:
        try:
            return super().clean()  # type: ignore[misc,no-any-return]
        except ValidationError as error:
            wait = getattr(self.request, sign_in_limits.WAIT_ATTRIBUTE, None)
            if wait is not None:
                raise ValidationError(
                    sign_in_limits.minutes_message(wait), code="too_many_attempts"
                ) from error
            raise


class SignInForm(LimitedSignInMixin, AuthenticationForm):
    """Django's sign-in form; the limits themselves are in the authentication backend, for every path."""


class AdminSignInForm(LimitedSignInMixin, AdminAuthenticationForm):
    """The admin's login form with the same message (the limits apply there through the backend)."""


def _mark_refused(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    wait = getattr(request, sign_in_limits.WAIT_ATTRIBUTE, None)
    if wait is not None:
        response.status_code = 429
        response["Retry-After"] = str(wait)
    return response


def refused_sign_in_answer(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap a login view so an attempt the limits refused answers 429 with Retry-After."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        return _mark_refused(request, view(request, *args, **kwargs))

    return wrapped


class SignInView(auth_views.LoginView):
    template_name = "web/login.html"
    redirect_authenticated_user = True
    form_class = SignInForm

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        return _mark_refused(self.request, super().form_invalid(form))


class SignOutView(auth_views.LogoutView):
    """POST only (Django's rule): a link could sign people out from another site."""

    next_page = "login"

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(request, *args, **kwargs)
        # After logout the session is new; the message lives in it until the sign-in page shows it.
        messages.info(request, gettext("You have signed out."))
        return response
