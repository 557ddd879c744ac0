from django.urls import URLPattern, URLResolver, path

from apps.reading import apis

urlpatterns: list[URLPattern | URLResolver] = [
    path("worklist/", apis.WorklistApi.as_view(), name="worklist"),
    path("assignments/<int:assignment_id>/", apis.AssignmentDetailApi.as_view(), name="assignment-detail"),
    path("assignments/<int:assignment_id>/priors/", apis.AssignmentPriorsApi.as_view(), name="assignment-priors"),
    path("assignments/<int:assignment_id>/read/", apis.ReadSaveApi.as_view(), name="read-save"),
    path("assignments/<int:assignment_id>/submit/", apis.ReadSubmitApi.as_view(), name="read-submit"),
    path("assignments/<int:assignment_id>/reopen/", apis.ReadReopenApi.as_view(), name="read-reopen"),
    path("assignments/<int:assignment_id>/reassign/", apis.AssignmentReassignApi.as_view(),
         name="assignment-reassign"),
    path("projects/<slug:slug>/assignments/", apis.ProjectAssignmentsApi.as_view(), name="project-assignments"),
    path("projects/<slug:slug>/assign/", apis.ExamsAssignApi.as_view(), name="exams-assign"),
    path("projects/<slug:slug>/progress/", apis.ProgressApi.as_view(), name="project-progress"),
    path("projects/<slug:slug>/agreement/", apis.AgreementApi.as_view(), name="project-agreement"),
    path("studies/<int:study_id>/audit/", apis.StudyAuditApi.as_view(), name="study-audit"),
]
