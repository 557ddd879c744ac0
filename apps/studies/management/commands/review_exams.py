"""`manage.py review_exams --project SLUG [--approve all | --approve STUDY_ID ...]` (thin: selectors + study_review_approve).

Without --approve it lists the exams awaiting review; the review grid in the admin
(/admin/studies/image/review/) is the same step with the thumbnails in view.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.actors import command_actor
from apps.studies import selectors, services
from apps.studies.models import Project


class Command(BaseCommand):
    help = "List the exams awaiting review, or approve them (all, or the named exam ids)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--approve", nargs="+", metavar="STUDY_ID",
                            help="'all', or the exam ids (study_id) to approve")
        parser.add_argument("--actor", default=None, help="admin username recorded in the audit trail")

    def handle(self, *args: Any, **options: Any) -> None:
        if not Project.objects.filter(slug=options["project"]).exists():
            raise CommandError(f"No project with slug {options['project']!r}.")
        actor = command_actor(options["actor"])
        exams = list(selectors.exams_awaiting_review(user=actor, project_slug=options["project"]))
        wanted = options["approve"]
        if not wanted:
            self.stdout.write(f"{len(exams)} exams awaiting review in {options['project']}:")
            for study in exams:
                views = ", ".join(f"{i.laterality}{i.view_position} ({i.state})" for i in study.images.all())
                lacking = "" if study.has_standard_views else " [lacks a standard view]"
                self.stdout.write(f"  {study.study_id}: {views}{lacking}")
            return
        by_id = {s.study_id: s for s in exams}
        if wanted != ["all"]:
            unknown = [w for w in wanted if w not in by_id]
            if unknown:
                raise CommandError(f"Not awaiting review in {options['project']}: {', '.join(unknown)}.")
            exams = [by_id[w] for w in wanted]
        ready, waiting = 0, []
        for study in exams:
            result = services.study_review_approve(actor=actor, study_pk=study.pk)
            if result.ready_studies:
                ready += 1
            else:
                waiting.append(study.study_id)
        self.stdout.write(f"Approved {len(exams)} exams: {ready} ready for reading, {len(waiting)} still waiting "
                          f"(missing or unrendered view; release them in the admin).")
        for study_id in waiting:
            self.stdout.write(f"  waiting: {study_id}")
