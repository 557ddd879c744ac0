"""DICOMweb's own table: a cache of each image's DICOM JSON header, read once from its stored
de-identified file, so QIDO-RS can match on Modality and WADO-RS metadata needs no file reads.

The studies app owns the images; a row here is derived data (dropped with its image, rebuilt on
demand by `services.headers_fill`), never the source of truth.
"""

from __future__ import annotations

from django.db import models

from apps.studies.models import Image


class InstanceHeader(models.Model):
    image = models.OneToOneField(Image, on_delete=models.CASCADE, primary_key=True, related_name="dicomweb_header")
    modality = models.CharField(max_length=16, db_index=True)
    # DICOM JSON (PS3.18 F.2) of the stored file's data set without PixelData.
    metadata = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"header of image {self.image_id}"
