"""One error type for business rules, one JSON shape for every API error.

Shape (documented in docs/api.md):
    {"code": "<stable_code>", "message": "<human text>", "extra": {...}}
The frontend branches on `code`, never on `message`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponsePermanentRedirect, JsonResponse
from django.urls import Resolver404, resolve
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ApplicationError(Exception):
    """A business rule said no. `code` is stable; `http_status` picks the HTTP answer.

    `message` and `extra` go to whoever made the request, readers included, so they must never
    carry the exam's state or another reader's work (blinding: a reader who learns that the exam
    went to arbitration learns that the other reader disagreed). Such details go in
    `admin_message` / `admin_extra`, which the exception handler shows to admins only.
    """

    http_status: int = status.HTTP_400_BAD_REQUEST

    def __init__(self, message: str, *, code: str, extra: dict[str, Any] | None = None,
                 http_status: int | None = None, admin_message: str | None = None,
                 admin_extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.extra = extra or {}
        self.admin_message = admin_message
        self.admin_extra = admin_extra or {}
        if http_status is not None:
            self.http_status = http_status

    def body_for(self, user: Any) -> dict[str, Any]:
        """The JSON body for this user: admin-only details are added for admins, and only them."""
        if user is not None and _admin_check is not None and _admin_check(user):
            return _error_body(self.code, self.admin_message or self.message, {**self.extra, **self.admin_extra})
        return _error_body(self.code, self.message, self.extra)


# Who is an admin is the accounts app's rule (apps/accounts/roles.py), above common; it registers
# it here at start-up (apps/accounts/apps.py), so common imports no app. None: nobody sees the
# admin-only details (fails closed).
_admin_check: Callable[[Any], bool] | None = None


def admin_check_register(check: Callable[[Any], bool]) -> None:
    global _admin_check
    _admin_check = check


class ConflictError(ApplicationError):
    """Invalid transition or stale version: 409, with the current state in `extra`."""

    http_status = status.HTTP_409_CONFLICT


class NotFoundError(ApplicationError):
    """Missing, or not visible to this user: both answer 404 so existence does not leak."""

    http_status = status.HTTP_404_NOT_FOUND

    def __init__(self, message: str = "Not found.", *, code: str = "not_found",
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message, code=code, extra=extra)


class ForbiddenError(ApplicationError):
    http_status = status.HTTP_403_FORBIDDEN

    def __init__(self, message: str = "You do not have permission to perform this action.", *,
                 code: str = "permission_denied", extra: dict[str, Any] | None = None) -> None:
        super().__init__(message, code=code, extra=extra)


def _error_body(code: str, message: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"code": code, "message": message, "extra": extra or {}}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        request = context.get("request")
        return Response(exc.body_for(getattr(request, "user", None)), status=exc.http_status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        response.data = _error_body("invalid_input", "The request has invalid fields.",
                                    {"fields": response.data})
    elif isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else "error"
        response.data = _error_body(code, str(exc.detail))
    return response


# --- Django-level errors under /api/ -------------------------------------------------------------
# Errors raised outside DRF views (no URL matched, a crash in middleware, a request Django refused
# before routing) would otherwise answer Django's HTML pages; API clients get the same JSON shape.

def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


@csrf_exempt  # it changes nothing; a CSRF check here would answer Django's HTML 403 page
def api_not_found(request: HttpRequest, unmatched: str = "") -> HttpResponse:
    """The last /api/ route: a path no endpoint matches (in every mode, DEBUG included). A GET of an
    endpoint without its trailing slash is still redirected, as APPEND_SLASH did before this route."""
    if not request.path.endswith("/"):
        try:
            match = resolve(request.path + "/")
        except Resolver404:
            match = None
        if match is not None and match.url_name != "api-not-found":
            if request.method in ("GET", "HEAD"):
                return HttpResponsePermanentRedirect(request.get_full_path(force_append_slash=True))
            return JsonResponse(_error_body("not_found", f"No API endpoint at this path; the endpoint is "
                                            f"{request.path}/ (with the trailing slash)."), status=404)
    return JsonResponse(_error_body("not_found", "No API endpoint at this path."), status=404)


def handler400(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(_error_body("bad_request", "The request was refused."), status=400)
    return defaults.bad_request(request, exception)


def handler403(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(_error_body("permission_denied", "You do not have permission to perform this "
                                        "action."), status=403)
    return defaults.permission_denied(request, exception)


def handler404(request: HttpRequest, exception: Exception) -> HttpResponse:
    if _is_api(request):
        return api_not_found(request)
    return defaults.page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(_error_body("server_error", "Internal server error."), status=500)
    return defaults.server_error(request)
