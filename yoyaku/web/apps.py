from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "yoyaku.web"
    label = "web"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib import admin

        from yoyaku.web.auth_views import AdminSignInForm, refused_sign_in_answer

        # The admin's login page answers a refused attempt like the sign-in page ("try again in N
        # minutes", 429 with Retry-After); the limits themselves hold there through the backend.
        admin.site.login_form = AdminSignInForm
        admin.site.login = refused_sign_in_answer(admin.site.login)  # type: ignore[method-assign]
