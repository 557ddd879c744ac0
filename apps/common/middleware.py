"""Security headers that Django 5.2 does not send itself."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"


class ContentSecurityPolicyMiddleware:
    """Adds settings.CONTENT_SECURITY_POLICY to every response that has none of its own (the
    SPA, the admin and the API all load only same-origin scripts; an empty setting sends none)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        policy = settings.CONTENT_SECURITY_POLICY
        if policy and HEADER not in response:
            response[HEADER] = policy
        return response


def content_security_policy(policy: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """A view's own policy instead of the default (e.g. the API docs page loads Swagger UI from its CDN)."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            response = view(request, *args, **kwargs)
            response[HEADER] = policy
            return response  # type: ignore[no-any-return]

        return wrapped

    return decorator

