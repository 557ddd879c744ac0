"""Admin: "Add export" runs a new dataset export (the same service as the API and the command);
the change page shows progress, the manifest and download links. Exports are never edited."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from apps.accounts.roles import is_admin
from apps.datasets import services
from apps.datasets.models import Export, ImagesMode


class ExportAddForm(forms.ModelForm):
    test_fraction = forms.FloatField(initial=services.DEFAULT_TEST_FRACTION, min_value=0.01, max_value=0.99)
    seed = forms.IntegerField(initial=services.DEFAULT_SEED, min_value=0)
    images = forms.ChoiceField(choices=ImagesMode.choices, initial=ImagesMode.NONE)
    strict_release = forms.BooleanField(required=False, help_text="Refuse exams with values the published "
                                                                  "release never has (breast BI-RADS 0).")

    class Meta:
        model = Export
        fields = ["project"]


@admin.register(Export)
class ExportAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "status", "progress", "stage", "error", "created_by", "created_at",
                    "finished_at"]
    list_filter = ["status", "project"]
    actions = ["run_again"]

    def get_form(self, request: HttpRequest, obj: Export | None = None, change: bool = False,
                 **kwargs: Any) -> type[forms.ModelForm]:
        if obj is None:
            kwargs["form"] = ExportAddForm
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Export | None = None) -> list[str]:  # type: ignore[override]
        if obj is None:
            return ["project", "test_fraction", "seed", "images", "strict_release"]
        return ["project", "params", "status", "progress", "stage", "error", "downloads", "manifest",
                "created_by", "created_at", "started_at", "finished_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Export | None = None) -> list[str]:  # type: ignore[override]
        return [] if obj is None else self.get_fields(request, obj)

    # Roles are groups without Django model permissions: the admin role decides, as in the API.
    # Exports are records of what was published: viewed and re-run, never edited or deleted.
    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_admin(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Export | None = None) -> bool:
        return is_admin(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_admin(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Export | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Export | None = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Export, form: forms.ModelForm, change: bool) -> None:
        created = services.export_create(
            user=request.user, project=form.cleaned_data["project"],
            test_fraction=form.cleaned_data["test_fraction"], seed=form.cleaned_data["seed"],
            images=form.cleaned_data["images"], strict_release=form.cleaned_data["strict_release"],
        )
        obj.pk = created.pk  # the admin redirects to the object the service created

    @admin.display(description="Files")
    def downloads(self, obj: Export) -> SafeString:
        if not obj.files:
            return format_html("{}", "-")
        return format_html_join(
            "", '<div><a href="{}">{}</a> ({} bytes)</div>',
            ((reverse("export-file", kwargs={"export_id": obj.pk, "name": f["name"]}), f["name"], f["size"])
             for f in obj.files),
        )

    @admin.action(description="Export the same projects again with the same parameters")
    def run_again(self, request: HttpRequest, queryset: Any) -> None:
        for export in queryset.select_related("project"):
            params = export.params
            services.export_create(user=request.user, project=export.project,
                                   test_fraction=params.get("test_fraction", services.DEFAULT_TEST_FRACTION),
                                   seed=params.get("seed", services.DEFAULT_SEED),
                                   images=params.get("images", ImagesMode.NONE),
                                   strict_release=params.get("strict_release", False))
        self.message_user(request, f"{queryset.count()} export(s) started.", messages.SUCCESS)


