from django.urls import URLPattern, URLResolver, path

from apps.common.views import by_method
from apps.datasets import apis

urlpatterns: list[URLPattern | URLResolver] = [
    path("projects/<slug:slug>/exports/", by_method(get=apis.ExportListApi, post=apis.ExportCreateApi), name="export-list"),
    path("exports/<int:export_id>/", apis.ExportDetailApi.as_view(), name="export-detail"),
    path("exports/<int:export_id>/files/<path:name>", apis.ExportFileApi.as_view(), name="export-file"),
]
