"""Users in the Django admin, managed by the admin *role*: create readers, set their roles,
deactivate them. Roles are groups (apps.accounts.roles), so this admin shows roles, not Django's
per-model permissions, and only a superuser can make another superuser."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm
from django.http import HttpRequest

from apps.accounts import services
from apps.accounts.roles import ALL_ROLES, is_admin, user_roles

User = get_user_model()
ROLE_CHOICES = [(role, role.replace("_", " ")) for role in ALL_ROLES]


class _RolesMixin(forms.ModelForm):
    roles = forms.MultipleChoiceField(choices=ROLE_CHOICES, required=False, widget=forms.CheckboxSelectMultiple,
                                      help_text="reader: reads exams; senior reader: also arbitrates; "
                                                "admin: imports, reviews, assigns, exports")


class UserAddForm(_RolesMixin, UserCreationForm):
    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")


class UserEditForm(_RolesMixin, UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = User
        fields = ("username", "first_name", "last_name", "email", "is_active")  # type: ignore[assignment]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["roles"].initial = sorted(user_roles(self.instance) & set(ALL_ROLES))


admin.site.unregister(User)


@admin.register(User)
class RoleUserAdmin(UserAdmin):
    form = UserEditForm
    add_form = UserAddForm
    list_display = ("username", "email", "roles_display", "is_active", "last_login")
    list_filter = ("is_active", "groups")
    actions = ["deactivate", "reactivate"]
    fieldsets = ((None, {"fields": ("username", "password")}),
                 ("Person", {"fields": ("first_name", "last_name", "email")}),
                 ("Access", {"fields": ("is_active", "roles")}))
    add_fieldsets = ((None, {"classes": ("wide",),
                             "fields": ("username", "email", "password1", "password2", "roles")}),)

    # The admin role decides, as everywhere else (no Django model permissions to keep in sync).
    def has_module_permission(self, request: HttpRequest) -> bool:
        return is_admin(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return is_admin(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return is_admin(request.user)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Only a superuser edits a superuser: an admin-role user cannot take over the root account.
        if obj is not None and obj.is_superuser and not request.user.is_superuser:  # type: ignore[union-attr]
            return False
        return is_admin(request.user)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # reads and the audit trail point at users: deactivate instead

    @admin.display(description="roles")
    def roles_display(self, user: Any) -> str:
        return ", ".join(sorted(user_roles(user) & set(ALL_ROLES))) or "-"

    def save_model(self, request: HttpRequest, obj: Any, form: forms.ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        services.user_roles_set(user=obj, roles=list(form.cleaned_data.get("roles") or []))

    @admin.action(description="Deactivate (cannot log in, keeps their reads)")
    def deactivate(self, request: HttpRequest, queryset: Any) -> None:
        for user in queryset.exclude(pk=request.user.pk):
            services.user_active_set(user=user, active=False)

    @admin.action(description="Reactivate")
    def reactivate(self, request: HttpRequest, queryset: Any) -> None:
        for user in queryset:
            services.user_active_set(user=user, active=True)
