"""The reader UI builds its pickers and pre-submit hints from the vocabulary the server serves.

The vocabulary and the rules' client-visible metadata (apps/reading/rules.py client_vocabulary)
travel once, in the SPA shell's boot JSON; frontend/src/annotate/vocabulary.ts starts empty and is
filled from it. The unit tests' copy (served-vocabulary.json) must be exactly what is served, and
no screen may carry a copy of its own.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from apps.reading import rules, vocabulary
from tests.web.test_views import built_frontend  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

FRONTEND_SRC = Path(settings.BASE_DIR) / "frontend" / "src"


def _boot(client: Client) -> dict:  # type: ignore[type-arg]
    html = client.get("/").content.decode()
    start = html.index('id="mammolab-boot"')
    return json.loads(html[start:].split(">", 1)[1].split("</script>", 1)[0])  # type: ignore[no-any-return]


def test_the_shell_serves_the_vocabulary_and_the_rules_metadata(built_frontend, reader1) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    client = Client()
    client.force_login(reader1)
    served = _boot(client)["vocabulary"]
    assert served == rules.client_vocabulary()
    assert served["finding_categories"] == list(vocabulary.FINDING_CATEGORIES)
    assert set(served["categories_requiring_birads"]) == set(vocabulary.CATEGORIES_REQUIRING_BIRADS)
    assert served["breast_birads"] == list(vocabulary.BREAST_BIRADS)
    assert served["densities"] == list(vocabulary.DENSITIES)
    missing = {r["code"]: r["missing"] for r in served["rules"] if r["missing"]}
    assert missing == {"BREAST_BIRADS_REQUIRED": {"on": "breast", "field": "birads"},
                       "BREAST_DENSITY_REQUIRED": {"on": "breast", "field": "density"},
                       "FINDING_CATEGORY_REQUIRED": {"on": "finding", "field": "categories"},
                       "FINDING_BIRADS_REQUIRED": {"on": "finding", "field": "birads"}}


def test_the_unit_tests_use_exactly_the_served_vocabulary() -> None:
    fixture = FRONTEND_SRC / "testing" / "served-vocabulary.json"
    assert json.loads(fixture.read_text()) == rules.client_vocabulary(), (
        f"regenerate {fixture} from apps.reading.rules.client_vocabulary()")


def test_no_screen_carries_its_own_copy_of_the_vocabulary_or_the_rule_codes() -> None:
    sources = [p for p in FRONTEND_SRC.rglob("*.ts")
               if not p.name.endswith((".test.ts", ".d.ts")) and "testing" not in p.parts]
    copies = []
    for path in sources:
        text = path.read_text()
        copies += [f"{path.name}: {c!r}" for c in vocabulary.FINDING_CATEGORIES if f'"{c}"' in text]
        copies += [f"{path.name}: {m}" for m in re.findall(r"\w*_REQUIRED\b", text)]
    assert copies == []
