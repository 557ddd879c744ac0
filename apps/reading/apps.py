from django.apps import AppConfig


class ReadingConfig(AppConfig):
    name = "apps.reading"
    label = "reading"

    def ready(self) -> None:
        from apps.reading.selectors import reader_holds_exam, reader_reads_later_exam_of_patient
        from apps.studies.selectors import exam_access_register, exam_renders_access_register

        # The image file endpoint (studies) serves a reader the exams assigned to them, and the
        # renders (not the DICOM) of their priors.
        exam_access_register(reader_holds_exam)
        exam_renders_access_register(reader_reads_later_exam_of_patient)
