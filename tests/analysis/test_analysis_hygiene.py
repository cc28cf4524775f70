"""analysis/ stays a pure statistics package: no web or database imports, documented modules, warning-free."""

import ast
import pathlib
import subprocess
import sys

PACKAGE = pathlib.Path(__file__).resolve().parents[2] / "analysis"
FORBIDDEN = ("flask", "sqlalchemy", "werkzeug", "survey")


def test_no_forbidden_imports_in_source():
    for path in PACKAGE.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                assert name.split(".")[0] not in FORBIDDEN, f"{path.name} imports {name}"


def test_importing_pulls_in_nothing_forbidden():
    code = ("import sys, analysis, analysis.__main__; "
            f"bad = [m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r}]; print(bad); sys.exit(1 if bad else 0)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=PACKAGE.parent, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_module_starts_with_a_one_sentence_docstring():
    for path in PACKAGE.glob("*.py"):
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")))
        assert doc, path.name
        first = doc.splitlines()[0]
        assert first.endswith("."), path.name
