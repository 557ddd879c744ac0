"""Every reading endpoint costs a number of queries that does not grow with exams, reads or boxes.

Each test builds a small and a bigger world, measures one request in each (after a warm-up call),
and asserts the two counts are equal and within the endpoint's budget. Clients authenticate with
force_authenticate: the session and user queries are tests/accounts/test_backends.py's business.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.reading.models import Assignment, AssignmentKind
from apps.reading.services import read_save
from tests.factories import ProjectFactory, exam_create
from tests.reading.helpers import assign_pair, breasts, finding, image_of, save_and_submit

pytestmark = pytest.mark.django_db


def _count(call: Callable[[], Any], expected_status: int = 200, *, warm_up: bool = False) -> int:
    if warm_up:  # the role lookup is cached on the (force-authenticated) user object
        call()
    with CaptureQueriesContext(connection) as ctx:
        response = call()
    assert response.status_code == expected_status, response.content[:500]
    return len(ctx.captured_queries)


def _boxes(study, n: int) -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]
    image = image_of(study, "R")
    return [finding(image, f"k{i}", (10 + i, 10 + i, 60 + i, 60 + i)) for i in range(n)]


def _saved_with_boxes(admin, reader1, reader2, n: int, slug: str) -> Assignment:  # type: ignore[no-untyped-def]
    study = exam_create(project=ProjectFactory(slug=slug))
    a, _ = assign_pair(study, admin, reader1, reader2)
    read_save(actor=reader1, assignment_id=a.pk, version=1, breasts=breasts((4, "B"), (1, "B")),
              findings=_boxes(study, n))
    a.refresh_from_db()
    return a


def _stored_boxes(assignment: Assignment) -> list[dict[str, Any]]:
    return [{**finding(f.image, f.client_key, (f.xmin, f.ymin, f.xmax, f.ymax)), "id": f.pk}
            for f in assignment.read.findings.select_related("image").order_by("id")]  # type: ignore[union-attr]


def test_an_autosave_costs_the_same_queries_with_1_or_20_boxes_and_never_rereads_the_read(
        admin_user, reader1, reader2, api_for) -> None:
    counts = []
    for n, slug in ((1, "few"), (20, "many")):
        a = _saved_with_boxes(admin_user, reader1, reader2, n, slug)
        body = {"version": a.version, "breasts": breasts((4, "B"), (1, "B")), "findings": _stored_boxes(a)}
        counts.append(_count(lambda a=a, body=body: api_for(reader1).put(
            f"/api/assignments/{a.pk}/read/", body, format="json")))
    # lock assignment, images, read, breasts, findings, update assignment, update read (+ savepoints)
    assert counts[0] == counts[1] <= 9


def test_a_submit_costs_the_same_queries_with_1_or_20_boxes(admin_user, reader1, reader2, api_for) -> None:
    counts = []
    for n, slug in ((1, "few"), (20, "many")):
        a = _saved_with_boxes(admin_user, reader1, reader2, n, slug)
        counts.append(_count(lambda a=a: api_for(reader1).post(
            f"/api/assignments/{a.pk}/submit/", {"version": a.version}, format="json")))
    # study locked through the assignment, assignment, read with breasts and findings, images,
    # the other read, the writes; the response is built from what was written (was 15)
    assert counts[0] == counts[1] <= 11, counts


def test_the_second_submit_compares_in_the_same_queries_whatever_the_boxes(
        admin_user, reader1, reader2, senior, api_for) -> None:
    counts = []
    for n, slug in ((1, "few"), (12, "many")):
        study = exam_create(project=ProjectFactory(slug=slug))
        a, b = assign_pair(study, admin_user, reader1, reader2, seniors=[senior])
        save_and_submit(a, reader1, breasts((4, "B"), (1, "B")), _boxes(study, n))
        saved = read_save(actor=reader2, assignment_id=b.pk, version=1, breasts=breasts((1, "C"), (1, "C")),
                          findings=[])
        counts.append(_count(lambda b=b, v=saved.assignment.version: api_for(reader2).post(
            f"/api/assignments/{b.pk}/submit/", {"version": v}, format="json")))
    # the read just submitted is compared as loaded, not fetched again (was 35); one of these is the
    # exam's study_state audit event (reading -> arbitration)
    assert counts[0] == counts[1] <= 28, counts


def test_the_worklist_costs_the_same_queries_for_2_or_30_assignments(admin_user, reader1, reader2,
                                                                     api_for) -> None:
    project = ProjectFactory(slug="wl")
    exam_create(project=project)
    api_for(admin_user).post("/api/projects/wl/assign/", {"readers": ["reader1", "reader2"]}, format="json")
    urls = ["/api/worklist/", "/api/worklist/?state=open", "/api/worklist/?state=submitted",
            "/api/worklist/?project=wl&kind=first"]
    client = api_for(reader1)
    few = [_count(lambda url=url: client.get(url), warm_up=True) for url in urls]
    for _ in range(15):
        exam_create(project=project)
    api_for(admin_user).post("/api/projects/wl/assign/", {"readers": ["reader1", "reader2"]}, format="json")
    many = [_count(lambda url=url: client.get(url), warm_up=True) for url in urls]
    assert few == many
    # count + page; on the open-first first page, next_assignment is its first open row (no query)
    assert many[0] == many[1] == 2 and max(many) <= 3


def test_the_arbitration_exam_payload_costs_the_same_queries_for_more_boxes(
        admin_user, reader1, reader2, senior, api_for) -> None:
    counts = []
    for n, slug in ((1, "few"), (12, "many")):
        study = exam_create(project=ProjectFactory(slug=slug))
        a, b = assign_pair(study, admin_user, reader1, reader2, seniors=[senior])
        save_and_submit(a, reader1, breasts((4, "B"), (1, "B")), _boxes(study, n))
        save_and_submit(b, reader2, breasts((1, "C"), (1, "C")), [])
        arbitration = Assignment.objects.get(study=study, kind=AssignmentKind.ARBITRATION)
        counts.append(_count(lambda pk=arbitration.pk: api_for(senior).get(f"/api/assignments/{pk}/")))
    assert counts[0] == counts[1] <= 8


def test_the_exam_payload_is_four_queries(admin_user, reader1, reader2, api_for) -> None:
    a = _saved_with_boxes(admin_user, reader1, reader2, 3, "five")
    client = api_for(reader1)
    # assignment with its read, images (with series), breasts, findings (with the image's laterality)
    assert _count(lambda: client.get(f"/api/assignments/{a.pk}/"), warm_up=True) == 4


def _admin_lists(api_for, admin_user, slug: str, study_id: int) -> list[int]:  # type: ignore[no-untyped-def]
    client = api_for(admin_user)
    return [_count(lambda url=url: client.get(url), warm_up=True) for url in (
        f"/api/projects/{slug}/assignments/", f"/api/projects/{slug}/assignments/?state=submitted",
        f"/api/projects/{slug}/progress/", f"/api/projects/{slug}/agreement/", f"/api/studies/{study_id}/audit/")]


def test_admin_lists_cost_the_same_queries_for_more_exams_reads_and_events(
        admin_user, reader1, reader2, api_for) -> None:
    project = ProjectFactory(slug="adm")
    first = exam_create(project=project)
    a, b = assign_pair(first, admin_user, reader1, reader2)
    save_and_submit(a, reader1, breasts(), [])
    save_and_submit(b, reader2, breasts(), [])
    few = _admin_lists(api_for, admin_user, "adm", first.pk)
    for _ in range(6):
        study = exam_create(project=project)
        c, d = assign_pair(study, admin_user, reader1, reader2)
        save_and_submit(c, reader1, breasts((4, "B"), (1, "B")), _boxes(study, 3))
        save_and_submit(d, reader2, breasts((4, "B"), (1, "B")), _boxes(study, 3))
    many = _admin_lists(api_for, admin_user, "adm", first.pk)
    assert few == many


def test_assign_reopen_and_reassign_cost_the_same_queries_for_more_exams(
        admin_user, reader1, reader2, senior, api_for) -> None:
    from apps.accounts.roles import ROLE_READER
    from apps.accounts.services import user_create

    user_create(username="reader3", password="a-long-passphrase-3", roles=[ROLE_READER])
    api_for(admin_user).get("/api/me/")  # caches the roles on the user object, as warm-ups do
    counts = []
    for n, slug in ((1, "few"), (8, "many")):
        project = ProjectFactory(slug=slug)
        studies = [exam_create(project=project) for _ in range(n)]
        assign = _count(lambda slug=slug: api_for(admin_user).post(
            f"/api/projects/{slug}/assign/", {"readers": ["reader1", "reader2"]}, format="json"))
        a = Assignment.objects.get(study=studies[0], reader=reader1)
        reassign = _count(lambda a=a: api_for(admin_user).post(
            f"/api/assignments/{a.pk}/reassign/", {"reader": "reader3"}, format="json"))
        b = Assignment.objects.get(study=studies[0], reader=reader2)
        save_and_submit(b, reader2, breasts((4, "B"), (1, "B")), _boxes(studies[0], n))
        reopen = _count(lambda b=b: api_for(admin_user).post(f"/api/assignments/{b.pk}/reopen/", {}, format="json"))
        counts.append((assign, reassign, reopen))
    assert counts[0][1:] == counts[1][1:]
    # assign: bulk writes (one statement per table) whatever the number of exams
    assert counts[0][0] == counts[1][0]
