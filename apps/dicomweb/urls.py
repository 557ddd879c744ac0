"""DICOMweb routes (PS3.18), mounted at /dicomweb/. No trailing slashes: clients build these
URLs from the base URL and the UIDs."""

from django.urls import URLPattern, URLResolver, path

from apps.dicomweb import apis

app_name = "dicomweb"

STUDY = "studies/<str:study_uid>"
SERIES = f"{STUDY}/series/<str:series_uid>"
INSTANCE = f"{SERIES}/instances/<str:sop_uid>"

urlpatterns: list[URLPattern | URLResolver] = [
    path("studies", apis.StudiesApi.as_view(), name="studies"),
    path("series", apis.StudySeriesSearchApi.as_view(), name="series-search"),
    path("instances", apis.InstancesSearchApi.as_view(), name="instance-search"),
    path(STUDY, apis.StudyApi.as_view(), name="study"),
    path(f"{STUDY}/metadata", apis.MetadataApi.as_view(), name="study-metadata"),
    path(f"{STUDY}/series", apis.StudySeriesSearchApi.as_view(), name="study-series-search"),
    path(f"{STUDY}/instances", apis.InstancesSearchApi.as_view(), name="study-instance-search"),
    path(f"{STUDY}/thumbnail", apis.ThumbnailApi.as_view(), name="study-thumbnail"),
    path(SERIES, apis.RetrieveApi.as_view(), name="series"),
    path(f"{SERIES}/metadata", apis.MetadataApi.as_view(), name="series-metadata"),
    path(f"{SERIES}/instances", apis.InstancesSearchApi.as_view(), name="series-instance-search"),
    path(f"{SERIES}/thumbnail", apis.ThumbnailApi.as_view(), name="series-thumbnail"),
    path(INSTANCE, apis.RetrieveApi.as_view(), name="instance"),
    path(f"{INSTANCE}/metadata", apis.MetadataApi.as_view(), name="instance-metadata"),
    path(f"{INSTANCE}/rendered", apis.RenderedApi.as_view(), name="instance-rendered"),
    path(f"{INSTANCE}/thumbnail", apis.ThumbnailApi.as_view(), name="instance-thumbnail"),
    path(f"{INSTANCE}/frames/<str:frames>", apis.FramesApi.as_view(), name="frames"),
    path(f"{INSTANCE}/frames/<str:frames>/rendered", apis.RenderedApi.as_view(), name="frames-rendered"),
    path(f"{INSTANCE}/frames/<str:frames>/thumbnail", apis.ThumbnailApi.as_view(), name="frames-thumbnail"),
]
