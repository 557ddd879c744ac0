from django.urls import URLPattern, URLResolver, path

from apps.common.views import by_method
from apps.studies import apis

app_name = "studies"

urlpatterns: list[URLPattern | URLResolver] = [
    path("projects/", by_method(get=apis.ProjectListApi, post=apis.ProjectCreateApi), name="project-list"),
    path("projects/<slug:slug>/imports/", apis.ImportCreateApi.as_view(), name="import-create"),
    path("imports/<int:pk>/", apis.BatchDetailApi.as_view(), name="batch-detail"),
    path("images/<int:pk>/file/<str:kind>/", apis.ImageFileApi.as_view(), name="image-file"),
    path("review/images/", apis.ReviewImageListApi.as_view(), name="review-images"),
    path("review/images/mark-reviewed/", apis.ReviewMarkApi.as_view(), name="review-mark"),
]
