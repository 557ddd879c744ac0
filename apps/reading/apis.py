"""Reading REST API (docs/api.md). Thin: validate shape, call one selector or service, serialize.

Serializer classes carry unique names because drf-spectacular names schema components after them.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.access import acting_user
from apps.accounts.permissions import IsAdminRole, IsReaderRole
from apps.common.errors import ApplicationError
from apps.common.fields import DbIdField
from apps.common.pagination import paginate
from apps.common.schema import ErrorSerializer, page_of
from apps.reading import selectors, services
from apps.reading.concordance import ReasonCode
from apps.reading.errors import ReadingErrorCode
from apps.reading.measurements import MAX_MEASUREMENTS_PER_READ
from apps.reading.models import AssignmentKind, AssignmentState, ReadOrigin
from apps.reading.rules import RULE_CODES, Severity
from apps.reading.vocabulary import BREAST_BIRADS, DENSITIES, FINDING_BIRADS, FINDING_CATEGORIES, LATERALITIES
from apps.studies.dicom import SPACING_SOURCES
from apps.studies.models import StudyState
from apps.studies.selectors import project_get_for

# Fixed vocabularies are ChoiceFields (outputs too), so the schema and the typed client carry
# their values as enums; a ChoiceField writes an output value as it is. The enums' names are
# SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"] (config/settings.py), which needs integer sets as pairs.
BREAST_BIRADS_CHOICES = [(value, value) for value in BREAST_BIRADS]
FINDING_BIRADS_CHOICES = [(value, value) for value in FINDING_BIRADS]

# A screening read has a handful of boxes; the cap only stops runaway clients.
MAX_FINDINGS_PER_READ = 500

# --- shared output shapes ------------------------------------------------------------------------


class UserRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()


class WindowPresetSerializer(serializers.Serializer):
    center = serializers.FloatField()
    width = serializers.FloatField()
    explanation = serializers.CharField(allow_blank=True)


class ImageUrlsSerializer(serializers.Serializer):
    display = serializers.CharField()
    thumbnail = serializers.CharField()
    full = serializers.CharField()
    depth = serializers.CharField(required=False, help_text="The full depth halved to a longest side <= 1024 "
                                  "(the viewer's first 16-bit data); absent for images rendered before it.")


class TissueBoundsSerializer(serializers.Serializer):
    xmin = serializers.FloatField()
    ymin = serializers.FloatField()
    xmax = serializers.FloatField()
    ymax = serializers.FloatField()


class ExamImageSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    image_id = serializers.CharField()
    series_id = serializers.CharField()
    laterality = serializers.ChoiceField(choices=LATERALITIES)
    view_position = serializers.CharField(help_text="CC, MLO, or another view code as the DICOM names it.")
    rows = serializers.IntegerField()
    columns = serializers.IntegerField()
    photometric_interpretation = serializers.CharField()
    window_presets = WindowPresetSerializer(many=True)
    display_flip_horizontal = serializers.BooleanField()
    full_depth_scale = serializers.FloatField()
    full_depth_offset = serializers.FloatField()
    urls = ImageUrlsSerializer()
    tissue_bounds = TissueBoundsSerializer(allow_null=True)
    tissue_window = WindowPresetSerializer(allow_null=True)
    pixel_spacing = serializers.ListField(child=serializers.FloatField(), min_length=2, max_length=2,
                                          allow_null=True)
    pixel_spacing_source = serializers.ChoiceField(
        choices=SPACING_SOURCES, allow_null=True,
        help_text="The tag pixel_spacing came from; ImagerPixelSpacing: lengths are at the detector. "
                  "Null: no spacing, or not recorded (imported before; a re-render records it).")


class BreastSerializer(serializers.Serializer):
    laterality = serializers.ChoiceField(choices=LATERALITIES)
    birads = serializers.ChoiceField(choices=BREAST_BIRADS, allow_null=True)
    density = serializers.ChoiceField(choices=DENSITIES, allow_null=True)


# A finding's box and categories, the same wherever a finding is served (a read's own findings, a
# prior's). Comments, not docstrings: a docstring would become the description of every subclass's
# schema component. Never a component of its own: only its subclasses are.
class FindingBoxSerializer(serializers.Serializer):
    image = serializers.IntegerField()
    laterality = serializers.ChoiceField(choices=LATERALITIES)
    xmin = serializers.FloatField()
    ymin = serializers.FloatField()
    xmax = serializers.FloatField()
    ymax = serializers.FloatField()
    categories = serializers.ListField(child=serializers.ChoiceField(choices=FINDING_CATEGORIES))
    birads = serializers.ChoiceField(choices=FINDING_BIRADS, allow_null=True)


class _FindingRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()


class FindingOutSerializer(_FindingRefSerializer, FindingBoxSerializer):
    # DRF orders inherited fields by base, then the class's own: id, key, the box, source_finding.
    source_finding = serializers.IntegerField(allow_null=True)


class MeasurementOutSerializer(serializers.Serializer):
    key = serializers.CharField()
    image = serializers.IntegerField()
    x1 = serializers.FloatField()
    y1 = serializers.FloatField()
    x2 = serializers.FloatField()
    y2 = serializers.FloatField()
    length_mm = serializers.FloatField(allow_null=True, help_text="From the image's pixel spacing; null without one.")
    spacing_source = serializers.ChoiceField(choices=SPACING_SOURCES, allow_blank=True,
                                             help_text="PixelSpacing, ImagerPixelSpacing (at the detector) or blank.")


class ReadOutSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    origin = serializers.ChoiceField(choices=ReadOrigin.choices)
    breasts = BreastSerializer(many=True)
    findings = FindingOutSerializer(many=True)
    measurements = MeasurementOutSerializer(many=True)


class ViolationSerializer(serializers.Serializer):
    rule = serializers.ChoiceField(choices=RULE_CODES)
    severity = serializers.ChoiceField(choices=[severity.value for severity in Severity])
    message = serializers.CharField()
    field = serializers.CharField(allow_null=True)
    laterality = serializers.ChoiceField(choices=LATERALITIES, allow_null=True)
    finding = serializers.CharField(allow_null=True)


class DiscordanceReasonSerializer(serializers.Serializer):
    rule = serializers.ChoiceField(choices=[code.value for code in ReasonCode])
    message = serializers.CharField()
    laterality = serializers.ChoiceField(choices=LATERALITIES, allow_null=True)
    a = serializers.JSONField(allow_null=True)
    b = serializers.JSONField(allow_null=True)
    finding_a = serializers.IntegerField(allow_null=True)
    finding_b = serializers.IntegerField(allow_null=True)
    image = serializers.IntegerField(allow_null=True)


class StudyRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    study_id = serializers.CharField()
    project = serializers.CharField()
    state = serializers.ChoiceField(choices=StudyState.choices, allow_null=True,
                                    help_text="Admins only; null for readers (blinding).")
    image_count = serializers.IntegerField()


class AssignmentSummarySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=AssignmentKind.choices)
    state = serializers.ChoiceField(choices=AssignmentState.choices)
    version = serializers.IntegerField()
    study = StudyRefSerializer()
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    submitted_at = serializers.DateTimeField(allow_null=True)
    reader = UserRefSerializer(allow_null=True, help_text="Admins only.")
    active_seconds = serializers.IntegerField(
        help_text="Active reading time of this read in seconds (focus and input; idle gaps beyond the "
                  "project's reading_idle_seconds excluded).")


# --- reader endpoints ----------------------------------------------------------------------------


class WorklistFilterSerializer(serializers.Serializer):
    # Blank means "no filter" (clients send state= for "all").
    state = serializers.ChoiceField(choices=[*AssignmentState.values, "open"], required=False, allow_blank=True)
    project = serializers.SlugField(required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=AssignmentKind.values, required=False, allow_blank=True)


WorklistPageSerializer = page_of(AssignmentSummarySerializer, "WorklistPage", next_assignment=serializers.IntegerField(
    allow_null=True, help_text="Oldest open assignment: read next."))


class WorklistApi(APIView):
    permission_classes = [IsReaderRole]
    FilterSerializer = WorklistFilterSerializer
    OutputSerializer = WorklistPageSerializer

    @extend_schema(parameters=[WorklistFilterSerializer], responses=WorklistPageSerializer)
    def get(self, request: Request) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        page = paginate(selectors.worklist_for_reader(user=request.user, **filters.validated_data), request, self)
        lists_open_first = (page.number == 1 and filters.validated_data.get("state") in (None, "", "open")
                            and not filters.validated_data.get("kind"))
        next_assignment = selectors.next_assignment_id(user=request.user, project=filters.validated_data.get("project"),
                                                       first_page=page.rows if lists_open_first else None)
        data = page.body(selectors.worklist_rows(page.rows), next_assignment=next_assignment)
        return Response(self.OutputSerializer(data).data)


class ExamStudySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    study_id = serializers.CharField()
    project = serializers.CharField()
    state = serializers.ChoiceField(choices=StudyState.choices, allow_null=True, help_text="Admins only.")
    patient_age = serializers.IntegerField(allow_null=True)
    patient_sex = serializers.CharField(allow_blank=True)
    has_standard_views = serializers.BooleanField()


class ExamForReadingSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.ChoiceField(choices=AssignmentKind.choices)
    state = serializers.ChoiceField(choices=AssignmentState.choices)
    version = serializers.IntegerField()
    study = ExamStudySerializer()
    images = ExamImageSerializer(many=True)
    read = ReadOutSerializer()
    violations = ViolationSerializer(many=True)
    read_a = ReadOutSerializer(allow_null=True)
    read_b = ReadOutSerializer(allow_null=True)
    discordance_reasons = DiscordanceReasonSerializer(many=True)
    reader = UserRefSerializer(allow_null=True)
    read_a_reader = UserRefSerializer(allow_null=True)
    read_b_reader = UserRefSerializer(allow_null=True)
    active_seconds = serializers.IntegerField(help_text="This read's active reading time so far.")
    idle_after_seconds = serializers.IntegerField(
        help_text="The project's reading_idle_seconds: longer pauses in input are not reading time.")


class PriorStudySerializer(serializers.Serializer):
    id = serializers.IntegerField()
    study_id = serializers.CharField()
    patient_age = serializers.IntegerField(allow_null=True)
    has_standard_views = serializers.BooleanField()


class PriorFindingSerializer(FindingBoxSerializer):
    pass  # the box alone: no id, key or source finding (nothing leads back to a reader's finding)


class PriorReadSerializer(serializers.Serializer):
    breasts = BreastSerializer(many=True)
    findings = PriorFindingSerializer(many=True)


class PriorSerializer(serializers.Serializer):
    study = PriorStudySerializer()
    days_before = serializers.IntegerField(
        allow_null=True, help_text="Days between the prior and the current exam (exam dates); null when either "
                                   "has no date (then the prior was imported earlier).")
    read_final = serializers.BooleanField(help_text="Whether the prior is final; only then is its read given.")
    read = PriorReadSerializer(allow_null=True, help_text="The prior's final read; null until it is final.")
    images = ExamImageSerializer(many=True)


class AssignmentPriorsApi(APIView):
    """The earlier exams of the same (keyed) patient in the project, most recent first."""

    permission_classes = [IsReaderRole]
    OutputSerializer = PriorSerializer

    @extend_schema(responses={200: PriorSerializer(many=True), 404: ErrorSerializer})
    def get(self, request: Request, assignment_id: int) -> Response:
        priors = selectors.priors_for(user=request.user, assignment_id=assignment_id)
        return Response(self.OutputSerializer(selectors.priors_payload(priors), many=True).data)


class AssignmentDetailApi(APIView):
    permission_classes = [IsReaderRole]
    OutputSerializer = ExamForReadingSerializer

    @extend_schema(responses={200: ExamForReadingSerializer, 404: ErrorSerializer})
    def get(self, request: Request, assignment_id: int) -> Response:
        exam = selectors.exam_for_reading(user=request.user, assignment_id=assignment_id)
        data = selectors.exam_payload(exam, idle_after_seconds=services.reading_idle_seconds(
            project=exam.assignment.study.project))
        return Response(self.OutputSerializer(data).data)


class FindingInSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=64)
    id = DbIdField(required=False, allow_null=True)
    image = DbIdField()
    xmin = serializers.FloatField()
    ymin = serializers.FloatField()
    xmax = serializers.FloatField()
    ymax = serializers.FloatField()
    categories = serializers.ListField(child=serializers.CharField(max_length=64), max_length=20)
    birads = serializers.IntegerField(required=False, allow_null=True, min_value=0, max_value=6)
    source_finding = DbIdField(required=False, allow_null=True)


class MeasurementInSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=64)
    image = DbIdField()
    x1 = serializers.FloatField()
    y1 = serializers.FloatField()
    x2 = serializers.FloatField()
    y2 = serializers.FloatField()


class ReadSaveInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    breasts = BreastSerializer(many=True)
    findings = FindingInSerializer(many=True)
    active_seconds = serializers.IntegerField(
        required=False, min_value=0, max_value=10**7,
        help_text="The client's total active reading time of this read; the server keeps the larger "
                  "total, bounded by the wall time since the last write.")
    measurements = MeasurementInSerializer(
        many=True, required=False,
        help_text="Replaces the read's length measurements; omit to leave them as they are.")

    def validate_measurements(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(value) > MAX_MEASUREMENTS_PER_READ:
            raise serializers.ValidationError(f"At most {MAX_MEASUREMENTS_PER_READ} measurements per read.")
        keys = [m["key"] for m in value]
        if len(set(keys)) != len(keys):
            raise serializers.ValidationError("Measurement keys must be unique within the read.")
        return value

    def validate_breasts(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if sorted(b["laterality"] for b in value) != ["L", "R"]:
            raise serializers.ValidationError("Give exactly one entry for R and one for L.")
        return value

    def validate_findings(self, value: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(value) > MAX_FINDINGS_PER_READ:
            raise serializers.ValidationError(f"At most {MAX_FINDINGS_PER_READ} findings per read.")
        keys = [f["key"] for f in value]
        if len(set(keys)) != len(keys):
            raise serializers.ValidationError("Finding keys must be unique within the read.")
        return value


class ReadSaveOutputSerializer(serializers.Serializer):
    version = serializers.IntegerField()
    state = serializers.ChoiceField(choices=AssignmentState.choices)
    read = ReadOutSerializer()
    warnings = ViolationSerializer(many=True)


class ReadSaveApi(APIView):
    permission_classes = [IsReaderRole]
    InputSerializer = ReadSaveInputSerializer
    OutputSerializer = ReadSaveOutputSerializer

    @extend_schema(request=ReadSaveInputSerializer,
                   responses={200: ReadSaveOutputSerializer, 400: ErrorSerializer, 403: ErrorSerializer,
                              404: ErrorSerializer, 409: ErrorSerializer})
    def put(self, request: Request, assignment_id: int) -> Response:
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        result = services.read_save(actor=acting_user(request), assignment_id=assignment_id,
                                    **payload.validated_data)
        data = {"version": result.assignment.version, "state": result.assignment.state,
                "read": result.payload, "warnings": [v.as_dict() for v in result.warnings]}
        return Response(self.OutputSerializer(data).data)


class VersionInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)


class SubmitInputSerializer(VersionInputSerializer):
    active_seconds = serializers.IntegerField(required=False, min_value=0, max_value=10**7, allow_null=True,
                                              default=None, help_text="As in the save body.")


class SubmitOutputSerializer(AssignmentSummarySerializer):
    outcome = serializers.ChoiceField(choices=["submitted", "final"])


class ReadSubmitApi(APIView):
    permission_classes = [IsReaderRole]
    InputSerializer = SubmitInputSerializer
    OutputSerializer = SubmitOutputSerializer

    @extend_schema(request=SubmitInputSerializer,
                   responses={200: SubmitOutputSerializer, 400: ErrorSerializer, 403: ErrorSerializer,
                              404: ErrorSerializer, 409: ErrorSerializer})
    def post(self, request: Request, assignment_id: int) -> Response:
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        result = services.read_submit(actor=acting_user(request), assignment_id=assignment_id,
                                      version=payload.validated_data["version"],
                                      active_seconds=payload.validated_data["active_seconds"])
        # The service hands back the assignment as written (with its study and image count).
        data = {**selectors.assignment_rows_for(user=request.user, assignments=[result.assignment])[0],
                "outcome": result.outcome}
        return Response(self.OutputSerializer(data).data)


# --- admin endpoints -----------------------------------------------------------------------------


class ReopenInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class ReadReopenApi(APIView):
    permission_classes = [IsAdminRole]
    InputSerializer = ReopenInputSerializer
    OutputSerializer = AssignmentSummarySerializer

    @extend_schema(request=ReopenInputSerializer,
                   responses={200: AssignmentSummarySerializer, 404: ErrorSerializer, 409: ErrorSerializer})
    def post(self, request: Request, assignment_id: int) -> Response:
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        selectors.assignment_get_for_user(user=request.user, assignment_id=assignment_id)
        services.read_reopen(actor=acting_user(request), assignment_id=assignment_id,
                             reason=payload.validated_data["reason"])
        return Response(self.OutputSerializer(
            selectors.assignment_summary_for(user=request.user, assignment_id=assignment_id)).data)


def _users_by_username(usernames: list[str]) -> list[User]:
    users = {u.get_username(): u for u in get_user_model().objects.filter(username__in=usernames)}
    missing = [name for name in usernames if name not in users]
    if missing:
        raise ApplicationError(f"Unknown users: {', '.join(missing)}.", code=ReadingErrorCode.INVALID_READER,
                               extra={"users": missing})
    return [users[name] for name in usernames]


class ReassignInputSerializer(serializers.Serializer):
    reader = serializers.CharField(help_text="Username of the new reader.")


class AssignmentReassignApi(APIView):
    permission_classes = [IsAdminRole]
    InputSerializer = ReassignInputSerializer
    OutputSerializer = AssignmentSummarySerializer

    @extend_schema(request=ReassignInputSerializer,
                   responses={200: AssignmentSummarySerializer, 400: ErrorSerializer, 404: ErrorSerializer,
                              409: ErrorSerializer})
    def post(self, request: Request, assignment_id: int) -> Response:
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        selectors.assignment_get_for_user(user=request.user, assignment_id=assignment_id)
        (reader,) = _users_by_username([payload.validated_data["reader"]])
        services.assignment_reassign(actor=acting_user(request), assignment_id=assignment_id,
                                     reader=reader)
        return Response(self.OutputSerializer(
            selectors.assignment_summary_for(user=request.user, assignment_id=assignment_id)).data)


class ProjectAssignmentsFilterSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=AssignmentState.values, required=False, allow_blank=True)
    kind = serializers.ChoiceField(choices=AssignmentKind.values, required=False, allow_blank=True)
    reader = serializers.CharField(required=False, allow_blank=True)
    study = DbIdField(required=False)


AssignmentPageSerializer = page_of(AssignmentSummarySerializer, "AssignmentPage")


class ProjectAssignmentsApi(APIView):
    permission_classes = [IsAdminRole]
    FilterSerializer = ProjectAssignmentsFilterSerializer
    OutputSerializer = AssignmentPageSerializer

    @extend_schema(parameters=[ProjectAssignmentsFilterSerializer],
                   responses={200: AssignmentPageSerializer, 404: ErrorSerializer})
    def get(self, request: Request, slug: str) -> Response:
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        project = project_get_for(request.user, slug)
        page = paginate(selectors.assignments_for_project(project=project, **filters.validated_data), request, self)
        rows = selectors.assignment_rows_for(user=request.user, assignments=page.rows)
        return Response(self.OutputSerializer(page.body(rows)).data)


class AssignInputSerializer(serializers.Serializer):
    readers = serializers.ListField(child=serializers.CharField(), min_length=2)
    seniors = serializers.ListField(child=serializers.CharField(), required=False, allow_null=True, default=None)
    study_ids = serializers.ListField(child=DbIdField(), required=False, allow_null=True,
                                      default=None)
    limit = serializers.IntegerField(required=False, allow_null=True, min_value=1, default=None)


class SkippedStudySerializer(serializers.Serializer):
    study = serializers.IntegerField()
    reason = serializers.CharField()


class AssignOutputSerializer(serializers.Serializer):
    assigned_studies = serializers.ListField(child=serializers.IntegerField())
    arbitrations_assigned = serializers.ListField(child=serializers.IntegerField())
    skipped = SkippedStudySerializer(many=True)
    assignments_created = serializers.IntegerField()


class ExamsAssignApi(APIView):
    permission_classes = [IsAdminRole]
    InputSerializer = AssignInputSerializer
    OutputSerializer = AssignOutputSerializer

    @extend_schema(request=AssignInputSerializer,
                   responses={200: AssignOutputSerializer, 400: ErrorSerializer, 404: ErrorSerializer})
    def post(self, request: Request, slug: str) -> Response:
        payload = self.InputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        project = project_get_for(request.user, slug)
        seniors = payload.validated_data["seniors"]
        result = services.exams_assign(
            actor=acting_user(request), project=project,
            readers=_users_by_username(payload.validated_data["readers"]),
            seniors=_users_by_username(seniors) if seniors is not None else None,
            study_ids=payload.validated_data["study_ids"], limit=payload.validated_data["limit"])
        return Response(self.OutputSerializer(vars(result)).data)


class ReaderProgressSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    assigned = serializers.IntegerField()
    in_progress = serializers.IntegerField()
    submitted = serializers.IntegerField()
    reopened = serializers.IntegerField()
    arbitration = serializers.IntegerField()
    active_seconds = serializers.IntegerField(help_text="Active reading time over all this reader's assignments.")
    submitted_active_seconds = serializers.IntegerField(help_text="Active reading time of the submitted reads.")
    mean_active_seconds = serializers.FloatField(allow_null=True, help_text="Per submitted read.")


class ProgressSerializer(serializers.Serializer):
    project = serializers.CharField()
    studies = serializers.DictField(child=serializers.IntegerField())
    assignments = serializers.DictField(child=serializers.IntegerField())
    readers = ReaderProgressSerializer(many=True)


class ProgressApi(APIView):
    permission_classes = [IsAdminRole]
    OutputSerializer = ProgressSerializer

    @extend_schema(responses={200: ProgressSerializer, 404: ErrorSerializer})
    def get(self, request: Request, slug: str) -> Response:
        project = project_get_for(request.user, slug)
        return Response(self.OutputSerializer(vars(selectors.progress(project=project))).data)


class ScaleStatsSerializer(serializers.Serializer):
    n = serializers.IntegerField()
    observed_agreement = serializers.FloatField(allow_null=True)
    kappa = serializers.FloatField(allow_null=True)
    kappa_linear = serializers.FloatField(allow_null=True)
    kappa_quadratic = serializers.FloatField(allow_null=True)
    ac1 = serializers.FloatField(allow_null=True)


class BoxAgreementSerializer(serializers.Serializer):
    matched = serializers.IntegerField()
    unmatched_a = serializers.IntegerField()
    unmatched_b = serializers.IntegerField()
    mean_iou = serializers.FloatField(allow_null=True)


class AgreementSerializer(serializers.Serializer):
    exams = serializers.IntegerField()
    discordant = serializers.IntegerField()
    discordance_rate = serializers.FloatField(allow_null=True)
    reasons = serializers.DictField(child=serializers.IntegerField())
    birads = ScaleStatsSerializer()
    density = ScaleStatsSerializer()
    boxes = BoxAgreementSerializer()


class PairAgreementSerializer(AgreementSerializer):
    reader_a = UserRefSerializer()
    reader_b = UserRefSerializer()


class AgreementReportSerializer(serializers.Serializer):
    project = serializers.CharField()
    rules = serializers.DictField()
    overall = AgreementSerializer()
    pairs = PairAgreementSerializer(many=True)


class AgreementApi(APIView):
    permission_classes = [IsAdminRole]
    OutputSerializer = AgreementReportSerializer

    @extend_schema(responses={200: AgreementReportSerializer, 400: ErrorSerializer, 404: ErrorSerializer})
    def get(self, request: Request, slug: str) -> Response:
        project = project_get_for(request.user, slug)
        report = selectors.agreement_for_project(project=project, rules=services.project_rules(project=project))
        data = {
            "project": report.project, "rules": report.rules.as_dict(), "overall": report.overall.as_dict(),
            "pairs": [{"reader_a": a, "reader_b": b, **agreement.as_dict()} for a, b, agreement in report.pairs],
        }
        return Response(self.OutputSerializer(data).data)


class AuditEventSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    at = serializers.DateTimeField()
    actor = UserRefSerializer(allow_null=True)
    action = serializers.CharField()
    object_type = serializers.CharField()
    object_id = serializers.IntegerField(allow_null=True)
    before = serializers.JSONField(allow_null=True)
    after = serializers.JSONField(allow_null=True)


AuditPageSerializer = page_of(AuditEventSerializer, "AuditPage")


class StudyAuditApi(APIView):
    permission_classes = [IsAdminRole]
    OutputSerializer = AuditPageSerializer

    @extend_schema(responses={200: AuditPageSerializer, 404: ErrorSerializer})
    def get(self, request: Request, study_id: int) -> Response:
        study = selectors.study_get(study_id=study_id)
        page = paginate(selectors.audit_for_study(study=study), request, self)
        return Response(self.OutputSerializer(page.body(selectors.audit_rows(page.rows))).data)
