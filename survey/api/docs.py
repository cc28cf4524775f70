"""The API's description: the OpenAPI 3.1 document generated from the
registry, and the browsable docs (Swagger UI, vendored under
static/vendor/swagger-ui/, started by static/api-docs.js: nothing inline,
nothing fetched from elsewhere). Neither needs a key."""
from __future__ import annotations

import json

from flask import Response, current_app, render_template, url_for
from flask.typing import ResponseReturnValue

from survey.api.v1 import api


@api.bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    document = json.dumps(api.openapi(), ensure_ascii=False, indent=1)
    response: Response = current_app.response_class(document, mimetype="application/json")
    return response


@api.bp.get("/docs")
def docs() -> ResponseReturnValue:
    return render_template("api/docs.html", spec_url=url_for("api.openapi"))
