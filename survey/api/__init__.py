"""The versioned JSON API (/api/v1/): API keys, the registry of operations and
its OpenAPI 3.1 document, the browsable docs, and the resources. docs/api.md
explains it to its users and to the developer who adds an endpoint."""
from __future__ import annotations

from survey.api import (  # noqa: F401  (their views join the blueprint)
    ballots,
    carrying,
    docs,
    imports,
    opinions,
    outcomes,
    register,
    resources,
    rounds,
    sessions,
)
from survey.api.v1 import api

bp = api.bp

__all__ = ["api", "bp"]
