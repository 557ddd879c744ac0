"""Dataset export API (admins only): create an export job, follow its progress, download its files.

POST /api/projects/{slug}/exports/          {"test_fraction": 0.2, "seed": 1999, "images": "none"} -> 202
GET  /api/projects/{slug}/exports/          paginated list, newest first
GET  /api/exports/{id}/                     status, progress, stage, files, manifest
GET  /api/exports/{id}/files/{name}         one file (name as listed in the manifest)
"""

from __future__ import annotations

import mimetypes

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import IsAdminRole
from apps.common.files import CACHE_DOWNLOADS, storage_file_response
from apps.common.pagination import paginate
from apps.common.schema import ErrorSerializer, page_of
from apps.datasets import selectors, services
from apps.datasets.models import Export, ExportStatus, ImagesMode
from apps.studies.selectors import project_get_for


class ExportFileSerializer(serializers.Serializer):
    name = serializers.CharField()
    size = serializers.IntegerField()
    url = serializers.CharField()


class ExportOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.CharField(source="project.slug")
    params = serializers.JSONField(help_text="The create body as validated: test_fraction, seed, images, "
                                             "strict_release.")
    status = serializers.ChoiceField(choices=ExportStatus.choices)
    progress = serializers.IntegerField(help_text="Percent.")
    stage = serializers.CharField(allow_blank=True)
    error = serializers.CharField(allow_blank=True)
    files = serializers.SerializerMethodField()
    manifest = serializers.JSONField()
    created_by = serializers.CharField(source="created_by.username", default=None, allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(ExportFileSerializer(many=True))
    def get_files(self, export: Export) -> list[dict[str, object]]:
        return [{"name": f["name"], "size": f["size"],
                 "url": reverse("export-file", kwargs={"export_id": export.pk, "name": f["name"]})}
                for f in export.files]


class ExportCreateInputSerializer(serializers.Serializer):
    test_fraction = serializers.FloatField(default=services.DEFAULT_TEST_FRACTION, min_value=0.0, max_value=1.0)
    seed = serializers.IntegerField(default=services.DEFAULT_SEED, min_value=0, max_value=2**32 - 1)
    images = serializers.ChoiceField(choices=ImagesMode.choices, default=ImagesMode.NONE)
    strict_release = serializers.BooleanField(
        default=False, help_text="Fail, naming the exams, when an exam holds a value the published "
                                 "VinDr-Mammo release never has (breast BI-RADS 0).")


ExportPageSerializer = page_of(ExportOutputSerializer, "ExportPage")


class ExportListApi(APIView):
    """A project's exports, newest first, a page at a time (admins only)."""

    permission_classes = [IsAdminRole]
    OutputSerializer = ExportPageSerializer

    @extend_schema(responses=ExportPageSerializer)
    def get(self, request: Request, slug: str) -> Response:
        project = project_get_for(request.user, slug, system=True, message=selectors.EXPORTS_ADMIN_ONLY)
        page = paginate(selectors.exports_for_project(user=request.user, project=project), request, self)
        return Response(self.OutputSerializer(page.body(page.rows)).data)


class ExportCreateApi(APIView):
    """Start an export of the project's final reads (admins only); it runs in the worker, 202 at once."""

    permission_classes = [IsAdminRole]
    InputSerializer = ExportCreateInputSerializer
    OutputSerializer = ExportOutputSerializer

    @extend_schema(request=ExportCreateInputSerializer, responses={202: ExportOutputSerializer})
    def post(self, request: Request, slug: str) -> Response:
        project = project_get_for(request.user, slug, system=True, message=selectors.EXPORTS_ADMIN_ONLY)
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        export = services.export_create(user=request.user, project=project, **data.validated_data)
        return Response(self.OutputSerializer(export).data, status=status.HTTP_202_ACCEPTED)


class ExportDetailApi(APIView):
    permission_classes = [IsAdminRole]
    OutputSerializer = ExportOutputSerializer

    @extend_schema(responses=ExportOutputSerializer)
    def get(self, request: Request, export_id: int) -> Response:
        export = selectors.export_get_for_user(user=request.user, export_id=export_id)
        return Response(self.OutputSerializer(export).data)


class ExportFileApi(APIView):
    permission_classes = [IsAdminRole]

    @extend_schema(responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 409: ErrorSerializer})
    def get(self, request: Request, export_id: int, name: str) -> HttpResponse:
        export = selectors.export_get_for_user(user=request.user, export_id=export_id)
        storage_name, filename = services.export_file_name(export=export, name=name)
        return storage_file_response(request, name=storage_name, content_type=_content_type(filename),
                                     cache_control=CACHE_DOWNLOADS, filename=filename, as_attachment=True)


def _content_type(filename: str) -> str:
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"
