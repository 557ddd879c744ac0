"""Dataset exports (VinDr-Mammo CSVs, split, statistics) and the line order of imported CSV rows."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class ExportStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ImagesMode(models.TextChoices):
    NONE = "none", "No images"
    DICOM = "dicom", "De-identified DICOM"
    PNG = "png", "Display PNG"


class Export(models.Model):
    project = models.ForeignKey("studies.Project", on_delete=models.CASCADE, related_name="exports")
    # {"test_fraction": float, "seed": int, "images": "none"|"dicom"|"png"}
    params = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=ExportStatus.choices, default=ExportStatus.PENDING)
    progress = models.PositiveSmallIntegerField(default=0)  # percent
    stage = models.CharField(max_length=64, blank=True)
    # [{"name": "breast-level_annotations.csv", "storage_name": "exports/7/...", "size": int}]
    # Images are not listed one by one here; the manifest has them with their checksums.
    files = models.JSONField(default=list, blank=True)
    manifest = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Refreshed at every progress step of a running export: a run whose heartbeat is older than
    # EXPORT_LEASE_S lost its worker and may be claimed again; a fresh one may not (no double run).
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Runs started (claims). A run whose worker died is re-queued by `exports_sweep` until this
    # reaches EXPORT_MAX_ATTEMPTS; then the export fails instead of looping on a job that kills it.
    attempts = models.PositiveSmallIntegerField(default=0)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(progress__lte=100), name="export_progress_percent"),
        ]

    def __str__(self) -> str:
        return f"export {self.pk} of {self.project_id} ({self.status})"

    @property
    def storage_prefix(self) -> str:
        return f"exports/{self.pk}/"


class ImportedImageRow(models.Model):
    """Where an image's rows stood in imported CSVs, so an export writes them back in that order.

    The published release orders rows its own way (boxes first, then the No Finding rows); keeping
    the line numbers is what makes import -> export byte-for-byte.
    """

    image = models.OneToOneField("studies.Image", on_delete=models.CASCADE, related_name="imported_row")
    breast_line = models.PositiveIntegerField()
    # The line of the image's ['No Finding'] row in finding_annotations.csv, if it had one.
    no_finding_line = models.PositiveIntegerField(null=True, blank=True)


class ImportedFindingRow(models.Model):
    finding = models.OneToOneField("reading.Finding", on_delete=models.CASCADE, related_name="imported_row")
    line = models.PositiveIntegerField()
    # xmin, ymin, xmax, ymax exactly as the imported file spelled them ("2098.0", 17 digits, ...):
    # written back as long as the box still has the coordinates they parse to, so a release
    # imported from any public copy exports byte-identical. Empty for rows imported before.
    box_text = models.JSONField(default=list, blank=True)
