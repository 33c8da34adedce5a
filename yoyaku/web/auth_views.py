"""Sign-in and sign-out, on Django's auth views with Yoyaku's templates."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
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


class SignInView(auth_views.LoginView):
    template_name = "web/login.html"
    redirect_authenticated_user = True
    form_class = SignInForm

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_invalid(form)
        if form.has_error(NON_FIELD_ERRORS, "too_many_attempts"):
            response.status_code = 429
            wait = getattr(self.request, sign_in_limits.WAIT_ATTRIBUTE, None)
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
