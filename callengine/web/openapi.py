"""The OpenAPI 3.1 document of the console, generated from its route table: what is served is
what is documented, roles included (`x-roles`)."""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from callengine import __version__
from callengine.web.auth import CSRF_HEADER, SESSION_COOKIE
from callengine.web.routes import Route

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}")
ERROR = {"type": "object", "required": ["error", "message"],
         "properties": {"error": {"type": "string", "description": "an id a program can test"},
                        "message": {"type": "string", "description": "what a person can read"}}}


def document(routes: Sequence[Route], title: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for route in sorted(routes, key=lambda r: (r.path, r.method)):
        path = _PLACEHOLDER.sub(r"{\1}", route.path)
        paths.setdefault(path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": __version__,
                 "description": "The 112 console's JSON API. Authenticate with the session cookie of "
                                "POST /login (writes then carry the session's CSRF token in the "
                                f"{CSRF_HEADER} header; GET /api/v1/me gives it) or with a personal "
                                "token (`callengine tokens create USER`) as `Authorization: Bearer`, "
                                "which needs no CSRF token. Errors are JSON {error, message}."},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": SESSION_COOKIE},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {"Error": ERROR},
        },
    }


def _operation(route: Route) -> dict[str, Any]:
    operation: dict[str, Any] = {"operationId": route.name, "summary": route.summary,
                                 "tags": list(route.tags) or [route.name.split(".")[0]]}
    params = [{"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
              for name in _PLACEHOLDER.findall(route.path)]
    params += [{"name": p.name, "in": "query", "required": False, "description": p.description,
                "schema": {"type": p.type}} for p in route.query]
    if route.writes and route.roles is not None:
        params.append({"name": CSRF_HEADER, "in": "header", "required": False,
                       "description": "the session's CSRF token: required with a session, not with a bearer token",
                       "schema": {"type": "string"}})
    if params:
        operation["parameters"] = params
    if route.body is not None:
        operation["requestBody"] = {"required": True, "content": {"application/json": {"schema": route.body}}}
    elif route.form:
        fields = {name: {"type": "string"} for name in route.form}
        operation["requestBody"] = {"required": True, "content": {"application/x-www-form-urlencoded": {
            "schema": {"type": "object", "properties": fields, "required": list(route.form)}}}}
    kind = "application/json" if route.api else "text/html"
    responses: dict[str, Any] = {"200": {"description": "OK", "content": {kind: {}}}}
    if route.roles is None:
        operation["security"] = []
    else:
        operation["security"] = [{"session": []}, {"bearer": []}]
        operation["x-roles"] = list(route.roles)
        error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        responses["401"] = {"description": "no session or token" + ("" if route.api else
                                                                    " (a page redirects to /login)"), **error}
        responses["403"] = {"description": "wrong role" + (", or no CSRF token with a session" if route.writes
                                                           else ""), **error}
    operation["responses"] = responses
    return operation
