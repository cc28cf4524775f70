"""Reading a bundle's JSON: strict numbers, and every repeated key reported at its path."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, NoReturn

from . import _limits, _validate
from ._errors import BundleError, BundleProblem

__all__ = ["loads_bundle", "loads_json"]


class _PairsDict(dict[str, Any]):
    """A dict that remembers the keys its JSON object repeated."""

    __slots__ = ("dup_keys",)
    dup_keys: list[str]


def _make_pairs_hook(found: list[bool]) -> Callable[[list[tuple[str, Any]]], dict[str, Any]]:
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        d = dict(pairs)
        if len(d) == len(pairs):
            # The common case stays a plain dict built in C: parsing a large
            # bundle calls this hook once per JSON object.
            return d
        seen = set()
        dups = []
        for k, _ in pairs:
            if k in seen:
                dups.append(k)
            seen.add(k)
        marked = _PairsDict(d)
        marked.dup_keys = dups
        found.append(True)
        return marked

    return hook


def _key_path(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _plain(node: Any, path: str, problems: list[BundleProblem]) -> Any:
    # Hooks run bottom-up and cannot know where they are; a second walk
    # attaches paths to the repeated keys and strips the helper type.
    if isinstance(node, dict):
        for k in getattr(node, "dup_keys", ()):
            problems.append(BundleProblem(_key_path(path, k), f"重复的键 {k}", f"duplicate key {k}"))
        return {k: _plain(v, _key_path(path, k), problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v, f"{path}[{i}]", problems) for i, v in enumerate(node)]
    return node


def reject_constant(name: str) -> NoReturn:
    raise ValueError(f"non-standard JSON constant {name}")


def decode_text(text: str | bytes | bytearray) -> str:
    """The text of a bundle: bytes decoded as UTF-8, one leading BOM dropped."""
    if isinstance(text, (bytes, bytearray)):
        try:
            return bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise BundleError(
                [BundleProblem("$", f"不是 UTF-8 编码：第 {exc.start} 字节", f"not UTF-8: byte {exc.start}")]
            ) from None
    return text[1:] if text.startswith("\ufeff") else text


def decoder(found: list[bool], odd: list[bool]) -> json.JSONDecoder:
    """The decoder every bundle is read with: strict numbers, no NaN or Infinity, repeated keys kept.

    Appends to `found` when an object repeats a key (the object is then a
    dict remembering them) and to `odd` when a number is beyond int64 or a
    double (parsed as :class:`_limits.Unrepresentable`).
    """
    def parse_int(s: str) -> Any:
        value = _limits.parse_int(s)
        if isinstance(value, _limits.Unrepresentable):
            odd.append(True)
        return value

    def parse_float(s: str) -> Any:
        value = _limits.parse_float(s)
        if isinstance(value, _limits.Unrepresentable):
            odd.append(True)
        return value

    return json.JSONDecoder(object_pairs_hook=_make_pairs_hook(found), parse_constant=reject_constant,
                            parse_int=parse_int, parse_float=parse_float)


def _parse(text: str, data: bytes | None, found: list[bool], odd: list[bool]) -> Any:
    # The depth is checked on the text: json.loads recurses, and so do the walks after it.
    deep = _limits.depth_problem(text, data)
    if deep is not None:
        raise BundleError([deep])

    try:
        dec = decoder(found, odd)
        return json.loads(text, object_pairs_hook=dec.object_pairs_hook, parse_constant=dec.parse_constant,
                          parse_int=dec.parse_int, parse_float=dec.parse_float)
    except json.JSONDecodeError as exc:
        raise BundleError(
            [
                BundleProblem(
                    "$",
                    f"JSON 格式错误：第 {exc.lineno} 行第 {exc.colno} 列，{exc.msg}",
                    f"invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}",
                )
            ]
        ) from None
    except (ValueError, RecursionError) as exc:
        raise BundleError([BundleProblem("$", f"JSON 格式错误：{exc}", f"invalid JSON: {exc}")]) from None


def _read(text: str | bytes | bytearray) -> tuple[Any, list[BundleProblem]]:
    """The parsed tree, plain, with the problems found while reading it (refused where any is a limit)."""
    found: list[bool] = []
    odd: list[bool] = []
    decoded = decode_text(text)
    data = bytes(text) if isinstance(text, (bytes, bytearray)) else None
    raw = _parse(decoded, data, found, odd)
    problems: list[BundleProblem] = []
    # Only a document with a repeated key needs the walk that finds its path.
    doc = _plain(raw, "", problems) if found else raw
    if odd or _limits.may_hold_surrogates(decoded, data):
        limits = list(_limits.value_problems(doc))
        if limits:
            # Nothing further can be checked on values that are not numbers or text.
            raise BundleError(problems + limits)
    return doc, problems


def loads_json(text: str | bytes | bytearray) -> Any:
    """Any JSON document (a rules file) read under the same limits as a bundle.

    Raises
    ------
    BundleError
        Invalid JSON, a repeated key, or an implementation limit (docs/scoring.md).
    """
    doc, problems = _read(text)
    if problems:
        raise BundleError(problems)
    return doc


def loads_bundle(text: str | bytes | bytearray) -> dict[str, Any]:
    """Parse and validate a pingyi-campaign/1 document.

    The document returned is validated: pass it on with ``validated=True``
    (:func:`analysis.from_document`, :func:`analysis.evaluate_document`) so
    that it is not validated a second time.

    Parameters
    ----------
    text : str or bytes
        The JSON document (bytes are decoded as UTF-8, a BOM allowed).

    Returns
    -------
    dict
        The document as plain dicts and lists, key order kept.

    Raises
    ------
    BundleError
        Listing every problem found: invalid JSON (path ``$``), duplicate keys
        at their path, and all checks of :func:`analysis.validate_bundle`; or
        the implementation limits of docs/scoring.md (nesting, int64, doubles,
        lone surrogates) at their path.
    """
    doc, problems = _read(text)
    problems.extend(_validate.validate_bundle(doc))
    if problems:
        raise BundleError(problems)
    assert isinstance(doc, dict)  # validate_bundle refuses anything else
    return doc
