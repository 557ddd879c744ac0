from django.apps import AppConfig


class StudiesConfig(AppConfig):
    name = "apps.studies"
    label = "studies"

    def ready(self) -> None:
        from django.conf import settings

        from apps.studies import dicom

        dicom.configure(render_threads=settings.RENDER_THREADS)
