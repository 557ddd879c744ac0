"""require_role: the one access check every app asks (apps/accounts/access.py)."""

from __future__ import annotations

import pytest

from apps.accounts.access import acting_user, require_role
from apps.accounts.roles import ROLE_ADMIN, ROLE_READER, ROLE_SENIOR
from apps.common.errors import ForbiddenError, NotFoundError
from apps.datasets import selectors as dataset_selectors
from apps.studies import selectors as study_selectors
from apps.studies.selectors import project_get_for

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
        project_get_for(reader1, "any", system=True, message=dataset_selectors.EXPORTS_ADMIN_ONLY)
    assert raised.value.message == dataset_selectors.EXPORTS_ADMIN_ONLY


def test_one_project_fetch_serves_every_app(admin_user, reader1) -> None:  # type: ignore[no-untyped-def]
    from apps.studies import services as study_services

    project = study_services.project_get_or_create(actor=None, slug="one-fetch")
    assert project_get_for(admin_user, "one-fetch") == project
    assert project_get_for(None, "one-fetch", system=True) == project
    with pytest.raises(ForbiddenError):
        project_get_for(reader1, "one-fetch")
    with pytest.raises(NotFoundError) as missing:
        project_get_for(admin_user, "nowhere")
    assert missing.value.code == "project_not_found"


def test_acting_user_refuses_an_anonymous_request(rf, admin_user) -> None:  # type: ignore[no-untyped-def]
    from django.contrib.auth.models import AnonymousUser
    from rest_framework.exceptions import NotAuthenticated

    request = rf.get("/")
    request.user = admin_user
    assert acting_user(request) == admin_user
    request.user = AnonymousUser()
    with pytest.raises(NotAuthenticated):
        acting_user(request)
