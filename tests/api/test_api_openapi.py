"""/api/v1/openapi.json is a valid OpenAPI 3.1 document generated from the
code: every API route is in it, with its policy entry, its parameters and
every error it may answer; and the registry refuses a half-declared operation."""
from __future__ import annotations

from typing import Any, get_args

import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator, validate

from survey import policy
from survey.api.registry import Api, PathParam
from survey.api.schemas import ClassCode, ErrorDocument, Status
from survey.api.v1 import api
from survey.errors import ERROR_WORDS
from survey.models.lifecycle import Status as LifecycleStatus
from survey.models.outcome import CLASSES


@pytest.fixture
def document(client) -> dict[str, Any]:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    doc: dict[str, Any] = response.get_json()
    return doc


def test_the_document_is_valid_openapi_3_1(document) -> None:
    assert document["openapi"] == "3.1.0"
    validate(document, cls=OpenAPIV31SpecValidator)


def test_every_api_route_is_an_operation_of_the_document(app, document) -> None:
    routes = {(rule.rule.replace("<", "{").replace(">", "}"), rule.endpoint) for rule in app.url_map.iter_rules()
              if rule.rule.startswith("/api/v1/") and rule.endpoint not in ("api.openapi", "api.docs")}
    operations = {(path, "api." + op["operationId"]) for path, item in document["paths"].items()
                  for op in item.values()}
    assert operations == routes
    assert len(operations) == len(api.operations) >= 16


def test_each_operation_states_its_policy_and_every_error(document) -> None:
    for path, item in document["paths"].items():
        for op in item.values():
            endpoint = "api." + op["operationId"]
            rule = policy.POLICY[endpoint]  # declared, or the test of the table fails too
            assert op["x-pingyi-policy"]["roles"] == sorted(rule.roles), endpoint
            statuses = {int(s) for s in op["responses"] if s != "200"}
            assert {401, 403} <= statuses, endpoint  # every operation needs a key
            assert (404 in statuses) == ("{" in path), endpoint
            assert (400 in statuses) == (any(p["in"] == "query" for p in op["parameters"])
                                         or "requestBody" in op), endpoint
            for status in statuses:
                ref = op["responses"][str(status)]["$ref"]
                assert ref == f"#/components/responses/{ERROR_WORDS[status]}"
            assert op["summary"] and op["description"]
    errors = document["components"]["responses"]
    assert errors["unauthorized"]["headers"]["WWW-Authenticate"]
    schema = errors["not_found"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/ErrorDocument"}
    error_schema = document["components"]["schemas"]["ErrorDocument"]
    assert set(error_schema["required"]) == {"format", "code", "errors"}
    assert error_schema["properties"]["format"]["const"] == "pingyi-errors/1"
    assert document["security"] == [{"apiKey": []}]
    assert document["components"]["securitySchemes"]["apiKey"]["scheme"] == "bearer"


def test_lists_document_their_paging(document) -> None:
    listing = document["paths"]["/api/v1/campaigns"]["get"]
    assert {p["name"]: p["schema"] for p in listing["parameters"]} == {
        "limit": {"type": "integer", "minimum": 1, "maximum": 200, "default": 50},
        "cursor": {"type": "string", "pattern": "^o[0-9]{1,9}$"},
    }
    page = document["components"]["schemas"]["CampaignPage"]
    assert set(page["required"]) == {"items", "limit", "next_cursor"}


def test_writes_document_their_json_body_with_a_valid_example(document) -> None:
    from survey.policy import POLICY

    writes = {path: item["post"] for path, item in document["paths"].items() if "post" in item}
    assert sorted(writes) == [
        "/api/v1/campaigns/{code}/consequence-rules",
        "/api/v1/campaigns/{code}/consequences/{consequence_id}/assign",
        "/api/v1/campaigns/{code}/consequences/{consequence_id}/done",
        "/api/v1/campaigns/{code}/follow-ups/{follow_up_id}/findings",
        "/api/v1/campaigns/{code}/honour-rule",
        "/api/v1/campaigns/{code}/honours/{unit_code}",
        "/api/v1/campaigns/{code}/objective-scores", "/api/v1/campaigns/{code}/roster",
        "/api/v1/rounds/{code}/publish"]
    models = {op.endpoint: op.body for op in api.operations if op.body is not None}
    for op in writes.values():
        body = op["requestBody"]
        assert body["required"] is True and list(body["content"]) == ["application/json"]
        media = body["content"]["application/json"]
        name = media["schema"]["$ref"].rsplit("/", 1)[1]
        schema = document["components"]["schemas"][name]
        assert schema["additionalProperties"] is False
        # The example is a body the API takes (it is what the docs page offers to try).
        models["api." + op["operationId"]].model_validate(media["example"])
        # a write is never open to every reader: the organizer's imports, the committee's and the office's acts
        roles = op["x-pingyi-policy"]["roles"]
        assert roles == sorted(POLICY["api." + op["operationId"]].roles) and "auditor" not in roles


def test_the_schemas_enumerate_what_the_app_knows() -> None:
    assert get_args(ClassCode) == CLASSES
    assert get_args(Status) == tuple(s.value for s in LifecycleStatus)
    from survey.api.schemas import Channel, ErrorCode
    from survey.models.distribution import CHANNELS

    assert get_args(Channel) == CHANNELS  # a batch's channel, as the batches list answers it

    assert set(ERROR_WORDS.values()) <= set(get_args(ErrorCode))


def test_an_operation_declares_each_path_parameter() -> None:
    registry = Api("probe", "/probe", title="t", version="0", description="")
    with pytest.raises(TypeError, match="PathParam"):
        registry.get("/things/<code>", response=ErrorDocument, summary="s", tag="t")
    with pytest.raises(TypeError, match="PathParam"):
        registry.get("/things", PathParam("code", "d", "x"), response=ErrorDocument, summary="s", tag="t")


def test_the_docs_page_serves_vendored_files_under_the_csp(client) -> None:
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "<script>" not in html and "/static/vendor/swagger-ui/swagger-ui-bundle.js" in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    for path in ("vendor/swagger-ui/swagger-ui-bundle.js", "vendor/swagger-ui/swagger-ui.css",
                 "vendor/swagger-ui/LICENSE", "api-docs.js"):
        response = client.get(f"/static/{path}")
        assert response.status_code == 200, path
        response.close()


def test_the_document_is_built_once_and_again_when_a_policy_entry_changes(client, monkeypatch) -> None:
    built: list[int] = []
    real = api.openapi
    monkeypatch.setattr(api, "openapi", lambda: built.append(1) or real())
    first = client.get("/api/v1/openapi.json").get_data()
    assert client.get("/api/v1/openapi.json").get_data() == first and len(built) <= 1  # some 55 ms each, keyless
    monkeypatch.setitem(policy.POLICY, "api.ballots", policy.ORGANIZE)
    changed = client.get("/api/v1/openapi.json").get_json()
    assert changed["paths"]["/api/v1/campaigns/{code}/ballots"]["get"]["x-pingyi-policy"]["roles"] == ["organizer"]
