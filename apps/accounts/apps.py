from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "apps.accounts"
    label = "accounts"

    def ready(self) -> None:
        from apps.accounts.roles import is_admin
        from apps.common.errors import admin_check_register

        # ApplicationError.body_for shows admin-only details to admins (apps/common/errors.py).
        admin_check_register(is_admin)
