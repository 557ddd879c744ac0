from django.conf import settings
from django.conf.urls.static import static
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

if settings.DEBUG or settings.MEDIA_URL.startswith("/"):
    # Media (renders) are served by Django behind permission checks in apps.studies; this plain
    # mapping is only for local development with DEBUG on.
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT) if settings.DEBUG else []
