"""The reading REST API: authorization matrix, blinding, payloads, conflicts, query counts, schema."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from apps.accounts.roles import ROLE_READER
from apps.accounts.services import user_create
from apps.common.errors import ConflictError
from apps.reading import apis
from apps.reading.models import Assignment, AssignmentKind, AuditEvent, Finding
from apps.reading.services import read_save
from apps.studies.models import Project, Study, StudyState
from tests.factories import ImageFactory, ProjectFactory, exam_create
from tests.reading.helpers import assign_pair, breasts, finding, image_of, save_and_submit

pytestmark = pytest.mark.django_db


@dataclass
class World:
    study: Study
    mine: Assignment        # reader1's, saved and valid, not submitted
    theirs: Assignment      # reader2's on the same exam, untouched
    submitted: Assignment   # reader1's on a second exam, submitted
    users: dict[str, Any]


@pytest.fixture
def world(admin_user, reader1, reader2, senior, outsider) -> World:
    project = ProjectFactory(slug="demo")
    study, other = exam_create(project=project), exam_create(project=project)
    mine, theirs = assign_pair(study, admin_user, reader1, reader2)
    submitted, _ = assign_pair(other, admin_user, reader1, reader2)
    read_save(actor=reader1, assignment_id=mine.pk, version=1, breasts=breasts(), findings=[])
    save_and_submit(submitted, reader1, breasts())
    for a in (mine, theirs, submitted):
        a.refresh_from_db()
    users = {"admin": admin_user, "reader1": reader1, "reader2": reader2, "senior": senior,
             "outsider": outsider, "anonymous": None}
    return World(study, mine, theirs, submitted, users)


def _client(user: Any) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user=user)
    return client


def _call(world: World, endpoint: str, user: Any):  # type: ignore[no-untyped-def]
    c = _client(user)
    mine, theirs, submitted, study = world.mine, world.theirs, world.submitted, world.study
    requests = {
        "worklist": lambda: c.get("/api/worklist/"),
        "detail": lambda: c.get(f"/api/assignments/{mine.pk}/"),
        "priors": lambda: c.get(f"/api/assignments/{mine.pk}/priors/"),
        "save": lambda: c.put(f"/api/assignments/{mine.pk}/read/",
                              {"version": mine.version, "breasts": breasts((2, "C")), "findings": []}, format="json"),
        "submit": lambda: c.post(f"/api/assignments/{mine.pk}/submit/", {"version": mine.version}, format="json"),
        "reopen": lambda: c.post(f"/api/assignments/{submitted.pk}/reopen/", {"reason": "x"}, format="json"),
        "reassign": lambda: c.post(f"/api/assignments/{theirs.pk}/reassign/", {"reader": "senior1"}, format="json"),
        "project_assignments": lambda: c.get("/api/projects/demo/assignments/"),
        "assign": lambda: c.post("/api/projects/demo/assign/", {"readers": ["reader1", "reader2"]}, format="json"),
        "progress": lambda: c.get("/api/projects/demo/progress/"),
        "agreement": lambda: c.get("/api/projects/demo/agreement/"),
        "audit": lambda: c.get(f"/api/studies/{study.pk}/audit/"),
    }
    return requests[endpoint]()


DENIED = 403
HIDDEN = 404
ROLES = ("admin", "reader1", "reader2", "senior", "outsider", "anonymous")
MATRIX: dict[str, tuple[int, ...]] = {
    #                      admin   reader1 reader2 senior  outsider anonymous
    "worklist":            (200,    200,    200,    200,    DENIED, DENIED),
    "detail":              (200,    200,    HIDDEN, HIDDEN, DENIED, DENIED),
    "priors":              (200,    200,    HIDDEN, HIDDEN, DENIED, DENIED),
    "save":                (DENIED, 200,    HIDDEN, HIDDEN, DENIED, DENIED),
    "submit":              (DENIED, 200,    HIDDEN, HIDDEN, DENIED, DENIED),
    "reopen":              (200,    DENIED, DENIED, DENIED, DENIED, DENIED),
    "reassign":            (200,    DENIED, DENIED, DENIED, DENIED, DENIED),
    "project_assignments": (200,    DENIED, DENIED, DENIED, DENIED, DENIED),
    "assign":              (200,    DENIED, DENIED, DENIED, DENIED, DENIED),
    "progress":            (200,    DENIED, DENIED, DENIED, DENIED, DENIED),
    "agreement":           (200,    DENIED, DENIED, DENIED, DENIED, DENIED),
    "audit":               (200,    DENIED, DENIED, DENIED, DENIED, DENIED),
}


@pytest.mark.parametrize(("endpoint", "role", "expected"), [
    (endpoint, role, status) for endpoint, row in MATRIX.items() for role, status in zip(ROLES, row, strict=True)])
def test_authorization_matrix(world: World, endpoint: str, role: str, expected: int) -> None:
    events_before = AuditEvent.objects.count()
    response = _call(world, endpoint, world.users[role])
    assert response.status_code == expected, response.content
    body = response.json()
    if expected == DENIED:
        assert body["code"] in {"permission_denied", "not_authenticated", "not_assignee"}
    if expected == HIDDEN:
        assert body["code"] == "not_found"
    if expected >= 400:
        assert AuditEvent.objects.count() == events_before


def test_the_matrix_covers_every_reading_endpoint() -> None:
    from apps.reading.urls import urlpatterns
    assert len(urlpatterns) == len(MATRIX)


# --- blinding ------------------------------------------------------------------------------------

def test_a_worklist_lists_only_my_assignments_and_hides_exam_states(world: World, api_for, reader2) -> None:
    body = api_for(reader2).get("/api/worklist/").json()
    assert {row["id"] for row in body["results"]} == set(
        Assignment.objects.filter(reader=reader2).values_list("id", flat=True))
    assert all(row["reader"] is None and row["study"]["state"] is None for row in body["results"])
    assert body["next_assignment"] == world.theirs.pk


def test_a_reader_never_sees_the_other_read_or_the_comparison(admin_user, reader1, reader2, senior, api_for) -> None:
    study = exam_create()
    a, b = assign_pair(study, admin_user, reader1, reader2)
    rcc = image_of(study, "R")
    save_and_submit(a, reader1, breasts((4, "B"), (1, "B")), [finding(rcc, "secret", birads=4)])
    b.refresh_from_db()
    api_for(reader2).put(f"/api/assignments/{b.pk}/read/", {"version": b.version, "breasts": breasts(),
                                                            "findings": []}, format="json")
    response = api_for(reader2).post(f"/api/assignments/{b.pk}/submit/", {"version": b.version + 1}, format="json")
    assert response.status_code == 200
    assert response.json()["outcome"] == "submitted" and response.json()["study"]["state"] is None

    detail = api_for(reader2).get(f"/api/assignments/{b.pk}/").json()
    assert detail["read_a"] is None and detail["read_b"] is None and detail["discordance_reasons"] == []
    assert detail["study"]["state"] is None
    assert "secret" not in str(detail)
    arbitration = Assignment.objects.get(study=study, kind=AssignmentKind.ARBITRATION)
    assert api_for(reader2).get(f"/api/assignments/{arbitration.pk}/").status_code == 404
    assert api_for(reader1).get(f"/api/assignments/{b.pk}/").status_code == 404


def test_the_arbiter_sees_both_reads_and_the_reasons_but_not_who_read(
        admin_user, reader1, reader2, senior, api_for) -> None:
    study = exam_create()
    a, b = assign_pair(study, admin_user, reader1, reader2)
    rcc = image_of(study, "R")
    save_and_submit(a, reader1, breasts((4, "B"), (1, "B")), [finding(rcc, "a-box", birads=4)])
    save_and_submit(b, reader2, breasts((1, "B"), (1, "B")))
    arbitration = Assignment.objects.get(study=study, kind=AssignmentKind.ARBITRATION)

    body = api_for(senior).get(f"/api/assignments/{arbitration.pk}/").json()

    assert body["kind"] == "arbitration"
    assert body["read_a"]["breasts"][0] == {"laterality": "R", "birads": 4, "density": "B"}
    assert [f["key"] for f in body["read_a"]["findings"]] == ["a-box"]
    assert body["read_b"]["findings"] == []
    assert {r["rule"] for r in body["discordance_reasons"]} == {"BIRADS_DIFFERENT", "FINDING_UNMATCHED"}
    assert body["reader"] is None and body["read_a_reader"] is None and body["read_b_reader"] is None
    assert "reader1" not in str(body) and "reader2" not in str(body)

    as_admin = api_for(admin_user).get(f"/api/assignments/{arbitration.pk}/").json()
    assert as_admin["read_a_reader"]["username"] == "reader1"
    assert as_admin["read_b_reader"]["username"] == "reader2"
    assert as_admin["reader"]["username"] == "senior1"
    assert as_admin["study"]["state"] == "arbitration"


def test_the_arbiter_adopts_a_finding_through_the_api_and_submits_the_final_read(
        admin_user, reader1, reader2, senior, api_for) -> None:
    study = exam_create()
    a, b = assign_pair(study, admin_user, reader1, reader2)
    rcc = image_of(study, "R")
    save_and_submit(a, reader1, breasts((4, "B"), (1, "B")), [finding(rcc, "a-box", birads=4)])
    save_and_submit(b, reader2, breasts((1, "B"), (1, "B")))
    arbitration = Assignment.objects.get(study=study, kind=AssignmentKind.ARBITRATION)
    client = api_for(senior)
    source = client.get(f"/api/assignments/{arbitration.pk}/").json()["read_a"]["findings"][0]
    adopted = {k: source[k] for k in ("image", "xmin", "ymin", "xmax", "ymax", "categories", "birads")}

    saved = client.put(f"/api/assignments/{arbitration.pk}/read/", {
        "version": 1, "breasts": breasts((4, "B"), (1, "B")),
        "findings": [{**adopted, "key": "adopted-1", "source_finding": source["id"]}]}, format="json")
    assert saved.status_code == 200, saved.content
    submitted = client.post(f"/api/assignments/{arbitration.pk}/submit/", {"version": saved.json()["version"]},
                            format="json")

    assert submitted.status_code == 200 and submitted.json()["outcome"] == "final"
    study.refresh_from_db()
    assert study.state == StudyState.FINAL
    assert list(study.final_read.findings.values_list("source_finding_id", flat=True)) == [source["id"]]


# --- payloads and conflicts ----------------------------------------------------------------------

def test_the_exam_payload_has_study_images_and_my_read_in_the_contract_shape(world: World, api_for, reader1) -> None:
    body = api_for(reader1).get(f"/api/assignments/{world.mine.pk}/").json()
    assert body["version"] == world.mine.version and body["state"] == "in_progress"
    assert [(i["laterality"], i["view_position"]) for i in body["images"]] == [
        ("R", "CC"), ("R", "MLO"), ("L", "CC"), ("L", "MLO")]
    image = body["images"][0]
    assert set(image) == {"id", "image_id", "series_id", "laterality", "view_position", "rows", "columns",
                          "photometric_interpretation", "window_presets", "display_flip_horizontal",
                          "full_depth_scale", "full_depth_offset", "urls", "tissue_bounds", "tissue_window",
                          "pixel_spacing", "pixel_spacing_source"}
    assert image["urls"] == {kind: f"/api/images/{image['id']}/file/{kind}/"
                             for kind in ("display", "thumbnail", "full")}
    assert image["window_presets"] == [{"center": 2047.0, "width": 4096.0, "explanation": ""}]
    assert body["read"]["breasts"] == [{"laterality": "R", "birads": 1, "density": "B"},
                                       {"laterality": "L", "birads": 1, "density": "B"}]
    assert body["violations"] == []


def test_a_save_returns_ids_for_client_keys_and_warnings(world: World, api_for, reader1) -> None:
    rcc = image_of(world.study, "R")
    response = api_for(reader1).put(f"/api/assignments/{world.mine.pk}/read/", {
        "version": world.mine.version, "breasts": breasts((3, "B"), (1, "B")),
        "findings": [finding(rcc, "new-1", birads=5)]}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == world.mine.version + 1
    (saved,) = body["read"]["findings"]
    assert saved["key"] == "new-1" and saved["id"] == Finding.objects.get().pk and saved["laterality"] == "R"
    assert body["warnings"] == [{"rule": "BREAST_BIRADS_BELOW_FINDING", "severity": "warning",
                                 "message": body["warnings"][0]["message"], "field": "birads",
                                 "laterality": "R", "finding": None}]


def test_two_tabs_saving_the_same_version_second_gets_409_with_the_current_read(world: World, api_for, reader1) -> None:
    url = f"/api/assignments/{world.mine.pk}/read/"
    version = world.mine.version
    tab1 = api_for(reader1).put(url, {"version": version, "breasts": breasts((2, "C")), "findings": []}, format="json")
    tab2 = api_for(reader1).put(url, {"version": version, "breasts": breasts((5, "D")), "findings": []}, format="json")

    assert tab1.status_code == 200
    assert tab2.status_code == 409
    error = tab2.json()
    assert error["code"] == "stale_version"
    assert error["extra"]["current_version"] == version + 1
    assert error["extra"]["read"]["breasts"][0] == {"laterality": "R", "birads": 2, "density": "C"}
    current = api_for(reader1).get(f"/api/assignments/{world.mine.pk}/").json()
    assert current["read"]["breasts"][0]["birads"] == 2


def test_invalid_shapes_are_400_with_field_errors(world: World, api_for, reader1) -> None:
    url = f"/api/assignments/{world.mine.pk}/read/"
    rcc = image_of(world.study, "R")
    for payload in (
        {"version": world.mine.version, "breasts": breasts()[:1], "findings": []},
        {"version": world.mine.version, "breasts": breasts(), "findings": [finding(rcc, "d"), finding(rcc, "d")]},
        {"version": world.mine.version, "breasts": [{"laterality": "R", "birads": 6, "density": "B"},
                                                    {"laterality": "L", "birads": 1, "density": "E"}], "findings": []},
    ):
        response = api_for(reader1).put(url, payload, format="json")
        assert response.status_code == 400 and response.json()["code"] == "invalid_input"


def test_a_validation_failure_on_submit_lists_the_violations(admin_user, reader1, reader2, api_for) -> None:
    study = exam_create()
    a, _ = assign_pair(study, admin_user, reader1, reader2)
    client = api_for(reader1)
    client.put(f"/api/assignments/{a.pk}/read/", {"version": 1, "breasts": breasts((None, "B")), "findings": []},
               format="json")
    response = client.post(f"/api/assignments/{a.pk}/submit/", {"version": 2}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "validation_failed"
    assert response.json()["extra"]["violations"] == [{
        "rule": "BREAST_BIRADS_REQUIRED", "severity": "error", "message": response.json()["extra"]["violations"][0]["message"],
        "field": "birads", "laterality": "R", "finding": None}]


def test_an_invalid_transition_is_a_409_with_a_stable_code(world: World, api_for, reader1) -> None:
    response = api_for(reader1).put(f"/api/assignments/{world.submitted.pk}/read/", {
        "version": world.submitted.version, "breasts": breasts(), "findings": []}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "invalid_transition"
    assert response.json()["extra"]["state"] == "submitted"


@pytest.mark.django_db(transaction=True)
def test_concurrent_saves_of_one_version_let_exactly_one_through(admin_user, reader1, reader2) -> None:
    study = exam_create()
    a, _ = assign_pair(study, admin_user, reader1, reader2)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def save(birads: int) -> None:
        try:
            barrier.wait()
            read_save(actor=reader1, assignment_id=a.pk, version=1, breasts=breasts((birads, "B")), findings=[])
            outcomes.append("saved")
        except ConflictError as exc:
            outcomes.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=save, args=(b,)) for b in (2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["saved", "stale_version"]
    a.refresh_from_db()
    assert a.version == 2


# --- admin endpoints -----------------------------------------------------------------------------

def test_assign_endpoint_assigns_and_reports(admin_user, reader1, reader2, senior, api_for) -> None:
    project = ProjectFactory(slug="bulk")
    studies = [exam_create(project=project) for _ in range(3)]
    waiting = exam_create(project=project, state=StudyState.AWAITING_REVIEW)
    response = api_for(admin_user).post("/api/projects/bulk/assign/", {
        "readers": ["reader1", "reader2"], "seniors": ["senior1"],
        "study_ids": [*(s.pk for s in studies), waiting.pk]}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert sorted(body["assigned_studies"]) == sorted(s.pk for s in studies)
    assert body["skipped"] == [{"study": waiting.pk, "reason": "not_ready"}]
    assert body["assignments_created"] == 6
    project.refresh_from_db()
    assert project.settings["arbiters"] == [senior.pk]


def test_assign_endpoint_rejects_unknown_users_and_projects(admin_user, reader1, api_for) -> None:
    ProjectFactory(slug="p")
    bad = api_for(admin_user).post("/api/projects/p/assign/", {"readers": ["reader1", "ghost"]}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_reader"
    missing = api_for(admin_user).post("/api/projects/nope/assign/", {"readers": ["a", "b"]}, format="json")
    assert missing.status_code == 404


def test_progress_counts_states_per_reader(world: World, api_for, admin_user) -> None:
    body = api_for(admin_user).get("/api/projects/demo/progress/").json()
    assert body["studies"]["reading"] == 2 and body["studies"]["final"] == 0
    assert body["assignments"] == {"assigned": 2, "in_progress": 1, "submitted": 1, "reopened": 0}
    by_name = {r["username"]: r for r in body["readers"]}
    assert by_name["reader1"]["in_progress"] == 1 and by_name["reader1"]["submitted"] == 1
    assert by_name["reader2"]["assigned"] == 2


def test_agreement_endpoint_reports_per_reader_pair(admin_user, reader1, reader2, senior, api_for) -> None:
    project = ProjectFactory(slug="stats")
    reader3 = user_create(username="reader3", password="x", roles=[ROLE_READER], validate_password=False)
    concordant, discordant, other_pair = (exam_create(project=project) for _ in range(3))
    a, b = assign_pair(concordant, admin_user, reader1, reader2)
    save_and_submit(a, reader1, breasts((1, "B"), (1, "B")))
    save_and_submit(b, reader2, breasts((1, "B"), (1, "B")))
    a, b = assign_pair(discordant, admin_user, reader1, reader2)
    save_and_submit(a, reader1, breasts((1, "B"), (2, "C")))
    save_and_submit(b, reader2, breasts((1, "B"), (1, "C")))
    a, b = assign_pair(other_pair, admin_user, reader3, reader1)
    save_and_submit(a, reader3, breasts((2, "A"), (2, "A")))
    save_and_submit(b, reader1, breasts((2, "A"), (2, "A")))

    body = api_for(admin_user).get("/api/projects/stats/agreement/").json()

    assert body["overall"]["exams"] == 3 and body["overall"]["discordant"] == 1
    assert body["overall"]["reasons"] == {"BIRADS_DIFFERENT": 1}
    pairs = {(p["reader_a"]["username"], p["reader_b"]["username"]): p for p in body["pairs"]}
    assert set(pairs) == {("reader1", "reader2"), ("reader1", "reader3")}
    r12 = pairs[("reader1", "reader2")]
    assert (r12["exams"], r12["discordant"], r12["discordance_rate"]) == (2, 1, 0.5)
    # Breast BI-RADS pairs (1,1) (1,1) (1,1) (2,1): po = 3/4; pe = 3/4 * 1 + 1/4 * 0 = 3/4 -> kappa 0.
    assert r12["birads"]["observed_agreement"] == 0.75
    assert r12["birads"]["kappa"] == 0.0
    assert r12["density"]["kappa"] == 1.0
    assert pairs[("reader1", "reader3")]["discordance_rate"] == 0.0
    assert body["rules"]["iou_threshold"] == 0.5


def test_audit_endpoint_lists_every_change_with_actor(world: World, api_for, admin_user) -> None:
    body = api_for(admin_user).get(f"/api/studies/{world.study.pk}/audit/").json()
    actions = [(e["action"], e["actor"]["username"] if e["actor"] else None) for e in body["results"]]
    assert actions[:3] == [("study_state", "admin"), ("assign", "admin"), ("assign", "admin")]
    assert ("breast_update", "reader1") in actions and ("read_start", "reader1") in actions
    assert body["count"] == len(body["results"])


def test_reopen_and_reassign_endpoints(world: World, api_for, admin_user, senior) -> None:
    reopened = api_for(admin_user).post(f"/api/assignments/{world.submitted.pk}/reopen/", {"reason": "typo"},
                                        format="json")
    assert reopened.status_code == 200 and reopened.json()["state"] == "reopened"
    again = api_for(admin_user).post(f"/api/assignments/{world.submitted.pk}/reopen/", {}, format="json")
    assert again.status_code == 409 and again.json()["code"] == "invalid_transition"

    moved = api_for(admin_user).post(f"/api/assignments/{world.theirs.pk}/reassign/", {"reader": "senior1"},
                                     format="json")
    assert moved.status_code == 200 and moved.json()["reader"]["username"] == "senior1"
    started = api_for(admin_user).post(f"/api/assignments/{world.mine.pk}/reassign/", {"reader": "senior1"},
                                       format="json")
    assert started.status_code == 409


def test_project_assignments_filter_by_reader_and_state(world: World, api_for, admin_user) -> None:
    body = api_for(admin_user).get("/api/projects/demo/assignments/?reader=reader1&state=submitted").json()
    assert [row["id"] for row in body["results"]] == [world.submitted.pk]
    assert body["results"][0]["reader"]["username"] == "reader1"


# --- no N+1 --------------------------------------------------------------------------------------

def _queries(callable_) -> int:  # type: ignore[no-untyped-def]
    """Queries of one request, after a warm-up call (the role lookup is cached per user object)."""
    callable_()
    with CaptureQueriesContext(connection) as ctx:
        response = callable_()
        assert response.status_code == 200
    return len(ctx.captured_queries)


def test_the_exam_payload_costs_the_same_queries_for_a_bigger_exam(
        admin_user, reader1, reader2, senior, api_for, django_assert_max_num_queries) -> None:
    small, big = exam_create(), exam_create()
    for _ in range(6):
        ImageFactory(series=big.series.get(), laterality="L", view_position="XCCL")
    counts = []
    for study, boxes in ((small, 1), (big, 12)):
        a, _ = assign_pair(study, admin_user, reader1, reader2)
        image = image_of(study, "R")
        read_save(actor=reader1, assignment_id=a.pk, version=1, breasts=breasts((4, "B"), (1, "B")),
                  findings=[finding(image, f"k{i}", (i, i, i + 50, i + 50)) for i in range(boxes)])
        counts.append(_queries(lambda a=a: api_for(reader1).get(f"/api/assignments/{a.pk}/")))
    assert counts[0] == counts[1]
    with django_assert_max_num_queries(8):
        api_for(reader1).get(f"/api/assignments/{a.pk}/")


def test_lists_cost_the_same_queries_for_more_rows(admin_user, reader1, reader2, api_for,
                                                   django_assert_max_num_queries) -> None:
    project = ProjectFactory(slug="many")
    exam_create(project=project)
    assign_pair(Study.objects.get(project=project), admin_user, reader1, reader2)
    few = {url: _queries(lambda url=url, user=user: api_for(user).get(url)) for url, user in (
        ("/api/worklist/", reader1), ("/api/projects/many/assignments/", admin_user),
        ("/api/projects/many/progress/", admin_user))}
    for _ in range(8):
        exam_create(project=project)
    api_for(admin_user).post("/api/projects/many/assign/", {"readers": ["reader1", "reader2"]}, format="json")
    many = {url: _queries(lambda url=url, user=user: api_for(user).get(url)) for url, user in (
        ("/api/worklist/", reader1), ("/api/projects/many/assignments/", admin_user),
        ("/api/projects/many/progress/", admin_user))}
    assert few == many
    with django_assert_max_num_queries(6):
        api_for(reader1).get("/api/worklist/")


def test_agreement_report_queries_do_not_grow_with_exams(admin_user, reader1, reader2, api_for) -> None:
    project = ProjectFactory(slug="agree")
    counts = []
    for _ in range(2):
        for _ in range(3):
            study = exam_create(project=project)
            a, b = assign_pair(study, admin_user, reader1, reader2)
            save_and_submit(a, reader1, breasts(), [])
            save_and_submit(b, reader2, breasts(), [])
        counts.append(_queries(lambda: api_for(admin_user).get("/api/projects/agree/agreement/")))
    assert counts[0] == counts[1]


# --- schema --------------------------------------------------------------------------------------

def test_openapi_schema_documents_the_reading_endpoints_without_warnings(api_for, admin_user) -> None:
    from drf_spectacular.drainage import GENERATOR_STATS
    from drf_spectacular.generators import SchemaGenerator

    GENERATOR_STATS.reset()
    schema = SchemaGenerator().get_schema(request=None, public=True)
    ours = [name for name in dir(apis) if name.endswith("Api")]
    messages = list(GENERATOR_STATS._warn_cache) + list(GENERATOR_STATS._error_cache)
    assert [m for m in messages if "apps/reading" in m or any(view in m for view in ours)] == []
    for path in ("/api/worklist/", "/api/assignments/{assignment_id}/", "/api/assignments/{assignment_id}/read/",
                 "/api/assignments/{assignment_id}/submit/", "/api/projects/{slug}/agreement/",
                 "/api/studies/{study_id}/audit/"):
        assert path in schema["paths"]
    assert api_for(admin_user).get("/api/schema/").status_code == 200


def test_worklist_filters_and_paginates(world: World, api_for, reader1) -> None:
    client = api_for(reader1)
    everything = client.get("/api/worklist/?state=").json()
    assert everything["count"] == 2
    # Open work first: the in-progress read comes before the submitted one.
    assert [row["id"] for row in everything["results"]] == [world.mine.pk, world.submitted.pk]
    assert [row["id"] for row in client.get("/api/worklist/?state=open").json()["results"]] == [world.mine.pk]
    assert client.get("/api/worklist/?state=submitted&project=demo").json()["count"] == 1
    assert client.get("/api/worklist/?project=other").json()["count"] == 0
    page = client.get("/api/worklist/?page_size=1&page=2").json()
    assert [row["id"] for row in page["results"]] == [world.submitted.pk] and page["previous"] is not None
    assert client.get("/api/worklist/?state=bogus").status_code == 400


@pytest.mark.django_db(transaction=True)
def test_both_readers_submitting_at_once_compare_the_exam_exactly_once(admin_user, reader1, reader2, senior) -> None:
    from apps.reading.services import read_submit

    study = exam_create()
    a, b = assign_pair(study, admin_user, reader1, reader2)
    read_save(actor=reader1, assignment_id=a.pk, version=1, breasts=breasts((1, "B")), findings=[])
    read_save(actor=reader2, assignment_id=b.pk, version=1, breasts=breasts((2, "B")), findings=[])
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def submit(user: Any, assignment: Assignment) -> None:
        try:
            barrier.wait()
            read_submit(actor=user, assignment_id=assignment.pk, version=2)
        except BaseException as exc:  # reported by the assertion below, not lost in the thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=args) for args in ((reader1, a), (reader2, b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    study.refresh_from_db()
    assert study.state == StudyState.ARBITRATION
    assert AuditEvent.objects.filter(study=study, action="compare").count() == 1
    assert Assignment.objects.filter(study=study, kind=AssignmentKind.ARBITRATION, reader=senior).count() == 1


def test_scripts_use_token_auth_on_reading_endpoints(world: World, reader1) -> None:
    from rest_framework.authtoken.models import Token

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=reader1).key}")
    assert client.get(f"/api/assignments/{world.mine.pk}/").status_code == 200
    assert client.get(f"/api/assignments/{world.theirs.pk}/").status_code == 404


def test_the_arbiter_payload_costs_a_constant_number_of_queries(
        admin_user, reader1, reader2, senior, api_for) -> None:
    counts = []
    for boxes in (1, 10):
        study = exam_create()
        a, b = assign_pair(study, admin_user, reader1, reader2)
        rcc = image_of(study, "R")
        save_and_submit(a, reader1, breasts((4, "B"), (1, "B")),
                        [finding(rcc, f"k{i}", (i, i, i + 40, i + 40)) for i in range(boxes)])
        save_and_submit(b, reader2, breasts((1, "B"), (1, "B")))
        arbitration = Assignment.objects.get(study=study, kind=AssignmentKind.ARBITRATION)
        counts.append(_queries(lambda arbitration=arbitration: api_for(senior).get(
            f"/api/assignments/{arbitration.pk}/")))
    assert counts[0] == counts[1] <= 11


def test_an_empty_senior_list_keeps_the_arbiter_pool(admin_user, reader1, reader2, senior, api_for) -> None:
    ProjectFactory(slug="pool", settings={"arbiters": [senior.pk]})
    response = api_for(admin_user).post("/api/projects/pool/assign/", {"readers": ["reader1", "reader2"],
                                                                       "seniors": []}, format="json")
    assert response.status_code == 200
    assert Project.objects.get(slug="pool").settings["arbiters"] == [senior.pk]
