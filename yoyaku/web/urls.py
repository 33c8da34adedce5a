from django.urls import path

from yoyaku.web import views

urlpatterns = [
    path("", views.home, name="home"),
    path("m/<slug:slug>", views.booking_page, name="booking-page"),
    path("m/<slug:slug>/", views.booking_page),
]
