"""Command line: ``python -m analysis evaluate BUNDLE.json`` prints the results of a campaign bundle."""

from __future__ import annotations

import argparse
import ctypes
import json
import sys
from collections.abc import Sequence
from typing import Any

from . import _is_command_line
from ._errors import BundleError, BundleProblem
from ._parse import decode_text, loads_json
from ._stream import PARALLEL_MAX_CHARS, read_campaign
from .evaluate import evaluate

EXIT_REFUSED = 2


def _write_json(doc: Any) -> None:
    data = json.dumps(doc, ensure_ascii=False, indent=1, allow_nan=False) + "\n"
    sys.stdout.buffer.write(data.encode("utf-8"))
    sys.stdout.buffer.flush()


def keep_freed_memory() -> bool:
    """Let the C library keep freed memory for reuse; whether it agreed (glibc's ``mallopt``).

    The engine makes and drops arrays of tens of megabytes per group and
    replicate chunk. By default glibc hands most of them back to the system
    and asks for them again, page by page (zeroed by the kernel each time):
    about a second of system time at 200,000 ballots. Kept (any block below
    256 MB from the heap, the heap trimmed only beyond 1 GB free), the same
    pages serve again; the peak stays that of the largest arrays held at once.
    """
    try:
        mallopt = ctypes.CDLL(None).mallopt  # this process's C library
    except (OSError, AttributeError):  # not glibc: its own policy stays
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3
    return bool(mallopt(m_mmap_threshold, 256 << 20)) & bool(mallopt(m_trim_threshold, 1 << 30))


def _read(path: str) -> bytes:
    if path == "-":
        return sys.stdin.buffer.read()
    with open(path, "rb") as fh:
        return fh.read()


def _load_rules(path: str) -> dict[str, Any]:
    rules = loads_json(_read(path))
    if isinstance(rules, dict) and "rules" in rules and len(rules) == 1:
        # A file holding {"rules": {...}} is accepted as well as the bare object.
        rules = rules["rules"]
    if not isinstance(rules, dict):
        raise BundleError([BundleProblem("rules", "规则应为 JSON 对象", "rules must be a JSON object")])
    return rules


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m analysis",
        description="评议 Pingyi scoring engine (SCORING.md): evaluate a pingyi-campaign/1 bundle.",
        epilog="Exit status: 0 on success; 2 when the bundle is refused (pingyi-errors/1 on stdout) "
               "or a file cannot be read (message on stderr).",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    ev = sub.add_parser(
        "evaluate",
        help="print the pingyi-results/1 JSON of a campaign bundle",
        description="Validate BUNDLE.json and print its pingyi-results/1 document on stdout "
                    "(UTF-8). A refused bundle prints pingyi-errors/1 listing every problem and exits 2.",
    )
    ev.add_argument("bundle", metavar="BUNDLE.json", help="campaign bundle (pingyi-campaign/1); '-' reads stdin")
    ev.add_argument("--rules", metavar="RULES.json",
                    help="rules replacing the bundle's key by key (thresholds and bootstrap merge key by key)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        text = _read(args.bundle)
        override = _load_rules(args.rules) if args.rules else None
    except OSError as exc:
        print(f"无法读取文件 / cannot read file: {exc.filename or args.bundle}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_REFUSED
    except BundleError as exc:
        _write_json(exc.to_json())
        return EXIT_REFUSED
    try:
        # Read ballot by ballot where large (analysis._stream); refusals as loads_bundle words them.
        # The text is decoded first and the bytes let go: a large bundle is then
        # held once (as text) while its ballots are read, not twice.
        if _is_command_line(sys.orig_argv) and len(text) <= PARALLEL_MAX_CHARS:
            # python -m analysis itself (not a caller's process, as for the
            # OpenBLAS setting): speed matters more than memory kept aside
            # below the size where the helpers stop too (at a million ballots
            # every megabyte counts).
            keep_freed_memory()
        decoded = decode_text(text)
        del text
        campaign = read_campaign(decoded, override, utf8=True, parallel=True)
        del decoded
        results = evaluate(campaign, parallel=True)
    except BundleError as exc:
        _write_json(exc.to_json())
        return EXIT_REFUSED
    try:
        _write_json(results.to_json())  # serialised whole before anything is written
    except ValueError:
        # The last line of the implementation limits: never a traceback for a figure that is not finite.
        _write_json(BundleError([BundleProblem(
            "$", "计算结果含非有限数值（实现限制）", "the results hold a non-finite number (implementation limit)",
        )]).to_json())
        return EXIT_REFUSED
    return 0


if __name__ == "__main__":
    sys.exit(main())
