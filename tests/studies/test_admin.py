"""Workflow state is read-only in every Django admin; it moves only through the services and their
audit trail (issue 9, item 9)."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import reverse

from apps.datasets.models import Export
from apps.reading.models import Assignment, AuditEvent
from apps.studies.models import Image, ImportBatch, Study, StudyState
from tests.factories import ProjectFactory, exam_create
from tests.reading.helpers import assign_pair, breasts, save_and_submit

pytestmark = pytest.mark.django_db

WORKFLOW_FIELDS = {"state", "status"}


def _login(user) -> Client:  # type: ignore[no-untyped-def]
    client = Client()
    client.force_login(user)
    return client


def _final_study(admin_user, reader1, reader2) -> Study:  # type: ignore[no-untyped-def]
    study = exam_create(project=ProjectFactory(slug="adm"))
    a, b = assign_pair(study, admin_user, reader1, reader2)
    save_and_submit(a, reader1, breasts())
    save_and_submit(b, reader2, breasts())
    study.refresh_from_db()
    assert study.state == StudyState.FINAL
    return study


def _editable_inputs(html: str) -> set[str]:
    return set(re.findall(r'<(?:input|select|textarea)[^>]*\bname="([^"]+)"', html))


def test_the_study_admin_cannot_move_a_final_study_back_to_ready(admin_user, reader1, reader2) -> None:
    study = _final_study(admin_user, reader1, reader2)
    client = _login(admin_user)
    url = reverse("admin:studies_study_change", args=[study.pk])
    events = AuditEvent.objects.count()

    page = client.get(url)
    posted = client.post(url, {"state": StudyState.READY, "has_standard_views": "", "split": "test",
                               "patient_age": "", "patient_sex": "", "_save": "Save"})
    reassigned = client.post("/admin/reading/assignment/assign/", {
        "project": "adm", "readers": [reader1.pk, reader2.pk]})

    assert page.status_code == 200
    assert not {"state", "has_standard_views", "split"} & _editable_inputs(page.content.decode())
    assert posted.status_code in (200, 302)
    study.refresh_from_db()
    assert (study.state, study.has_standard_views, study.split) == (StudyState.FINAL, True, "")
    assert reassigned.status_code == 302
    assert Assignment.objects.filter(study=study).count() == 2
    assert AuditEvent.objects.count() == events


def test_every_admin_shows_workflow_state_read_only(admin_user, reader1, reader2) -> None:
    study = _final_study(admin_user, reader1, reader2)
    objects = {Study: study, Image: study.images.first(), Assignment: Assignment.objects.first(),
               Export: Export.objects.create(project=study.project),
               ImportBatch: ImportBatch.objects.create(project=study.project, source="upload")}
    client = _login(admin_user)
    checked = []
    for model in admin.site._registry:
        state_fields = WORKFLOW_FIELDS & {f.name for f in model._meta.get_fields()}
        if not state_fields:
            continue
        assert model in objects, f"add an instance of {model.__name__} to this test"
        page = client.get(reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change",
                                  args=[objects[model].pk]))
        assert page.status_code == 200, model
        assert not state_fields & _editable_inputs(page.content.decode()), model
        checked.append(model.__name__)
    assert sorted(checked) == ["Assignment", "Export", "Image", "ImportBatch", "Study"]


def test_an_assigned_exam_and_its_images_cannot_be_deleted_in_the_admin(admin_user, reader1, reader2) -> None:
    study = _final_study(admin_user, reader1, reader2)
    untouched = exam_create(project=study.project)
    client = _login(admin_user)
    delete_url = reverse("admin:studies_study_delete", args=[study.pk])
    image_url = reverse("admin:studies_image_delete", args=[study.images.first().pk])

    assert client.get(delete_url).status_code == 403
    assert client.post(delete_url, {"post": "yes"}).status_code == 403
    assert client.post(image_url, {"post": "yes"}).status_code == 403
    bulk = client.post(reverse("admin:studies_study_changelist"), {
        "action": "delete_selected", "_selected_action": [study.pk], "post": "yes"})
    assert bulk.status_code in (200, 302)
    assert Study.objects.filter(pk=study.pk).exists() and study.images.count() == 4
    assert b"delete_selected" not in client.get(reverse("admin:studies_study_changelist")).content
    removed = client.post(reverse("admin:studies_study_delete", args=[untouched.pk]), {"post": "yes"})
    assert removed.status_code == 302 and not Study.objects.filter(pk=untouched.pk).exists()


def test_the_patient_link_of_priors_is_read_only_in_the_study_admin(admin_user) -> None:  # type: ignore[no-untyped-def]
    import datetime

    study = exam_create(project=ProjectFactory(slug="adm"), patient_key="a" * 32, exam_date=datetime.date(2019, 1, 2))
    client = _login(admin_user)
    url = reverse("admin:studies_study_change", args=[study.pk])

    page = client.get(url)
    client.post(url, {"patient_key": "b" * 32, "exam_date": "2020-01-01", "patient_age": "", "patient_sex": "",
                      "_save": "Save"})

    assert page.status_code == 200
    assert not {"patient_key", "exam_date"} & _editable_inputs(page.content.decode())
    study.refresh_from_db()
    assert (study.patient_key, study.exam_date) == ("a" * 32, datetime.date(2019, 1, 2))
