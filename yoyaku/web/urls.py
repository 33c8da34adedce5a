from django.urls import path

from yoyaku.web import views

urlpatterns = [
    path("", views.home, name="home"),
]
