"""`manage.py assign_exams --project SLUG --readers a,b,c [--seniors d] [--limit N]` (thin: calls exams_assign)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.accounts.actors import command_actor
from apps.common.errors import ApplicationError
from apps.reading.services import exams_assign
from apps.studies.models import Project


def _names(value: str) -> list[str]:
    return [name.strip() for name in value.split(",") if name.strip()]


class Command(BaseCommand):
    help = "Assign the project's ready exams for double reading (two different readers each, load balanced)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--project", required=True, help="project slug")
        parser.add_argument("--readers", required=True, type=_names, help="comma-separated usernames (2 or more)")
        parser.add_argument("--seniors", type=_names, default=None,
                            help="comma-separated usernames of the arbiters (default: every senior reader)")
        parser.add_argument("--limit", type=int, default=None, help="assign at most this many exams")
        parser.add_argument("--actor", default=None,
                            help="admin username recorded in the audit trail (default: the first superuser)")

    def handle(self, *args: Any, **options: Any) -> None:
        users = get_user_model().objects
        try:
            project = Project.objects.get(slug=options["project"])
        except Project.DoesNotExist:
            raise CommandError(f"No project with slug {options['project']!r}.") from None

        def lookup(names: list[str]) -> list[Any]:
            found = {u.get_username(): u for u in users.filter(username__in=names)}
            missing = [n for n in names if n not in found]
            if missing:
                raise CommandError(f"Unknown users: {', '.join(missing)}.")
            return [found[n] for n in names]

        actor = command_actor(options["actor"])
        try:
            result = exams_assign(actor=actor, project=project, readers=lookup(options["readers"]),
                                  seniors=lookup(options["seniors"]) if options["seniors"] is not None else None,
                                  limit=options["limit"])
        except ApplicationError as exc:
            raise CommandError(f"{exc.code}: {exc.message}") from exc
        waiting = result.not_assignable
        self.stdout.write(
            f"Assigned {len(result.assigned_studies)} exams ({result.assignments_created} assignments), "
            f"{len(result.arbitrations_assigned)} arbitrations.")
        self.stdout.write(
            f"Not assignable yet: {sum(waiting.values())} exams: {waiting.get('awaiting_review', 0)} awaiting "
            f"review, {waiting.get('lacking_views', 0)} lacking views, {waiting.get('importing', 0)} importing.")
        if waiting.get("awaiting_review"):
            self.stdout.write("  Awaiting review: approve their images in the review grid "
                              "(/admin/studies/image/review/) or with `manage.py review_exams --project "
                              f"{project.slug} --approve all`.")
        if waiting.get("lacking_views"):
            self.stdout.write("  Lacking views: an exam without all four standard views is read only when an "
                              "admin releases it (admin > Studies > 'Release reviewed exams for reading').")
        for skipped in result.skipped:
            self.stdout.write(f"  skipped study {skipped['study']}: {skipped['reason']}")
