"""One view per operation, also where two operations share a URL (GET lists, POST creates).

`by_method(get=XyzListApi, post=XyzCreateApi)` is what urls.py mounts: each request goes to the
operation view of its HTTP method, which runs its own authentication, permissions, input and
output serializers exactly as if it were mounted alone. drf-spectacular sees one APIView per URL
(`callback.cls`); the one built here carries each operation's handler schema (its
`@extend_schema`) and docstring, so the schema keeps its paths, operation ids and components, and
each operation is described by its own view. The same class answers the methods no operation
takes (405 with an Allow header listing the operations', through the API's error handler) and
OPTIONS.
"""

from __future__ import annotations

import functools
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponseBase
from rest_framework.views import APIView

# What the operation views may share with the built class (so a 405 or OPTIONS is answered after
# the same checks as the operations); differing settings fall back to the API's defaults.
_SHARED = ("authentication_classes", "permission_classes")


def _schema_only(api: type[APIView], method: str) -> Any:
    handler = getattr(api, method)

    @functools.wraps(handler)  # copies the @extend_schema kwargs the schema generator reads
    def operation(self: APIView, request: Any, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError(f"{method.upper()} is served by {api.__name__}, not by the method router")

    operation.__doc__ = handler.__doc__ or api.__doc__
    return operation


class MethodRouter:
    """A URL's view that hands each request to the operation view of its HTTP method."""

    csrf_exempt = True  # as DRF's own views: SessionAuthentication enforces CSRF in the operation view

    def __init__(self, operations: dict[str, type[APIView]]) -> None:
        for method, api in operations.items():
            if not callable(getattr(api, method, None)):
                raise ImproperlyConfigured(f"{api.__name__} has no {method}(): it cannot serve {method.upper()}")
        self.views = {method: api.as_view() for method, api in operations.items()}
        attrs: dict[str, Any] = {method: _schema_only(api, method) for method, api in operations.items()}
        attrs["__doc__"] = None
        attrs["__module__"] = next(iter(operations.values())).__module__
        for name in _SHARED:
            values = {tuple(getattr(api, name)) for api in operations.values()}
            if len(values) == 1:
                attrs[name] = list(values.pop())
        class_name = "Or".join(api.__name__ for api in operations.values())
        # What DRF's as_view() exposes and schema generators look for.
        self.cls: type[APIView] = type(class_name, (APIView,), attrs)
        self.initkwargs: dict[str, Any] = {}
        self._other_methods = self.cls.as_view()
        self.__name__ = self.__qualname__ = class_name
        self.__module__ = attrs["__module__"]

    def __call__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        method = (request.method or "").lower()
        if method == "head" and "head" not in self.views:
            method = "get"  # as Django's View: HEAD is answered by GET
        view = self.views.get(method, self._other_methods)
        return view(request, *args, **kwargs)


def by_method(*, get: type[APIView] | None = None, post: type[APIView] | None = None,
              put: type[APIView] | None = None, patch: type[APIView] | None = None,
              delete: type[APIView] | None = None) -> MethodRouter:
    """The view of a URL whose operations are separate views, one per HTTP method."""
    operations = {method: api for method, api in
                  (("get", get), ("post", post), ("put", put), ("patch", patch), ("delete", delete))
                  if api is not None}
    if not operations:
        raise ImproperlyConfigured("by_method() needs at least one operation view")
    return MethodRouter(operations)
