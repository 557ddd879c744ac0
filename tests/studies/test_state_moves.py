"""Every change of an exam's state goes through `studies_move` (apps/studies/services.py), which
looks the move up in apps/studies/workflow.py and writes one `study_state` audit event: checked
on the code itself, so a new service that sets the state directly fails here."""

from __future__ import annotations

import ast
from pathlib import Path

from django.conf import settings

APPS = Path(settings.BASE_DIR) / "apps"


def _writes_study_state(node: ast.AST) -> bool:
    """`Study.objects....update(state=...)`, `Study.objects.bulk_update(..., ["state", ...])`,
    `study.state = ...` and `study.save(update_fields=[..."state"...])`."""
    if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return any(isinstance(t, ast.Attribute) and t.attr == "state" and isinstance(t.value, ast.Name)
                   and "study" in t.value.id.lower() for t in targets)
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
        return False
    root = node.func
    while isinstance(root, ast.Attribute | ast.Call):
        root = root.value if isinstance(root, ast.Attribute) else root.func  # type: ignore[assignment]
    on_study = isinstance(root, ast.Name) and "study" in root.id.lower()
    if node.func.attr == "update":
        return on_study and any(k.arg == "state" for k in node.keywords)
    fields = list(node.args[1:]) + [k.value for k in node.keywords if k.arg in ("fields", "update_fields")]
    if node.func.attr in ("bulk_update", "save"):
        return on_study and any(isinstance(f, ast.List | ast.Tuple) and any(
            isinstance(e, ast.Constant) and e.value == "state" for e in f.elts) for f in fields)
    return False


def study_state_writes(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        if "migrations" in path.parts:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef) or function.name == "studies_move":
                continue
            for node in ast.walk(function):
                if _writes_study_state(node) and not any(
                        isinstance(inner, ast.FunctionDef) and inner is not function and node in ast.walk(inner)
                        for inner in ast.walk(function)):
                    found.append(f"{path.relative_to(root.parent)}:{node.lineno} in {function.name}")
    return found


def test_only_studies_move_writes_an_exams_state() -> None:
    assert study_state_writes(APPS) == []


def test_the_guard_sees_each_way_of_writing_the_state(tmp_path: Path) -> None:
    apps = tmp_path / "apps"
    apps.mkdir()
    (apps / "m.py").write_text(
        "def a(study):\n    study.state = 'final'\n"
        "def b(pks):\n    Study.objects.filter(pk__in=pks).update(state='final')\n"
        "def c(studies):\n    Study.objects.bulk_update(studies, ['final_read', 'state'])\n"
        "def d(study):\n    study.save(update_fields=['state'])\n"
        "def e(image):\n    image.state = 'rendered'\n    Image.objects.update(state='reviewed')\n"
        "def studies_move(study):\n    study.state = 'final'\n")
    assert [line.split(" in ")[1] for line in study_state_writes(apps)] == ["a", "b", "c", "d"]
