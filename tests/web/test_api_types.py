"""The frontend's API types are generated from the server's OpenAPI schema; this fails when the
committed frontend/src/api/schema.d.ts no longer matches what the server describes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from drf_spectacular.generators import SchemaGenerator

from apps.datasets.models import ExportStatus
from apps.reading.concordance import ReasonCode
from apps.reading.models import AssignmentKind, AssignmentState, ReadOrigin
from apps.reading.rules import RULE_CODES
from apps.reading.vocabulary import BREAST_BIRADS, DENSITIES, FINDING_BIRADS, FINDING_CATEGORIES, LATERALITIES
from apps.studies.models import ImageState, ImportBatchState, ImportItemStatus, StudyState

FRONTEND = Path(settings.BASE_DIR) / "frontend"
GENERATOR = FRONTEND / "node_modules" / ".bin" / "openapi-typescript"


def test_generated_api_types_match_the_servers_openapi_schema(tmp_path: Path) -> None:
    if not GENERATOR.exists():
        pytest.fail(f"{GENERATOR} is missing: run `cd frontend && npm ci` (bin/setup does it).", pytrace=False)
    schema = tmp_path / "schema.yml"
    # The schema is the deployed server's: integer bounds come from the database backend's field
    # ranges, so it is generated with PostgreSQL settings (no connection is opened) on every pass,
    # the embedded SQLite one included; `npm run api:generate` does the same.
    env = {**os.environ, "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/test"}
    subprocess.run([sys.executable, str(Path(settings.BASE_DIR) / "manage.py"), "spectacular", "--file",
                    str(schema)], env=env, check=True, capture_output=True, timeout=120)
    generated = tmp_path / "schema.d.ts"
    subprocess.run([str(GENERATOR), str(schema), "-o", str(generated)], cwd=FRONTEND, check=True,
                   capture_output=True, timeout=120)
    committed = (FRONTEND / "src" / "api" / "schema.d.ts").read_text()
    assert generated.read_text() == committed, (
        "frontend/src/api/schema.d.ts is out of date with the API: run `cd frontend && npm run "
        "api:generate`, then `npm run build` to see which screens the change breaks.")


def _enum_of(schema: dict, component: str, field: str) -> list:
    """The values the schema allows for `component.field` (an enum behind $ref, oneOf with null or
    blank, or a list's items); [] when the field is not an enum."""
    schemas = schema["components"]["schemas"]
    prop = schemas[component]["properties"][field]
    prop = prop.get("items", prop)
    refs = [prop, *prop.get("oneOf", []), *prop.get("allOf", [])]
    values: list = []
    for ref in refs:
        if "$ref" in ref:
            target = schemas[ref["$ref"].rsplit("/", 1)[-1]]
            values += [v for v in target.get("enum", []) if v not in ("", None)]
        values += [v for v in ref.get("enum", []) if v not in ("", None)]
    return values


def test_fixed_vocabulary_fields_are_enums_of_the_domains_choices() -> None:
    """The fields a screen reads with a fixed vocabulary reach the typed client as enums of the
    domain's own choices, so frontend/src/api/types.ts can name their values."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    expected = {
        ("AssignmentSummary", "kind"): AssignmentKind.values,
        ("AssignmentSummary", "state"): AssignmentState.values,
        ("ExamForReading", "kind"): AssignmentKind.values,
        ("ExamForReading", "state"): AssignmentState.values,
        ("ReadSaveOutput", "state"): AssignmentState.values,
        ("StudyRef", "state"): StudyState.values,
        ("ExamStudy", "state"): StudyState.values,
        ("ExamImage", "laterality"): list(LATERALITIES),
        ("ReadOut", "origin"): ReadOrigin.values,
        ("Breast", "laterality"): list(LATERALITIES),
        ("Breast", "birads"): list(BREAST_BIRADS),
        ("Breast", "density"): list(DENSITIES),
        ("FindingOut", "laterality"): list(LATERALITIES),
        ("FindingOut", "categories"): list(FINDING_CATEGORIES),
        ("FindingOut", "birads"): list(FINDING_BIRADS),
        ("Violation", "rule"): list(RULE_CODES),
        ("Violation", "laterality"): list(LATERALITIES),
        ("DiscordanceReason", "rule"): [code.value for code in ReasonCode],
        ("DiscordanceReason", "laterality"): list(LATERALITIES),
        ("ImportBatch", "state"): ImportBatchState.values,
        ("ImportItem", "status"): ImportItemStatus.values,
        ("ReviewImage", "laterality"): list(LATERALITIES),
        ("ReviewImage", "state"): ImageState.values,
        ("ExportOutput", "status"): ExportStatus.values,
    }
    actual = {key: _enum_of(schema, *key) for key in expected}
    assert actual == expected
