"""Settings: every PINGYI_* name is declared once, in survey/settings.py, and documented."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from survey import create_app, settings

ROOT = Path(__file__).resolve().parents[2]
NAME = re.compile(r"PINGYI_[A-Z0-9_]*[A-Z0-9]\b")


def test_every_setting_the_code_reads_is_declared() -> None:
    used = set()
    for path in [*(ROOT / "survey").rglob("*.py"), ROOT / "Makefile"]:
        used |= set(NAME.findall(path.read_text(encoding="utf-8")))
    assert used - set(settings.BY_NAME) == set()


def test_every_setting_is_documented() -> None:
    doc = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    assert [s.name for s in settings.SETTINGS if f"`{s.name}`" not in doc] == []


def test_the_environment_sets_app_settings_parsed(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("PINGYI_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("PINGYI_PUBLIC_IP_CAP", "17")
    monkeypatch.setenv("PINGYI_SMTP_STARTTLS", "yes")
    app = create_app()
    assert app.instance_path == str(tmp_path)
    assert app.config["PINGYI_PUBLIC_IP_CAP"] == 17 and app.config["PINGYI_SMTP_STARTTLS"] is True
    assert app.config["PINGYI_JOBS_STALE_S"] == 60.0  # the declared default


def test_a_value_that_does_not_parse_names_its_setting() -> None:
    with pytest.raises(ValueError, match="PINGYI_PROXY_HOPS='one'"):
        settings.from_environ({"PINGYI_PROXY_HOPS": "one"})


def test_the_documented_table_is_the_generated_one() -> None:
    """docs/deployment.md's rows are settings.markdown_table(), default and meaning included."""
    doc = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    rows = [line for line in doc.splitlines() if line.startswith("| `PINGYI_")]
    assert "\n".join(rows) == settings.markdown_table()
