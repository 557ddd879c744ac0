"""Django admin for reading: read-only views of the workflow data, bulk assignment, reopen.

Every write goes through apps.reading.services (the admin never edits rows directly), so the
workflow table, locks and audit trail apply here exactly as in the API.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from apps.accounts.roles import ROLE_READER, ROLE_SENIOR, is_admin
from apps.common.errors import ApplicationError
from apps.reading.models import Assignment, AssignmentState, AuditEvent, BreastAssessment, Finding, Read
from apps.reading.services import exams_assign, read_reopen
from apps.studies.models import Project


class ReadOnlyAdmin(admin.ModelAdmin):
    # Access follows the MammoLab admin role (a group), not per-model Django permissions.
    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_admin(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_admin(request.user)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class AssignExamsForm(forms.Form):
    project = forms.ModelChoiceField(queryset=Project.objects.order_by("slug"), to_field_name="slug")
    readers = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.filter(is_active=True, groups__name=ROLE_READER).distinct().order_by("username"),
        help_text="Two or more; each exam gets two of them, least open work first.")
    seniors = forms.ModelMultipleChoiceField(
        queryset=get_user_model().objects.filter(is_active=True, groups__name=ROLE_SENIOR).distinct().order_by("username"),
        required=False, help_text="Arbiter pool for this project (leave empty to keep the current one).")
    limit = forms.IntegerField(required=False, min_value=1, help_text="Assign at most this many exams.")


@admin.register(Assignment)
class AssignmentAdmin(ReadOnlyAdmin):
    list_display = ("id", "study", "kind", "state", "reader", "version", "created_at", "submitted_at")
    list_filter = ("state", "kind", "study__project")
    search_fields = ("study__study_id", "reader__username")
    list_select_related = ("study", "reader")
    actions = ["reopen_selected"]
    change_list_template = "admin/reading/assignment_change_list.html"

    def get_urls(self) -> list[URLPattern]:
        return [path("assign/", self.admin_site.admin_view(self.assign_view), name="reading_assign_exams"),
                *super().get_urls()]

    def assign_view(self, request: HttpRequest) -> HttpResponse:
        if not is_admin(request.user):
            raise PermissionDenied
        form = AssignExamsForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                result = exams_assign(actor=request.user, project=data["project"],  # type: ignore[arg-type]
                                      readers=list(data["readers"]),
                                      seniors=list(data["seniors"]) or None, limit=data["limit"])
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                self.message_user(request, f"Assigned {len(result.assigned_studies)} exams, "
                                           f"{len(result.arbitrations_assigned)} arbitrations; "
                                           f"skipped {len(result.skipped)}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:reading_assignment_changelist"))
        context = {**self.admin_site.each_context(request), "form": form, "title": "Assign exams for double reading",
                   "opts": self.model._meta}
        return TemplateResponse(request, "admin/reading/assign_exams.html", context)

    @admin.action(description="Reopen the selected submitted reads")
    def reopen_selected(self, request: HttpRequest, queryset: QuerySet[Assignment]) -> None:
        done = 0
        for assignment in queryset.filter(state=AssignmentState.SUBMITTED):
            try:
                read_reopen(actor=request.user, assignment_id=assignment.pk,  # type: ignore[arg-type]
                            reason="reopened from the admin")
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"Assignment {assignment.pk}: {exc.message}", messages.WARNING)
        self.message_user(request, f"Reopened {done} reads.", messages.SUCCESS)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Lets the changelist run actions; the change form itself stays read-only (no fields editable).
        return obj is None and is_admin(request.user)


class BreastInline(admin.TabularInline):
    model = BreastAssessment
    extra = 0
    can_delete = False
    readonly_fields = ("laterality", "birads", "density")


class FindingInline(admin.TabularInline):
    model = Finding
    extra = 0
    can_delete = False
    readonly_fields = ("image", "xmin", "ymin", "xmax", "ymax", "categories", "birads", "source_finding_id",
                       "client_key")


@admin.register(Read)
class ReadAdmin(ReadOnlyAdmin):
    list_display = ("id", "study", "origin", "assignment", "updated_at")
    list_filter = ("origin",)
    inlines = [BreastInline, FindingInline]


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("at", "actor", "action", "object_type", "object_id", "study")
    list_filter = ("action", "object_type")
    search_fields = ("study__study_id", "actor__username")
    list_select_related = ("actor", "study")
