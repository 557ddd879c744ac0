"""require_role: the one access check every app asks (apps/accounts/access.py)."""

from __future__ import annotations

import pytest

from apps.accounts.access import require_role
from apps.accounts.roles import ROLE_ADMIN, ROLE_READER, ROLE_SENIOR
from apps.common.errors import ForbiddenError
from apps.datasets import selectors as dataset_selectors
from apps.studies import selectors as study_selectors

pytestmark = pytest.mark.django_db


def test_each_role_admits_its_holders_and_denies_other_users(admin_user, reader1, senior, outsider) -> None:  # type: ignore[no-untyped-def]
    require_role(admin_user, ROLE_ADMIN)
    require_role(reader1, ROLE_READER)
    require_role(senior, ROLE_SENIOR)
    for user, role in ((reader1, ROLE_ADMIN), (outsider, ROLE_READER), (reader1, ROLE_SENIOR), (outsider, ROLE_ADMIN)):
        with pytest.raises(ForbiddenError):
            require_role(user, role)


def test_the_system_passes_only_where_the_caller_accepts_it() -> None:
    require_role(None, ROLE_ADMIN, system=True)
    with pytest.raises(ForbiddenError):
        require_role(None, ROLE_ADMIN)


def test_selectors_of_every_app_deny_an_other_user_through_it(reader1) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ForbiddenError):
        study_selectors.project_list(user=reader1)
    with pytest.raises(ForbiddenError) as raised:
        dataset_selectors.project_get_for_export(user=reader1, slug="any")
    assert raised.value.message == dataset_selectors.EXPORTS_ADMIN_ONLY
