from django.apps import AppConfig


class WebConfig(AppConfig):
    """Serves the built single-page frontend and the login/logout pages."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.web"
