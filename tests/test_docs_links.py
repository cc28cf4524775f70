"""The documentation stands alone: README.md, docs/*.md and bench/README.md
link only inside the repository.

Checked in each file (fenced code blocks left out of the link check):

- every Markdown link and image, ``[text](target)``, and every reference
  definition, ``[id]: target``: http(s) and mailto targets and anchors within
  the same file (``#part``) are ignored; any other target is resolved against
  the file's folder and must stay inside the repository and name a file or
  folder that exists (``docs/scoring.md#part`` checks ``docs/scoring.md``);
- every inline code span (and fenced code line) holding a path: it must not
  leave the repository (``../shared/SCORING.md``, read from the file's folder
  or from the repository root) or name a place on a particular machine
  (``/work/...``, ``/home/...``, ``~/...``). Paths inside the repository need
  not exist here (``instance/demo-links.txt`` is made by ``make run``), and
  site addresses such as ``/results/<code>`` are not files;
- plain prose, for the same outside paths written without backticks.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[1]


def documents() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "bench" / "README.md"]


_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
# [text](target "title") and ![alt](target); the text may hold one level of [..].
_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\[\]]*\])*\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+(?:\"[^\"]*\"|'[^']*'|\([^)]*\)))?\s*\)")
_REFDEF = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)")
_EXTERNAL = re.compile(r"^(https?:|mailto:)", re.IGNORECASE)
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
# Places on one machine, never in a clone.
_MACHINE = ("/work/", "/home/", "/root/", "/tmp/", "/mnt/", "/srv/", "/Users/", "~/")
# A path-like token in code or prose: ../x, ~/x, /work/x ...
_TOKEN = re.compile(r"[^\s`'\"()\[\]<>,;，。：；（）“”]+")
_PROSE_OUTSIDE = re.compile(r"(?<![\w./-])(?:\.\./[\w./-]+|(?:" + "|".join(re.escape(m) for m in _MACHINE) + r")[\w./-]*)")


def _lines(text: str):
    """(line number, line, in a fenced code block) for each line."""
    fence = None
    for no, line in enumerate(text.splitlines(), 1):
        m = _FENCE.match(line)
        if m:
            if fence is None:
                fence = m.group(1)
                yield no, line, True
                continue
            if m.group(1) == fence:
                fence = None
                yield no, line, True
                continue
        yield no, line, fence is not None


def _escapes(base: Path, target: str) -> bool:
    """Whether `target`, read relative to `base`, leaves the repository."""
    parts: list[str] = list(base.relative_to(ROOT).parts)
    for part in PurePosixPath(target).parts:
        if part == "..":
            if not parts:
                return True
            parts.pop()
        elif part != ".":
            parts.append(part)
    return False


def _outside_path(token: str, doc: Path) -> str | None:
    """Why a path-like token points outside the repository, or None."""
    token = token.strip()
    if not token or _SCHEME.match(token) and not token.lower().startswith("file:"):
        return None
    if token.lower().startswith("file:"):
        return "file: URL"
    if token.startswith(_MACHINE) or token.rstrip("/") in {m.rstrip("/") for m in _MACHINE}:
        return "path on a particular machine"
    if "/" in token and ".." in PurePosixPath(token).parts and (
            _escapes(doc.parent, token) or _escapes(ROOT, token)):
        return "path leaving the repository"
    return None


def link_problems(doc: Path, text: str) -> list[str]:
    """Every link or path of one Markdown file that leaves the repository or is broken."""
    rel = doc.relative_to(ROOT).as_posix()
    problems = []
    for no, line, fenced in _lines(text):
        where = f"{rel}:{no}"
        spans = [m.group(2) for m in _CODE_SPAN.finditer(line)] if not fenced else [line]
        for span in spans:
            for token in _TOKEN.findall(span):
                why = _outside_path(token, doc)
                if why:
                    problems.append(f"{where}: `{token}`: {why}")
        if fenced:
            continue
        prose = _CODE_SPAN.sub(" ", line)
        targets = [m.group(1) for m in _LINK.finditer(prose)]
        ref = _REFDEF.match(prose)
        if ref:
            targets.append(ref.group(1))
        for target in targets:
            target = target.strip("<>").strip()
            if not target or target.startswith("#") or _EXTERNAL.match(target):
                continue
            if _SCHEME.match(target):
                problems.append(f"{where}: link {target}: not a repository file")
                continue
            path = target.split("#", 1)[0].split("?", 1)[0]
            if path.startswith("/") or path.startswith("~"):
                problems.append(f"{where}: link {target}: absolute path, outside the repository")
            elif _escapes(doc.parent, path):
                problems.append(f"{where}: link {target}: leaves the repository")
            elif not (doc.parent / path).exists():
                problems.append(f"{where}: link {target}: no such file in the repository")
        if ref:
            continue
        for m in _PROSE_OUTSIDE.finditer(_LINK.sub(" ", prose)):
            token = m.group(0).rstrip(".")
            why = _outside_path(token, doc)
            if why:
                problems.append(f"{where}: {token}: {why}")
    return problems


@pytest.mark.parametrize("doc", documents(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_links_stay_inside_the_repository(doc):
    assert doc.exists()
    assert link_problems(doc, doc.read_text(encoding="utf-8")) == []


def test_the_checker_finds_what_it_must():
    # The check itself, on a made-up page in docs/: it must not pass by finding nothing.
    doc = ROOT / "docs" / "example.md"
    text = "\n".join([
        "See [the method](../../shared/SCORING.md) and [spec](/work/shared/SCORING.md).",
        "Read `/work/shared/SCORING.md` or `../../shared/x.md`; run `~/bin/tool`.",
        "Also [gone](missing.md), [ok](scoring.md#bundle), [web](https://example.org/a/../b),",
        "[here](#top), `/results/<code>`, `instance/demo-links.txt`, ![img](../static/none.png).",
        "Plain prose: ../shared/SCORING.md and /work/main.",
        "[ref]: ../../outside.md",
        "```",
        "cat /home/someone/notes.txt",
        "[not a link, but a path](../../nowhere.md)",
        "```",
    ])
    found = sorted((int(p.split(":")[1]), needle) for p in link_problems(doc, text)
                   for needle in [p.split(": ", 1)[1].split(": ")[0].removeprefix("link ").strip("`")])
    assert found == [
        (1, "../../shared/SCORING.md"), (1, "/work/shared/SCORING.md"),
        (2, "../../shared/x.md"), (2, "/work/shared/SCORING.md"), (2, "~/bin/tool"),
        (3, "missing.md"),
        (4, "../static/none.png"),
        (5, "../shared/SCORING.md"), (5, "/work/main"),
        (6, "../../outside.md"),
        (8, "/home/someone/notes.txt"),
        (9, "../../nowhere.md"),
    ]
