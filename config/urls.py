from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.common.errors import api_not_found
from apps.common.middleware import content_security_policy

# Swagger UI (served from the installed sidecar package) starts from an inline script: only this
# page allows inline scripts; every other response gets settings.CONTENT_SECURITY_POLICY.
DOCS_POLICY = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
               "img-src 'self' data:; object-src 'none'; base-uri 'self'; frame-ancestors 'none'")

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", content_security_policy(DOCS_POLICY)(SpectacularSwaggerView.as_view(url_name="api-schema")),
         name="api-docs"),
    path("api/", include("apps.accounts.urls")),
    path("api/", include("apps.studies.urls")),
    path("api/", include("apps.reading.urls")),
    path("api/", include("apps.datasets.urls")),
    # After every API route: an unknown /api/ path answers JSON, not the HTML 404 page.
    re_path(r"^api/(?P<unmatched>.*)$", api_not_found, name="api-not-found"),
    # DICOMweb (QIDO-RS, WADO-RS, STOW-RS): a standard protocol, documented in docs/dicom.md.
    path("dicomweb/", include("apps.dicomweb.urls")),
    # Last: the single-page app owns "/" and its client-side routes.
    path("", include("apps.web.urls")),
]
# No /media/ route in any mode: stored files are served only by views that check the user first
# (apps.common.files.storage_file_response; issue 9, item 8).

handler400 = "apps.common.errors.handler400"
handler403 = "apps.common.errors.handler403"
handler404 = "apps.common.errors.handler404"
handler500 = "apps.common.errors.handler500"
