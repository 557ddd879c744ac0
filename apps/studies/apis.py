"""REST endpoints of the studies app: projects, imports, image files, review (docs/ingest.md)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import TooManyFilesSent
from django.core.files.storage import default_storage
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.access import acting_user
from apps.accounts.permissions import IsAdminRole
from apps.common.fields import DbIdField
from apps.common.files import CACHE_DOWNLOADS, CACHE_RENDERS, storage_file_response
from apps.common.pagination import paginate
from apps.common.schema import ErrorSerializer, page_of
from apps.studies import selectors, services
from apps.studies.errors import FileNotAvailable, InvalidManifest, UploadTooLarge
from apps.studies.models import Image, ImageState, ImportBatchState, ImportItemStatus, Laterality

# A manifest names files and exams: a few MB at most for any real archive.
MANIFEST_MAX_BYTES = 16 * 1024 * 1024

FILE_KINDS = {
    "display": ("display_file", "image/png"),
    "thumbnail": ("thumbnail_file", "image/png"),
    "full": ("full_depth_file", "image/png"),
    "depth": ("depth_preview_file", "image/png"),
    "dicom": ("dicom_file", "application/dicom"),
}


# Serializer classes carry unique names because drf-spectacular names schema components after them
# (ProjectSerializer -> Project), as in the reading API.


class ProjectCreateInputSerializer(serializers.Serializer):
    slug = serializers.SlugField(max_length=50)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)


class ProjectSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()
    study_count = serializers.IntegerField(required=False)
    created_at = serializers.DateTimeField()


ProjectPageSerializer = page_of(ProjectSerializer, "ProjectPage")


class ProjectListApi(APIView):
    """The projects, a page at a time (admins only)."""

    permission_classes = [IsAdminRole]
    OutputSerializer = ProjectPageSerializer

    @extend_schema(responses=ProjectPageSerializer)
    def get(self, request: Request) -> Response:
        page = paginate(selectors.project_list(user=request.user), request, self)
        return Response(self.OutputSerializer(page.body(page.rows)).data)


class ProjectCreateApi(APIView):
    """Create a project (admins only); 409 when the slug is taken."""

    permission_classes = [IsAdminRole]
    InputSerializer = ProjectCreateInputSerializer
    OutputSerializer = ProjectSerializer

    @extend_schema(request=ProjectCreateInputSerializer, responses={201: ProjectSerializer, 409: ErrorSerializer})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        project = services.project_create(actor=acting_user(request), **data.validated_data)
        return Response(self.OutputSerializer(project).data, status=status.HTTP_201_CREATED)


class ImportBatchSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    project = serializers.CharField(source="project.slug")
    source = serializers.CharField(help_text="cli, upload, dicom or demo")  # type: ignore[assignment]
    keep_ids = serializers.BooleanField()
    state = serializers.ChoiceField(choices=ImportBatchState.choices)
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    counts = serializers.SerializerMethodField()

    def get_counts(self, batch: Any) -> dict[str, int]:
        return {"total": batch.count_total, "pending": batch.count_pending, "imported": batch.count_imported,
                "duplicate": batch.count_duplicate, "rejected": batch.count_rejected}


class ImportUploadInputSerializer(serializers.Serializer):
    files = serializers.ListField(child=serializers.FileField(), allow_empty=False)
    manifest = serializers.FileField(required=False, allow_null=True,
                                     help_text="optional CSV with columns file,exam")
    keep_ids = serializers.BooleanField(required=False, default=False)
    group_by = serializers.ChoiceField(
        choices=[services.GROUP_BY_STUDY, services.GROUP_BY_PATIENT_ID_PREFIX], required=False,
        default=services.GROUP_BY_STUDY,
        help_text="how files the manifest does not name form exams (docs/ingest.md)")
    group_regex = serializers.CharField(required=False, allow_blank=True, default="", max_length=200,
                                        help_text="group by this regex on PatientID instead")


class ImportCreateApi(APIView):
    """Upload DICOM files (or .zip archives) into a new import batch of a project."""

    permission_classes = [IsAdminRole]
    parser_classes = [MultiPartParser, FormParser]
    InputSerializer = ImportUploadInputSerializer
    OutputSerializer = ImportBatchSerializer

    @extend_schema(request={"multipart/form-data": ImportUploadInputSerializer},
                   responses={201: ImportBatchSerializer,
                              413: OpenApiResponse(description="upload_too_large: over a limit of docs/operations.md")})
    def post(self, request: Request, slug: str) -> Response:
        project = selectors.project_get_for(request.user, slug)
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.INGEST_MAX_UPLOAD_BYTES:
            # Refused before the body is read: nothing is written, not even a temporary file.
            raise UploadTooLarge(f"The upload is {length} bytes, over the limit of "
                                 f"{settings.INGEST_MAX_UPLOAD_BYTES} bytes (INGEST_MAX_UPLOAD_BYTES).",
                                 limit=settings.INGEST_MAX_UPLOAD_BYTES, setting="INGEST_MAX_UPLOAD_BYTES")
        try:
            form: Any = request.data
            files = request.FILES.getlist("files")
        except TooManyFilesSent:
            raise UploadTooLarge(f"The upload holds more than {settings.INGEST_MAX_UPLOAD_FILES} files "
                                 "(INGEST_MAX_UPLOAD_FILES); send a .zip or several uploads.",
                                 limit=settings.INGEST_MAX_UPLOAD_FILES, setting="INGEST_MAX_UPLOAD_FILES") from None
        if len(files) > settings.INGEST_MAX_UPLOAD_FILES:
            raise UploadTooLarge(f"The upload holds {len(files)} files, over the limit of "
                                 f"{settings.INGEST_MAX_UPLOAD_FILES} (INGEST_MAX_UPLOAD_FILES).",
                                 limit=settings.INGEST_MAX_UPLOAD_FILES, setting="INGEST_MAX_UPLOAD_FILES")
        data = self.InputSerializer(data={"files": files, "manifest": request.FILES.get("manifest"),
                                          "keep_ids": form.get("keep_ids", False),
                                          "group_by": form.get("group_by") or services.GROUP_BY_STUDY,
                                          "group_regex": form.get("group_regex") or ""})
        data.is_valid(raise_exception=True)
        manifest_file = data.validated_data.get("manifest")
        if manifest_file is not None and manifest_file.size > MANIFEST_MAX_BYTES:
            raise InvalidManifest(f"The manifest is over {MANIFEST_MAX_BYTES} bytes.")
        manifest = services.manifest_read(data=manifest_file.read()) if manifest_file else None
        group_regex = data.validated_data["group_regex"]
        rule = services.group_rule_parse(group_by="" if group_regex else data.validated_data["group_by"],
                                         group_regex=group_regex)
        batch = services.batch_create(actor=acting_user(request), project=project,
                                      sources=services.sources_from_uploads(data.validated_data["files"]),
                                      manifest=manifest, keep_ids=data.validated_data["keep_ids"],
                                      source="upload", group_rule=rule)
        batch = selectors.batch_get(user=request.user, batch_id=batch.pk)
        return Response(self.OutputSerializer(batch).data, status=status.HTTP_201_CREATED)


class ImportItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    filename = serializers.CharField()
    exam_key = serializers.CharField()
    status = serializers.ChoiceField(choices=ImportItemStatus.choices)
    reason = serializers.CharField()
    image = serializers.IntegerField(source="image_id", allow_null=True)
    image_id = serializers.CharField(source="image.image_id", default=None, allow_null=True)


ImportItemPageSerializer = page_of(ImportItemSerializer, "ImportItemPage")


class ImportBatchDetailSerializer(ImportBatchSerializer):
    items = ImportItemPageSerializer()


class ImportBatchFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=ImportItemStatus.values, required=False, allow_blank=True,
                                     help_text="only items with this status")


class BatchDetailApi(APIView):
    """A batch's progress (counts per status) and its per-file results, paginated."""

    permission_classes = [IsAdminRole]
    FilterSerializer = ImportBatchFilterSerializer

    @extend_schema(parameters=[ImportBatchFilterSerializer, OpenApiParameter("page", int),
                               OpenApiParameter("page_size", int)],
                   responses=ImportBatchDetailSerializer)
    def get(self, request: Request, pk: int) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        batch = selectors.batch_get(user=request.user, batch_id=pk)
        page = paginate(selectors.batch_items(batch=batch, status=filters.validated_data.get("status") or None),
                        request, self)
        # The detail is the batch's own fields, then a page of its items (not the batch's `items`
        # relation, which holds every item): the two parts are serialized apart.
        return Response({**ImportBatchSerializer(batch).data,
                         "items": ImportItemPageSerializer(page.body(page.rows)).data})


class ImageFileApi(APIView):
    """The de-identified DICOM and the renders of an image (contract: docs/ingest.md)."""

    @extend_schema(responses={(200, "image/png"): bytes, (200, "application/dicom"): bytes})
    def get(self, request: Request, pk: int, kind: str) -> HttpResponse:
        if kind not in FILE_KINDS:
            raise FileNotAvailable(kind)
        image = selectors.image_get_for_file(user=request.user, image_pk=pk, kind=kind)
        field, content_type = FILE_KINDS[kind]
        name = getattr(image, field)
        if not name or not default_storage.exists(name):
            raise FileNotAvailable(kind)
        if kind == "dicom":
            return storage_file_response(request, name=name, content_type=content_type,
                                         cache_control=CACHE_DOWNLOADS, filename=f"{image.image_id}.dcm",
                                         as_attachment=True)
        return storage_file_response(request, name=name, content_type=content_type, cache_control=CACHE_RENDERS)


class ReviewImageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    image_id = serializers.CharField()
    study_id = serializers.CharField(source="study.study_id")
    project = serializers.CharField(source="project.slug")  # type: ignore[assignment]
    # Values only, like the reading vocabulary's LATERALITIES: the schema then has one LateralityEnum.
    laterality = serializers.ChoiceField(choices=Laterality.values)
    view_position = serializers.CharField(help_text="CC, MLO, or another view code as the DICOM names it.")
    rows = serializers.IntegerField()
    columns = serializers.IntegerField()
    state = serializers.ChoiceField(choices=ImageState.choices)
    has_standard_views = serializers.BooleanField(source="study.has_standard_views")
    urls = serializers.SerializerMethodField()

    def get_urls(self, image: Image) -> dict[str, str]:
        return selectors.image_urls(image)


class ReviewImageFilterSerializer(serializers.Serializer):
    project = serializers.SlugField(required=False, allow_blank=True, help_text="project slug")


ReviewImagePageSerializer = page_of(ReviewImageSerializer, "ReviewImagePage")


class ReviewImageListApi(APIView):
    """Images awaiting the de-identification review (rendered, not yet reviewed)."""

    permission_classes = [IsAdminRole]
    FilterSerializer = ReviewImageFilterSerializer
    OutputSerializer = ReviewImagePageSerializer

    @extend_schema(parameters=[ReviewImageFilterSerializer], responses=ReviewImagePageSerializer)
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        images = selectors.images_awaiting_review(user=request.user,
                                                  project_slug=filters.validated_data.get("project") or None)
        page = paginate(images, request, self)
        return Response(self.OutputSerializer(page.body(page.rows)).data)


class ReviewMarkInputSerializer(serializers.Serializer):
    image_ids = serializers.ListField(child=DbIdField(), allow_empty=False, max_length=5000)


class ReviewMarkResultSerializer(serializers.Serializer):
    reviewed = serializers.ListField(child=serializers.IntegerField())
    skipped = serializers.ListField(child=serializers.IntegerField())
    ready_studies = serializers.ListField(child=serializers.CharField())


class ReviewMarkApi(APIView):
    """Bulk: mark images as reviewed; exams with all four views and every image reviewed become ready."""

    permission_classes = [IsAdminRole]
    InputSerializer = ReviewMarkInputSerializer
    OutputSerializer = ReviewMarkResultSerializer

    @extend_schema(request=ReviewMarkInputSerializer, responses=ReviewMarkResultSerializer)
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.images_mark_reviewed(actor=acting_user(request), image_ids=data.validated_data["image_ids"])
        return Response(self.OutputSerializer(result).data)
