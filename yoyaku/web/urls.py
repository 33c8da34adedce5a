from django.urls import path

from yoyaku.web import connections, views

urlpatterns = [
    path("", views.home, name="home"),
    path("m/<slug:slug>", views.booking_page, name="booking-page"),
    path("m/<slug:slug>/", views.booking_page),
    # Connecting Google and Microsoft 365 (OAuth): start, and the provider's redirect back.
    path("settings/calendar/connect/<str:provider>/", connections.oauth_start, name="connect-oauth-start"),
    path("oauth/<str:provider>/callback", connections.oauth_callback, name="oauth-callback"),
]
