from django.apps import AppConfig


class ReadingConfig(AppConfig):
    name = "apps.reading"
    label = "reading"

    def ready(self) -> None:
        from apps.reading.selectors import reader_holds_exam
        from apps.studies.selectors import exam_access_register

        # The image file endpoint (studies) serves a reader the exams assigned to them.
        exam_access_register(reader_holds_exam)
