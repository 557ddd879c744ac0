from django.urls import path, re_path

from apps.web.views import spa_shell

app_name = "web"

# Client-side routes of the SPA; each answers the same shell. Unknown paths stay 404.
urlpatterns = [
    path("", spa_shell, name="worklist"),
    path("read/<int:assignment_id>/", spa_shell, name="read"),
    path("arbitrate/<int:assignment_id>/", spa_shell, name="arbitrate"),
    re_path(r"^manage/(?:[a-z-]+/)?$", spa_shell, name="manage"),
]
