"""The domain model stands on its own: nothing in survey/models/ imports a
blueprint package (survey.campaigns, survey.ballots, …), so a table is found
under survey/models/ and importing the models never pulls in the pages."""
from __future__ import annotations

import ast
from pathlib import Path

MODELS = Path(__file__).resolve().parents[2] / "survey" / "models"
#: What a model module may import from the app: the models themselves and the app's plumbing.
ALLOWED = ("survey.models", "survey.extensions", "survey.clock", "survey.errors")


def _imports(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
        elif isinstance(node, ast.ImportFrom) and node.level:
            found.append((node.lineno, "survey.models." + (node.module or "")))
        elif isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
    return found


def test_models_import_no_blueprint_package() -> None:
    offending = [
        f"{path.relative_to(MODELS.parent.parent)}:{line}: {module}"
        for path in sorted(MODELS.glob("*.py"))
        for line, module in _imports(path)
        if (module == "survey" or module.startswith("survey.")) and not module.startswith(ALLOWED)
    ]
    assert offending == []


def test_group_unit_is_a_model() -> None:
    from survey.models import GroupUnit
    from survey.models.campaign import GroupUnit as InCampaign

    assert GroupUnit is InCampaign
    assert GroupUnit.__tablename__ == "campaign_group_unit"
