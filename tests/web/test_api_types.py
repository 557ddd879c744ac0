"""The frontend's API types are generated from the server's OpenAPI schema; this fails when the
committed frontend/src/api/schema.d.ts no longer matches what the server describes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings

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
