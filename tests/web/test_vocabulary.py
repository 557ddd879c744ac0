"""The reader UI's pickers offer exactly the server's vocabulary (apps/reading/vocabulary.py).

The browser needs the lists at build time for its pickers and keyboard shortcuts, so they are
written twice; this keeps the copy honest.
"""

from __future__ import annotations

import re
from pathlib import Path

from django.conf import settings

from apps.reading import vocabulary

VOCABULARY_TS = Path(settings.BASE_DIR) / "frontend" / "src" / "annotate" / "vocabulary.ts"


def _ts_array(name: str) -> list[str]:
    source = VOCABULARY_TS.read_text()
    match = re.search(rf"export const {name}\b[^=]*=\s*(?:new Set\()?\[(.*?)\]", source, re.S)
    assert match, f"{name} not found in {VOCABULARY_TS}"
    return [item.strip().strip('"') for item in match.group(1).split(",") if item.strip()]


def test_the_ui_offers_the_servers_finding_categories_in_the_same_order() -> None:
    assert _ts_array("FINDING_CATEGORIES") == list(vocabulary.FINDING_CATEGORIES)


def test_the_ui_asks_for_a_finding_birads_for_the_same_categories_as_the_rules() -> None:
    assert set(_ts_array("CATEGORIES_NEEDING_BIRADS")) == set(vocabulary.CATEGORIES_REQUIRING_BIRADS)


def test_the_ui_offers_the_servers_birads_and_density_scales() -> None:
    assert [int(v) for v in _ts_array("BREAST_BIRADS")] == list(vocabulary.BREAST_BIRADS)
    assert [int(v) for v in _ts_array("FINDING_BIRADS")] == list(vocabulary.FINDING_BIRADS)
    assert _ts_array("DENSITIES") == list(vocabulary.DENSITIES)
