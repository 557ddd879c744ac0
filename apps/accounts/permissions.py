from rest_framework.permissions import BasePermission

from apps.accounts.roles import is_admin, is_reader


class IsAdminRole(BasePermission):
    def has_permission(self, request, view) -> bool:  # type: ignore[no-untyped-def]
        return bool(request.user and is_admin(request.user))


class IsReaderRole(BasePermission):
    def has_permission(self, request, view) -> bool:  # type: ignore[no-untyped-def]
        return bool(request.user and (is_reader(request.user) or is_admin(request.user)))
