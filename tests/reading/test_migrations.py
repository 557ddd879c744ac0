"""0006_discordance: exams compared before it keep their reasons, taken once from the audit trail."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("reading", "0005_assignment_active_seconds")]
AFTER = [("reading", "0006_discordance")]


@pytest.mark.django_db(transaction=True)
def test_the_latest_comparison_of_each_exam_becomes_its_discordance() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    project = old.get_model("studies", "Project").objects.create(slug="m", name="m")
    Study = old.get_model("studies", "Study")
    waiting, agreed = (Study.objects.create(project=project, study_id=s, study_uid=f"1.2.{n}")
                       for n, s in enumerate(("waiting", "agreed")))
    events = old.get_model("reading", "AuditEvent").objects
    events.create(action="compare", object_type="study", study=waiting, after={"reasons": [{"rule": "OLD"}]})
    events.create(action="compare", object_type="study", study=waiting, after={"reasons": [{"rule": "BIRADS_DIFFERENT"}]})
    events.create(action="compare", object_type="study", study=agreed, after={"concordant": True, "reasons": []})

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    stored = dict(new.get_model("reading", "Discordance").objects.values_list("study__study_id", "reasons"))
    assert stored == {"waiting": [{"rule": "BIRADS_DIFFERENT"}]}
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
