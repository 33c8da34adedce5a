from django.contrib import admin
from django.urls import include, path

from yoyaku.api.urls import api
from yoyaku.health import views as health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("yoyaku.calendar_sync.urls")),
    path("", include("yoyaku.web.urls")),
]
