"""The API's operations, each declared once by the decorator on its view
(``api.get``, or ``api.post`` with a JSON body model), and the OpenAPI 3.1
document generated from them.

    @api.get("/campaigns/<code>", CAMPAIGN_PARAM, response=CampaignDetail, tag="campaigns",
             summary="一个评议活动")
    def campaign(code: str) -> CampaignDetail:
        '''The description, in the document.'''
        return CampaignDetail(...)

The decorator records the path, method, summary, parameters (the path's, and
the `query` model's fields), the answer's model and the errors; the view gets
the query parsed (`query=` keyword; a bad value is a 400 naming it), returns
an instance of its model (or a ready `Response` whose body has that shape),
and the request commits once after it (reading may store a results cache).
Who may call it is its endpoint's entry in survey/policy.py (``api.<view
name>``), which the document also states; docs/api.md tells the whole way."""
from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, Response, current_app, request
from pydantic import BaseModel, ValidationError
from pydantic.json_schema import models_json_schema

from survey.api.schemas import CODE_PATTERN, ErrorDocument
from survey.errors import API_REASONS_EN, ERROR_WORDS, InvalidRequest, Problem
from survey.extensions import db
from survey.web import first_nul

View = TypeVar("View", bound=Callable[..., Any])
REF = "#/components/schemas/{model}"
SECURITY_SCHEME = "apiKey"
_ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")


@dataclass(frozen=True)
class PathParam:
    """A parameter in an operation's path: what it is, and its JSON Schema."""

    name: str
    description: str
    #: A value the docs offer to try (the demo campaign's, `flask demo`).
    example: str
    schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "string", "pattern": CODE_PATTERN})


CAMPAIGN_PARAM = PathParam("code", "评议活动代码", "2026")
UNIT_PARAM = PathParam("unit_code", "单位代码", "u01")


@dataclass(frozen=True)
class Operation:
    """One operation of the API, as its decorator declared it."""

    endpoint: str
    method: str
    rule: str
    summary: str
    description: str
    tag: str
    response: type[BaseModel]
    query: type[BaseModel] | None
    params: tuple[PathParam, ...]
    errors: tuple[int, ...]
    #: Response headers of a success: name -> description.
    headers: Mapping[str, str]
    #: The JSON request body's model (a POST's), and an example of it for the docs.
    body: type[BaseModel] | None = None
    body_example: Any = None

    def error_statuses(self, public: bool) -> list[int]:
        """Every error status the operation may answer: a key's (401, 403), a
        bad query parameter's or body's (400), an unknown code's (404) and its own."""
        statuses = set(self.errors)
        if not public:
            statuses |= {401, 403}
        if self.query is not None or self.body is not None:
            statuses.add(400)
        if self.params:
            statuses.add(404)
        return sorted(statuses)


class Api:
    """A blueprint whose views are operations of one OpenAPI document."""

    def __init__(self, name: str, url_prefix: str, *, title: str, version: str, description: str) -> None:
        self.bp = Blueprint(name, __name__, url_prefix=url_prefix)
        self.url_prefix = url_prefix
        self.info = {"title": title, "version": version, "description": description}
        self.operations: list[Operation] = []

    def get(self, rule: str, *params: PathParam, response: type[BaseModel], summary: str, tag: str,
            query: type[BaseModel] | None = None, errors: tuple[int, ...] = (),
            headers: Mapping[str, str] | None = None) -> Callable[[View], View]:
        """Declare a GET operation (see the module's docstring)."""
        return self._operation("GET", rule, params, response=response, summary=summary, tag=tag, query=query,
                               errors=errors, headers=headers or {})

    def post(self, rule: str, *params: PathParam, body: type[BaseModel], response: type[BaseModel], summary: str,
             tag: str, body_example: Any = None, errors: tuple[int, ...] = ()) -> Callable[[View], View]:
        """Declare a POST operation that takes a JSON body: the view gets it
        parsed as `body` (keyword ``body``; a bad body is a 400 naming each
        problem by its place, ``body.scores[2].score``)."""
        return self._operation("POST", rule, params, response=response, summary=summary, tag=tag, query=None,
                               errors=errors, headers={}, body=body, body_example=body_example)

    def _operation(self, method: str, rule: str, params: tuple[PathParam, ...], **options: Any) -> Callable[[View], View]:
        names = _ARGUMENT.findall(rule)
        if sorted(names) != sorted(p.name for p in params):
            raise TypeError(f"{rule}: declare a PathParam for each of {names}, and no other")

        def decorator(view: View) -> View:
            op = Operation(endpoint=f"{self.bp.name}.{view.__name__}", method=method, rule=rule,
                           description=inspect.getdoc(view) or "", params=params, **options)
            self.operations.append(op)

            @wraps(view)
            def handle(**kwargs: Any) -> Response:
                if op.query is not None:
                    kwargs["query"] = parse_query(op.query)
                if op.body is not None:
                    kwargs["body"] = parse_body(op.body)
                result = view(**kwargs)
                if not isinstance(result, Response):
                    if not isinstance(result, op.response):
                        raise TypeError(f"{op.endpoint} returned {type(result).__name__}, "
                                        f"not its declared {op.response.__name__}")
                    result = json_response(result)
                db.session.commit()
                return result

            self.bp.add_url_rule(rule, view.__name__, handle, methods=[method])
            return view

        return decorator

    # --- the document ----------------------------------------------------------------

    def openapi(self) -> dict[str, Any]:
        """The OpenAPI 3.1 document of every operation, with who may call it
        (survey/policy.py) and every error it may answer."""
        from survey.policy import ANYONE, POLICY

        models = sorted({op.response for op in self.operations} | {ErrorDocument}, key=lambda m: m.__name__)
        bodies = sorted({op.body for op in self.operations if op.body is not None}, key=lambda m: m.__name__)
        keys, top = models_json_schema([(m, "serialization") for m in models] + [(m, "validation") for m in bodies],
                                       ref_template=REF)
        paths: dict[str, dict[str, Any]] = {}
        statuses: set[int] = set()
        for op in self.operations:
            rule = POLICY.get(op.endpoint)
            public = rule is not None and ANYONE in rule.roles
            errors = op.error_statuses(public)
            statuses.update(errors)
            success: dict[str, Any] = {"description": "OK", "content": {
                "application/json": {"schema": {"$ref": REF.format(model=op.response.__name__)}}}}
            if op.headers:
                success["headers"] = {name: {"description": text, "schema": {"type": "string"}}
                                      for name, text in op.headers.items()}
            operation: dict[str, Any] = {
                "operationId": op.endpoint.split(".", 1)[1],
                "summary": op.summary,
                "description": "\n\n".join(filter(None, [op.description, _who(op)])),
                "tags": [op.tag],
                "parameters": [_path_parameter(p) for p in op.params] + _query_parameters(op.query),
                "responses": {"200": success,
                              **{str(s): {"$ref": f"#/components/responses/{ERROR_WORDS[s]}"} for s in errors}},
                "x-pingyi-policy": _policy_json(op.endpoint),
            }
            if op.body is not None:
                media: dict[str, Any] = {"schema": keys[(op.body, "validation")]}
                if op.body_example is not None:
                    media["example"] = op.body_example
                operation["requestBody"] = {"required": True, "content": {"application/json": media}}
            if public:
                operation["security"] = []
            path = self.url_prefix + _ARGUMENT.sub(r"{\1}", op.rule)
            paths.setdefault(path, {})[op.method.lower()] = operation
        return {
            "openapi": "3.1.0",
            "info": self.info,
            "tags": [{"name": t} for t in dict.fromkeys(op.tag for op in self.operations)],
            "paths": paths,
            "security": [{SECURITY_SCHEME: []}],
            "components": {
                "schemas": top.get("$defs", {}),
                "responses": {ERROR_WORDS[s]: _error_response(s) for s in sorted(statuses)},
                "securitySchemes": {SECURITY_SCHEME: {
                    "type": "http", "scheme": "bearer",
                    "description": "API 密钥：`Authorization: Bearer pyk_…`（`flask --app survey api-key create`）。"
                                   "不接受 Cookie。"}},
            },
        }


# --- requests and answers ------------------------------------------------------------


def json_response(model: BaseModel, status: int = 200) -> Response:
    """A model as the API's JSON answer: its fields in their declared order."""
    return current_app.response_class(model.model_dump_json(by_alias=True), status=status,
                                      mimetype="application/json")


#: What a refused value must be, in Chinese, by pydantic's error type.
_REASONS = {
    "int_parsing": "须为整数", "int_from_float": "须为整数", "int_type": "须为整数",
    "float_parsing": "须为数", "float_type": "须为数", "finite_number": "须为有限的数",
    "greater_than_equal": "不能小于 {ge}", "less_than_equal": "不能大于 {le}",
    "greater_than": "须大于 {gt}", "less_than": "须小于 {lt}",
    "string_type": "须为字符串", "string_too_short": "至少 {min_length} 个字符",
    "string_too_long": "最长 {max_length} 个字符", "string_pattern_mismatch": "格式不对",
    "bool_type": "须为 true 或 false", "bool_parsing": "须为 true 或 false",
    "list_type": "须为数组", "dict_type": "须为对象", "model_type": "须为对象", "model_attributes_type": "须为对象",
    "too_short": "至少 {min_length} 项", "too_long": "最多 {max_length} 项",
    "missing": "必须填写", "extra_forbidden": "不认识的字段", "literal_error": "须为 {expected} 之一",
    "enum": "须为 {expected} 之一", "json_invalid": "不是有效的 JSON（{error}）", "json_type": "须为 JSON 对象",
    "blank": "不能为空", "attribute_name": "属性名称不能为空，前后不能有空格",
    "attribute_column": "“{name}”是名单的列，不是属性",
}


def _reason(error: Any) -> str:
    """A pydantic error's reason in Chinese (100, not 100.0, for a bound of 100)."""
    def plain(value: Any) -> Any:
        if isinstance(value, float) and value.is_integer():
            return int(value)
        return value if isinstance(value, str | int | float) else str(value)

    return _REASONS.get(error["type"], "取值无效").format(**{k: plain(v) for k, v in error.get("ctx", {}).items()})


def parse_query(model: type[BaseModel]) -> BaseModel:
    """The request's query parameters as `model` (the first value of each;
    others are ignored), or a 400 naming every bad one."""
    data = {name: request.args[name] for name in model.model_fields if name in request.args}
    nul = [name for name, value in data.items() if "\x00" in value]
    if nul:  # no database column holds NUL (PostgreSQL refuses it even in a comparison)
        raise InvalidRequest([Problem(f"query.{name}", f"查询参数 {name}：不能含有控制字符 NUL（U+0000）",
                                      f"query parameter {name}: must not hold the NUL character (U+0000)")
                              for name in nul])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            name = ".".join(str(part) for part in error["loc"])
            reason = _reason(error)
            problems.append(Problem(f"query.{name}", f"查询参数 {name}：{reason}",
                                    f"query parameter {name}: {error['msg']}"))
        raise InvalidRequest(problems) from None


def parse_body(model: type[BaseModel]) -> BaseModel:
    """The request's JSON body as `model`, or a 400 naming every problem by
    its place in the body (``body.scores[2].score``; ``body`` for the whole)."""
    if request.mimetype != "application/json":
        raise InvalidRequest([Problem("body", "请求体须为 JSON（Content-Type: application/json）",
                                      "the request body must be JSON (Content-Type: application/json)")])
    try:
        parsed = model.model_validate_json(request.get_data())
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            where = body_path(error["loc"])
            reason = _reason(error)
            problems.append(Problem(where, f"请求体 {where}：{reason}", f"request body {where}: {error['msg']}"))
        raise InvalidRequest(problems) from None
    # No database column holds NUL (PostgreSQL refuses it): refused here, where it is, not as a 500 later.
    nul = first_nul(parsed.model_dump(), "body")
    if nul:
        raise InvalidRequest([Problem(nul, f"请求体 {nul}：不能含有控制字符 NUL（U+0000）",
                                      f"request body {nul}: must not hold the NUL character (U+0000)")])
    return parsed


def body_path(loc: tuple[int | str, ...] | list[int | str]) -> str:
    """A place in the body as the errors name it: ``body.evaluators[3].phone``."""
    out = "body"
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


# --- pieces of the document ------------------------------------------------------------


def _path_parameter(param: PathParam) -> dict[str, Any]:
    return {"name": param.name, "in": "path", "required": True, "description": param.description,
            "schema": dict(param.schema), "example": param.example}


def _query_parameters(model: type[BaseModel] | None) -> list[dict[str, Any]]:
    if model is None:
        return []
    schema = model.model_json_schema(mode="validation")
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema["properties"].items():
        prop = {k: v for k, v in prop.items() if k not in ("title", "description")}
        # An optional parameter is left out, never sent as null: document its value's type alone.
        branches = [b for b in prop.pop("anyOf", []) if b.get("type") != "null"]
        if branches:
            prop.update(branches[0])
        if prop.get("default", 0) is None:
            del prop["default"]
        parameters.append({"name": name, "in": "query", "required": name in required,
                           "description": schema["properties"][name].get("description", ""), "schema": prop})
    return parameters


def _error_response(status: int) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": f"{status} {API_REASONS_EN.get(status, '')} (pingyi-errors/1)",
        "content": {"application/json": {"schema": {"$ref": REF.format(model=ErrorDocument.__name__)}}},
    }
    if status == 401:
        response["headers"] = {"WWW-Authenticate": {"description": "Bearer", "schema": {"type": "string"}}}
    return response


def _policy_json(endpoint: str) -> dict[str, Any]:
    """The endpoint's entry in survey/policy.py, as the document states it."""
    from survey.policy import ADMIN, POLICY

    rule = POLICY.get(endpoint)
    if rule is None:
        return {"roles": []}
    out: dict[str, Any] = {"roles": sorted(rule.roles), "admin_reads": rule.admin_reads and ADMIN not in rule.roles}
    if rule.scope:
        out["scope"] = rule.scope
    return out


def _who(op: Operation) -> str:
    from survey.policy import ANYONE, POLICY

    rule = POLICY.get(op.endpoint)
    if rule is None:
        return "（未在 survey/policy.py 中声明：对所有人拒绝）"
    if ANYONE in rule.roles:
        return "无需密钥。"
    policy = _policy_json(op.endpoint)
    text = "可用角色：" + "、".join(policy["roles"])
    if policy["admin_reads"]:
        text += "；admin 可读"
    if rule.scope == "own_unit":
        text += "。单位联络员（liaison）的密钥只见本单位，且只在结果定稿之后"
    return text + "。"
