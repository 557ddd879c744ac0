"""The single-page app's shell: one HTML page for "/" and every client-side route.

The SPA routes on the client (/read/<id>, /arbitrate/<id>, /admin-tools/...); the server only checks
that the user is logged in and hands over who they are. Every permission check that matters is
done by the API the screens call, so opening another reader's /read/<id> shows the API's 404.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from apps.accounts.roles import user_roles
from apps.reading.rules import client_vocabulary
from apps.web.vite import FrontendNotBuiltError, entry_assets


@require_GET
@login_required
@ensure_csrf_cookie
def spa_shell(request: HttpRequest, **_route: object) -> HttpResponse:
    try:
        assets = entry_assets(settings.FRONTEND_DIST_DIR)
    except FrontendNotBuiltError as exc:
        return render(request, "web/not_built.html", {"reason": str(exc)}, status=503)
    boot = {
        "user": {
            "id": request.user.pk,
            "username": request.user.get_username(),
            "roles": sorted(user_roles(request.user)),
        },
        "urls": {"logout": reverse("logout"), "admin": reverse("admin:index")},
        "vocabulary": client_vocabulary(),
    }
    return render(request, "web/spa.html", {"assets": assets, "boot": boot})
