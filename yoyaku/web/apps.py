from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "yoyaku.web"
    label = "web"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib import admin

        from yoyaku.web.auth_views import AdminSignInForm

        # The admin's login page says "try again in N minutes" like the sign-in page; the limits
        # themselves hold there through the authentication backend.
        admin.site.login_form = AdminSignInForm
