"""OpenAPI schema conventions in one place (drf-spectacular).

Every /api/ operation documents the error answers the exception handler gives
(apps.common.errors: {code, message, extra}): 400 invalid input, 403 not allowed or not logged in,
404 missing or hidden (also a page number past the end). A 409 is listed by the operations that
can refuse a transition. Paginated lists are documented as pages, not as arrays.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import extend_schema_serializer
from rest_framework import serializers

DEFAULT_ERROR_CODES = ("400", "403", "404")


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable error code; clients branch on it.")
    message = serializers.CharField()
    extra = serializers.DictField(help_text="Details of this code (fields, violations, current state).")


def page_of(item: type[serializers.Serializer], component_name: str,
            **extra: serializers.Field) -> type[serializers.Serializer]:
    """The one page serializer: a page of `item` rows as `apps.common.pagination.Page.body`
    answers it, with a list's `extra` keys (a worklist's next_assignment) after the four."""
    fields: dict[str, Any] = {"count": serializers.IntegerField(), "next": serializers.URLField(allow_null=True),
                              "previous": serializers.URLField(allow_null=True), "results": item(many=True),
                              **extra}
    name = component_name + "Serializer"
    page = type(name, (serializers.Serializer,), {"__qualname__": name, "__module__": item.__module__, **fields})
    return extend_schema_serializer(component_name=component_name)(page)


class AutoSchema(SpectacularAutoSchema):
    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        if not self.path.startswith("/api/"):
            return responses
        for code in DEFAULT_ERROR_CODES:
            if code not in responses:
                responses[code] = self._get_response_for_code(ErrorSerializer, code, direction=direction)
        return responses
