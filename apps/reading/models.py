"""Assignments, reads, breast assessments, findings and the append-only audit trail.

A Read belongs to an Assignment (a reader's own read) or to no assignment (the consensus built by
merging two concordant reads, or a final read imported from CSV). Study.final_read points at the
one read that exports use.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class AssignmentKind(models.TextChoices):
    FIRST = "first", "First read"
    SECOND = "second", "Second read"
    ARBITRATION = "arbitration", "Arbitration"


class AssignmentState(models.TextChoices):
    ASSIGNED = "assigned", "Assigned"
    IN_PROGRESS = "in_progress", "In progress"
    SUBMITTED = "submitted", "Submitted"
    REOPENED = "reopened", "Reopened"


class Assignment(models.Model):
    study = models.ForeignKey("studies.Study", on_delete=models.CASCADE, related_name="assignments")
    reader = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assignments")
    kind = models.CharField(max_length=16, choices=AssignmentKind.choices)
    state = models.CharField(max_length=16, choices=AssignmentState.choices, default=AssignmentState.ASSIGNED)
    # Optimistic concurrency: every write to the read bumps it; a stale writer gets 409.
    version = models.PositiveIntegerField(default=1)
    # For arbitration: the discordance reasons (codes + details) that made the exam go there.
    discordance_reasons = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    # Active reading time (issue 12): seconds the reader spent with the read focused and in use,
    # idle gaps beyond the project's `reading_idle_seconds` excluded; measured by the read screen
    # and sent with saves and submit (services.active_seconds_merge keeps it monotonic).
    active_seconds = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "reader"], name="assignment_one_per_reader_and_exam"),
            models.UniqueConstraint(fields=["study", "kind"], name="assignment_one_per_kind_and_exam"),
        ]
        indexes = [models.Index(fields=["reader", "state"])]

    def __str__(self) -> str:
        return f"{self.kind} of {self.study_id} by {self.reader_id}"


class ReadOrigin(models.TextChoices):
    READER = "reader", "Reader"
    CONSENSUS = "consensus", "Consensus of two concordant reads"
    ARBITRATION = "arbitration", "Arbitration"
    IMPORTED = "imported", "Imported from CSV"


class Read(models.Model):
    study = models.ForeignKey("studies.Study", on_delete=models.CASCADE, related_name="reads")
    assignment = models.OneToOneField(
        Assignment, null=True, blank=True, on_delete=models.CASCADE, related_name="read"
    )
    origin = models.CharField(max_length=16, choices=ReadOrigin.choices, default=ReadOrigin.READER)
    # Length measurements (issue 12): [{"key", "image", "x1", "y1", "x2", "y2", "length_mm",
    # "spacing_source"}], endpoints in original image pixels, length computed by read_save from
    # the image's pixel spacing. A JSON list on the read, not a table: a read has a handful and
    # the hottest paths (autosave, the exam payload) then cost no extra query.
    measurements = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"read {self.pk} ({self.origin}) of {self.study_id}"


class Discordance(models.Model):
    """Why the two reads of an exam disagreed at their latest comparison (concordance.py reasons).

    Kept here, not read back from the audit trail, so an exam that waits in arbitration for a
    senior hands its reasons to whoever is assigned later."""

    study = models.OneToOneField("studies.Study", on_delete=models.CASCADE, related_name="discordance")
    reasons = models.JSONField(default=list, blank=True)
    compared_at = models.DateTimeField(auto_now=True)


class BreastBirads(models.IntegerChoices):
    B0 = 0, "BI-RADS 0"
    B1 = 1, "BI-RADS 1"
    B2 = 2, "BI-RADS 2"
    B3 = 3, "BI-RADS 3"
    B4 = 4, "BI-RADS 4"
    B5 = 5, "BI-RADS 5"


class Density(models.TextChoices):
    A = "A", "DENSITY A"
    B = "B", "DENSITY B"
    C = "C", "DENSITY C"
    D = "D", "DENSITY D"


class BreastAssessment(models.Model):
    read = models.ForeignKey(Read, on_delete=models.CASCADE, related_name="breasts")
    laterality = models.CharField(max_length=1, choices=[("R", "Right"), ("L", "Left")])
    # Null while the reader has not chosen yet (saves are incremental); required at submit.
    birads = models.PositiveSmallIntegerField(null=True, blank=True, choices=BreastBirads.choices)
    density = models.CharField(max_length=1, null=True, blank=True, choices=Density.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["read", "laterality"], name="breast_one_per_side_and_read"),
            models.CheckConstraint(condition=Q(birads__isnull=True) | Q(birads__lte=5), name="breast_birads_0_5"),
        ]


class Finding(models.Model):
    read = models.ForeignKey(Read, on_delete=models.CASCADE, related_name="findings")
    image = models.ForeignKey("studies.Image", on_delete=models.CASCADE, related_name="findings")
    # Original image pixel coordinates, whatever the viewer's zoom, pan or mirroring.
    # (db_column: PostgreSQL reserves "xmin"/"xmax" as system columns.)
    xmin = models.FloatField(db_column="box_xmin")
    ymin = models.FloatField(db_column="box_ymin")
    xmax = models.FloatField(db_column="box_xmax")
    ymax = models.FloatField(db_column="box_ymax")
    categories = models.JSONField(default=list)
    birads = models.PositiveSmallIntegerField(null=True, blank=True)
    # Where the finding came from in arbitration/consensus (id of the source finding), for audit.
    source_finding_id = models.BigIntegerField(null=True, blank=True)
    # The client's key from the last save, so rule violations can point at the box the reader
    # drew before it had an id.
    client_key = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(xmax__gt=models.F("xmin")) & Q(ymax__gt=models.F("ymin")),
                                   name="finding_box_positive_area"),
            models.CheckConstraint(condition=Q(birads__isnull=True) | Q(birads__in=[3, 4, 5]),
                                   name="finding_birads_3_5"),
        ]


class AuditEvent(models.Model):
    """Append-only: services create rows; nothing updates or deletes them."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=32)
    object_type = models.CharField(max_length=32)
    object_id = models.BigIntegerField(null=True)
    study = models.ForeignKey("studies.Study", null=True, blank=True, on_delete=models.CASCADE,
                              related_name="audit_events")
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["study", "at"])]
        ordering = ["at", "id"]
