from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/", include("apps.accounts.urls")),
    path("api/", include("apps.studies.urls")),
    path("api/", include("apps.reading.urls")),
    path("api/", include("apps.datasets.urls")),
    # Last: the single-page app owns "/" and its client-side routes.
    path("", include("apps.web.urls")),
]
# No /media/ route in any mode: stored files are served only by views that check the user first
# (apps.common.files.storage_file_response; issue 9, item 8).
