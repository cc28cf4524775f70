"""The API's description: the OpenAPI 3.1 document generated from the
registry, and the browsable docs (Swagger UI, vendored under
static/vendor/swagger-ui/, started by static/api-docs.js: nothing inline,
nothing fetched from elsewhere). Neither needs a key."""
from __future__ import annotations

import json
from typing import Any

from flask import Response, current_app, render_template, url_for
from flask.typing import ResponseReturnValue

from survey.api.v1 import api
from survey.caches import Cache

#: The document as served, built once per process: building it takes some 55 ms
#: of CPU, and it needs no key. Keyed by all it is built from that can change
#: (the operations and their entries in survey/policy.py's table).
_DOCUMENTS: Cache[tuple[Any, ...], bytes] = Cache("api.openapi", 4)


@api.bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    from survey.policy import POLICY

    key = tuple((op.endpoint, op.method, POLICY.get(op.endpoint)) for op in api.operations)
    document = _DOCUMENTS.get(key)
    if document is None:
        document = _DOCUMENTS.put(key, json.dumps(api.openapi(), ensure_ascii=False, indent=1).encode("utf-8"))
    response: Response = current_app.response_class(document, mimetype="application/json")
    return response


@api.bp.get("/docs")
def docs() -> ResponseReturnValue:
    return render_template("api/docs.html", spec_url=url_for("api.openapi"))
