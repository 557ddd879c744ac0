"""The frontend's API types are generated from the server's OpenAPI schema; this fails when the
committed frontend/src/api/schema.d.ts no longer matches what the server describes."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

FRONTEND = Path(settings.BASE_DIR) / "frontend"
GENERATOR = FRONTEND / "node_modules" / ".bin" / "openapi-typescript"


def test_generated_api_types_match_the_servers_openapi_schema(tmp_path: Path) -> None:
    if not GENERATOR.exists():
        pytest.fail(f"{GENERATOR} is missing: run `cd frontend && npm ci` (bin/setup does it).", pytrace=False)
    schema = tmp_path / "schema.yml"
    call_command("spectacular", "--file", str(schema))
    generated = tmp_path / "schema.d.ts"
    subprocess.run([str(GENERATOR), str(schema), "-o", str(generated)], cwd=FRONTEND, check=True,
                   capture_output=True, timeout=120)
    committed = (FRONTEND / "src" / "api" / "schema.d.ts").read_text()
    assert generated.read_text() == committed, (
        "frontend/src/api/schema.d.ts is out of date with the API: run `cd frontend && npm run "
        "api:generate`, then `npm run build` to see which screens the change breaks.")
