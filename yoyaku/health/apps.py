from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "yoyaku.health"
    label = "health"
