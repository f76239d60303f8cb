from django.apps import AppConfig


class AdeConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "ade"
