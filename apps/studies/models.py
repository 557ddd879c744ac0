"""Projects, exams (studies), series, images and import batches.

Identifiers: `study_id`, `series_id`, `image_id` are keyed hex digests of the original UIDs
(HMAC with settings.DEID_SECRET); `*_uid` are the valid DICOM UIDs written into the
de-identified file (2.25.<int of the same digest>). The original UIDs are never stored.

Priors: `Study.patient_key` is the keyed digest of the original PatientID (kind "patient"), the
only patient link kept, and `exam_date` is the exam's date shifted by a keyed per-patient offset,
which orders a patient's exams (and keeps their intervals) without keeping a real date
(docs/reading.md, "Priors").
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

STANDARD_VIEWS = (("R", "CC"), ("L", "CC"), ("R", "MLO"), ("L", "MLO"))


def default_project_settings() -> dict:
    # The paper's strict setting; apps.reading.concordance documents each knob.
    return {}


class Project(models.Model):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    # Per-project knobs: discordance rules, IoU threshold, required views, ... (docs/architecture.md)
    settings = models.JSONField(default=default_project_settings, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.slug


class StudyState(models.TextChoices):
    IMPORTING = "importing", "Importing"
    AWAITING_REVIEW = "awaiting_review", "Awaiting review"
    READY = "ready", "Ready for reading"
    READING = "reading", "Reading"
    ARBITRATION = "arbitration", "Arbitration"
    FINAL = "final", "Final"


class Split(models.TextChoices):
    NONE = "", "Not split"
    TRAINING = "training", "Training"
    TEST = "test", "Test"


class Study(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="studies")
    study_id = models.CharField(max_length=64)
    study_uid = models.CharField(max_length=64)
    patient_age = models.PositiveSmallIntegerField(null=True, blank=True)
    patient_sex = models.CharField(max_length=1, blank=True)
    has_standard_views = models.BooleanField(default=False)
    # HMAC of the original PatientID (dicom.patient_key); "" when the file had none or the exam was
    # imported before it was recorded (the PatientID was not kept then, so no backfill exists).
    patient_key = models.CharField(max_length=64, blank=True, default="")
    # StudyDate (else SeriesDate, AcquisitionDate, ContentDate) shifted by the patient's keyed
    # offset (dicom.shifted_exam_date): a prior is an exam with an earlier one. Never exported or
    # written into the de-identified file; null when the file had no date.
    exam_date = models.DateField(null=True, blank=True)
    state = models.CharField(max_length=32, choices=StudyState.choices, default=StudyState.IMPORTING)
    split = models.CharField(max_length=16, choices=Split.choices, default=Split.NONE, blank=True)
    # The one read exports use: the arbitration read or the merged consensus (apps.reading).
    final_read = models.OneToOneField(
        "reading.Read", null=True, blank=True, on_delete=models.SET_NULL, related_name="final_of_study"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "studies"
        constraints = [
            models.UniqueConstraint(fields=["project", "study_id"], name="study_unique_per_project"),
        ]
        indexes = [models.Index(fields=["project", "state"]),
                   models.Index(fields=["project", "patient_key"], name="study_patient_key")]

    def __str__(self) -> str:
        return self.study_id


class Series(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="series")
    series_id = models.CharField(max_length=64)
    series_uid = models.CharField(max_length=64)

    class Meta:
        verbose_name_plural = "series"
        constraints = [
            models.UniqueConstraint(fields=["study", "series_id"], name="series_unique_per_study"),
        ]

    def __str__(self) -> str:
        return self.series_id


class ImageState(models.TextChoices):
    RECEIVED = "received", "Received"
    DEIDENTIFIED = "deidentified", "De-identified"
    RENDERED = "rendered", "Rendered"
    REVIEWED = "reviewed", "Reviewed"
    FAILED = "failed", "Failed"


class Laterality(models.TextChoices):
    RIGHT = "R", "Right"
    LEFT = "L", "Left"


class Image(models.Model):
    # No index of its own: image_unique_per_project (project, image_id) serves project lookups, and
    # a second index on project alone is what PostgreSQL picks for the per-file duplicate check on
    # tables without statistics, reading the whole project (an import quadratic in its size).
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="images", db_index=False)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="images")
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="images")
    image_id = models.CharField(max_length=64)
    sop_uid = models.CharField(max_length=64)
    sop_class_uid = models.CharField(max_length=64, blank=True)
    laterality = models.CharField(max_length=1, choices=Laterality.choices)
    # CC, MLO, or another view code (XCCL, ML, ...) kept and shown but not required.
    view_position = models.CharField(max_length=16)
    rows = models.PositiveIntegerField()
    columns = models.PositiveIntegerField()
    pixel_spacing_row = models.FloatField(null=True, blank=True)
    pixel_spacing_col = models.FloatField(null=True, blank=True)
    # The tag the spacing came from ("PixelSpacing" | "ImagerPixelSpacing"; "" = no spacing, or
    # imported before this was recorded): lengths from ImagerPixelSpacing are "at the detector".
    pixel_spacing_source = models.CharField(max_length=24, blank=True, default="")
    photometric_interpretation = models.CharField(max_length=16)
    bits_stored = models.PositiveSmallIntegerField(default=16)
    manufacturer = models.CharField(max_length=128, blank=True)
    manufacturer_model = models.CharField(max_length=128, blank=True)
    # [{"center": float, "width": float, "explanation": str}] from the DICOM, or derived from pixels.
    window_presets = models.JSONField(default=list, blank=True)
    # PatientOrientation as read before de-identification drops it, e.g. "A\\R" or "P\\L".
    patient_orientation = models.CharField(max_length=32, blank=True)
    # True when the display must be mirrored left-right so the chest wall sits on the side the
    # hanging protocol expects (right breast: chest wall at the right edge of its viewport).
    display_flip_horizontal = models.BooleanField(default=False)
    # Storage names (Django storage API), empty until written.
    dicom_file = models.CharField(max_length=255, blank=True)
    display_file = models.CharField(max_length=255, blank=True)
    thumbnail_file = models.CharField(max_length=255, blank=True)
    full_depth_file = models.CharField(max_length=255, blank=True)
    # The full depth halved `depth_preview_level` times (longest side <= 1024): what the viewer
    # loads first for window/level at full bit depth; empty for images rendered before it.
    depth_preview_file = models.CharField(max_length=255, blank=True)
    depth_preview_level = models.PositiveSmallIntegerField(default=0)
    # Mapping of the full-depth PNG's 16-bit values back to modality values: value*scale+offset.
    full_depth_scale = models.FloatField(default=1.0)
    full_depth_offset = models.FloatField(default=0.0)
    # Breast tissue found at render time (dicom.tissue): [xmin, ymin, xmax, ymax] in original
    # pixels, end-exclusive, and a window over the tissue's modality values; null until rendered
    # (or when no tissue is found), and the viewer then fits the whole film.
    tissue_bounds = models.JSONField(null=True, blank=True)
    tissue_window = models.JSONField(null=True, blank=True)
    # The corner-mask boxes blacked out at import, [[x0, y0, x1, y1], ...] original pixels
    # (end-exclusive); null for images imported before they were recorded (the review grid then
    # assumes the four corners that were the default then, selectors.CORNER_MASK_BEFORE_MASK_BOXES).
    mask_boxes = models.JSONField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=ImageState.choices, default=ImageState.RECEIVED)
    error = models.TextField(blank=True)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "image_id"], name="image_unique_per_project"),
            models.CheckConstraint(condition=Q(rows__gt=0) & Q(columns__gt=0), name="image_positive_size"),
        ]
        indexes = [models.Index(fields=["study", "laterality", "view_position"])]

    def __str__(self) -> str:
        return f"{self.image_id} {self.laterality}{self.view_position}"


class ImportBatchState(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class ImportBatch(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_batches")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=32, default="cli")  # cli | upload | dicom | demo
    # Re-imports of already de-identified data (public VinDr-Mammo release) keep the file UIDs.
    keep_ids = models.BooleanField(default=False)
    # How files the manifest does not name are grouped into exams: "" (StudyInstanceUID),
    # "patient-id-prefix" or "regex:<pattern>" on PatientID (services.group_rule_parse).
    group_rule = models.CharField(max_length=255, blank=True, default="")
    state = models.CharField(max_length=16, choices=ImportBatchState.choices, default=ImportBatchState.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "import batches"

    def __str__(self) -> str:
        return f"batch {self.pk} ({self.project.slug})"


class ImportItemStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    IMPORTED = "imported", "Imported"
    DUPLICATE = "duplicate", "Duplicate"
    REJECTED = "rejected", "Rejected"


class ImportItem(models.Model):
    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="items")
    # The name the user knows the file by (path inside a folder or archive, upload name).
    filename = models.CharField(max_length=1024)
    # Storage name of the received original while it waits for ingest; deleted after ingest.
    staged_file = models.CharField(max_length=255, blank=True)
    # Exam key from a manifest CSV, for archives that give every view its own study UID.
    exam_key = models.CharField(max_length=255, blank=True)
    status = models.CharField(max_length=16, choices=ImportItemStatus.choices, default=ImportItemStatus.PENDING)
    reason = models.TextField(blank=True)
    image = models.ForeignKey(Image, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["batch", "status"])]

    def __str__(self) -> str:
        return self.filename
