"""The WSGI app of bench/api.py: the deployed URLs plus one trivial DRF view, as the floor.

    gunicorn --pythonpath bench api_server:application

The trivial view goes through the same middleware, session authentication and permission check as
every API view and then returns a constant, so its latency is what the server, the framework and
the machine cost before any of our code runs.
"""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from django.conf import settings  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.urls import path  # noqa: E402
from rest_framework.request import Request  # noqa: E402
from rest_framework.response import Response  # noqa: E402
from rest_framework.views import APIView  # noqa: E402


class TrivialApi(APIView):
    def get(self, request: Request) -> Response:
        return Response({"ok": True})


def _urlpatterns() -> list:  # type: ignore[type-arg]
    from config.urls import urlpatterns

    return [path("api/bench/trivial/", TrivialApi.as_view()), *urlpatterns]


application = get_wsgi_application()
settings.ROOT_URLCONF = __name__
urlpatterns = _urlpatterns()
