"""Django admin: projects, import batches with progress and per-file results, studies, images
with thumbnails, and the review grid (bulk "mark reviewed" with the masked corners outlined)."""

from __future__ import annotations

from typing import Any, cast

from django.contrib import admin, messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from apps.accounts.roles import is_admin
from apps.common.errors import ApplicationError
from apps.studies import selectors, services
from apps.studies.models import (
    Image,
    ImportBatch,
    ImportItem,
    ImportItemStatus,
    Project,
    Series,
    Study,
    StudyState,
)

REVIEW_EXAMS_PER_PAGE = 20


class RoleAdmin(admin.ModelAdmin):
    """The admin *role* (a group, apps.accounts.roles) manages ingest here; no per-model Django
    permissions to keep in sync. Adding rows stays off: data comes in through ingest only."""

    def _admin(self, request: HttpRequest) -> bool:
        return is_admin(request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return self._admin(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._admin(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._admin(request)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._admin(request)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    # Workflow state moves only through the services (transition checks, locks, audit trail): an
    # admin form that set Study.state from final to ready left no event, and assigning again then
    # hit the one-assignment-per-reader constraint (issue 9, item 9).
    workflow_fields: tuple[str, ...] = ("state", "status")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:  # type: ignore[override]
        fields = list(super().get_readonly_fields(request, obj))
        names = {f.name for f in self.model._meta.get_fields()}
        return fields + [f for f in self.workflow_fields if f in names and f not in fields]


# Exams before reading may be deleted in the admin (a wrong import); from assignment on never.
DELETABLE_STUDY_STATES = (StudyState.IMPORTING, StudyState.AWAITING_REVIEW, StudyState.READY)


def _thumbnail_url(image: Image) -> str:
    return reverse("studies:image-file", kwargs={"pk": image.pk, "kind": "thumbnail"})


@admin.register(Project)
class ProjectAdmin(RoleAdmin):
    list_display = ("slug", "name", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return self._admin(request)
    search_fields = ("slug", "name")


class ImportItemInline(admin.TabularInline):
    model = ImportItem
    fields = ("filename", "exam_key", "status", "reason", "image")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(ImportBatch)
class ImportBatchAdmin(RoleAdmin):
    list_display = ("id", "project", "source", "state", "progress", "created_at", "finished_at")
    list_filter = ("state", "source", "project")
    readonly_fields = ("project", "created_by", "source", "keep_ids", "state", "created_at", "finished_at",
                       "progress")
    inlines = [ImportItemInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ImportBatch]:
        counts = {f"n_{s}": Count("items", filter=Q(items__status=s)) for s in ImportItemStatus.values}
        return super().get_queryset(request).select_related("project").annotate(n_total=Count("items"), **counts)

    @admin.display(description="progress")
    def progress(self, batch: Any) -> str:
        done = batch.n_total - batch.n_pending
        return (f"{done}/{batch.n_total} done: {batch.n_imported} imported, {batch.n_duplicate} duplicate, "
                f"{batch.n_rejected} rejected")


@admin.register(Study)
class StudyAdmin(RoleAdmin):
    list_display = ("study_id", "project", "state", "has_standard_views", "patient_age", "split", "created_at")
    list_filter = ("state", "has_standard_views", "project")
    search_fields = ("study_id",)
    # The patient link of priors comes from ingest only (keyed, shifted): never typed in.
    readonly_fields = ("study_id", "study_uid", "project", "final_read", "patient_key", "exam_date")
    workflow_fields = ("state", "has_standard_views", "split")
    actions = ["release_for_reading"]

    # An assigned exam carries reads and their audit trail: it is never deleted here (no bulk
    # delete either, which would skip this per-exam check).
    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.state not in DELETABLE_STUDY_STATES:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Release reviewed exams for reading (also without all four views)")
    def release_for_reading(self, request: HttpRequest, queryset: QuerySet[Study]) -> None:
        for study in queryset:
            try:
                services.study_mark_ready(actor=cast(User, request.user), study_pk=study.pk)
            except ApplicationError as error:
                self.message_user(request, error.message, messages.WARNING)


@admin.register(Series)
class SeriesAdmin(RoleAdmin):
    list_display = ("series_id", "study")


@admin.register(Image)
class ImageAdmin(RoleAdmin):
    list_display = ("thumbnail", "image_id", "study", "laterality", "view_position", "state", "reviewed_by")
    list_filter = ("state", "laterality", "view_position", "project")
    search_fields = ("image_id", "study__study_id")
    readonly_fields = ("thumbnail", "image_id", "sop_uid", "study", "series", "project", "reviewed_by",
                       "reviewed_at", "dicom_file", "display_file", "thumbnail_file", "full_depth_file")
    workflow_fields = ("state", "error")
    actions = ["mark_reviewed", "rerender"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.study.state not in DELETABLE_STUDY_STATES:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="thumbnail")
    def thumbnail(self, image: Image) -> str:
        if not image.thumbnail_file:
            return "-"
        return format_html('<img src="{}" style="max-height:96px" alt="">', _thumbnail_url(image))

    @admin.action(description="Mark reviewed (corners checked)")
    def mark_reviewed(self, request: HttpRequest, queryset: QuerySet[Image]) -> None:
        result = services.images_mark_reviewed(actor=cast(User, request.user),
                                               image_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"{len(result.reviewed)} reviewed, {len(result.skipped)} skipped; "
                                   f"{len(result.ready_studies)} exam(s) ready.")

    @admin.action(description="Render again")
    def rerender(self, request: HttpRequest, queryset: QuerySet[Image]) -> None:
        count = services.images_render_enqueue(actor=cast(User, request.user),
                                               image_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(request, f"Rendering of {count} image(s) queued.")

    def get_urls(self) -> list[URLPattern]:
        review = path("review/", self.admin_site.admin_view(self.review_grid), name="studies_image_review")
        return [review, *super().get_urls()]

    def review_grid(self, request: HttpRequest) -> HttpResponse:
        """Exam by exam: each exam's thumbnails with the corner masks outlined and one "Approve
        exam" button. Nothing is pre-selected: an approval is a deliberate act per exam."""
        if not self._admin(request):
            raise PermissionDenied
        if request.method == "POST":
            study_pk = request.POST.get("study", "")
            if study_pk.isdigit():
                result = services.study_review_approve(actor=cast(User, request.user), study_pk=int(study_pk))
                ready = f"; exam {', '.join(result.ready_studies)} is ready for reading" if result.ready_studies else (
                    "; the exam still waits (a view is missing or not yet rendered)")
                self.message_user(request, f"{len(result.reviewed)} image(s) approved{ready}.")
            return HttpResponseRedirect(request.get_full_path())
        project = request.GET.get("project") or None
        page = Paginator(selectors.exams_awaiting_review(user=request.user, project_slug=project),
                         REVIEW_EXAMS_PER_PAGE).get_page(request.GET.get("page"))
        # Each image's own mask boxes (as imported), those overlapping the breast's tissue
        # bounds flagged so the reviewer sees it before approving.
        exams = [{"study": study, "images": [{"image": i, "thumbnail": _thumbnail_url(i) if i.thumbnail_file else "",
                                              "review": selectors.image_mask_review(i)}
                                             for i in study.images.all()]}
                 for study in page.object_list]
        context = {**self.admin_site.each_context(request), "title": "Review de-identified exams",
                   "exams": exams, "page": page, "opts": self.model._meta,
                   "project": project or "", "projects": Project.objects.order_by("slug").values_list("slug", "name")}
        return TemplateResponse(request, "admin/studies/review_grid.html", context)
