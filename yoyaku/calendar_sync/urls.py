from django.urls import path

from yoyaku.calendar_sync import views

urlpatterns = [
    path("calendar/push/google/", views.google_push, name="push-google"),
    path("calendar/push/microsoft/", views.microsoft_push, name="push-microsoft"),
]
