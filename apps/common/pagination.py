"""The one pagination of every list endpoint: `paginate` a queryset, answer `page.body(rows)`.

The schema of such an answer is `apps.common.schema.page_of(RowSerializer, "XPage")`, the one page
serializer; `body` and `page_of` name the same four keys (plus a list's own extra keys)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.views import APIView


class DefaultPagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    number: int
    count: int
    next: str | None
    previous: str | None

    def body(self, results: list[Any], **extra: Any) -> dict[str, Any]:
        """The page's JSON: count, next, previous, results, then any extra keys of the list."""
        return {"count": self.count, "next": self.next, "previous": self.previous, "results": results, **extra}


def paginate(queryset: Any, request: Request, view: APIView) -> Page:
    """One page of `queryset` as the request asks (?page, ?page_size); 404 past the last page."""
    paginator = DefaultPagination()
    rows: list[Any] | None = paginator.paginate_queryset(queryset, request, view=view)
    page = paginator.page
    if page is None:  # only without a page size, which settings always give (API_PAGE_SIZE)
        raise ImproperlyConfigured("REST_FRAMEWORK PAGE_SIZE must be set.")
    return Page(rows=list(rows or []), number=page.number, count=page.paginator.count,
                next=paginator.get_next_link(), previous=paginator.get_previous_link())
