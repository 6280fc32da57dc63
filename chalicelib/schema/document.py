"""The OpenAPI 3.1 document, generated from the running app's routes on first request.

Generated, not hand-kept, because every part already has one source in the code: the
route table (methods, paths, path parameters, success status, which routes need a key)
is ``app.routes``; request bodies are the validators of :mod:`chalicelib.domain.schemas`
(translated by :mod:`.bodies`, so a new field or rule reaches the schema by itself);
response bodies are :mod:`.responses`. A hand-kept YAML file would be a second
copy of all three. What is left to say in words lives in :mod:`.operations`, and a test
fails when a route has no entry there or an entry has no route.

Built once per process, on the first request for it (not at import: cold start), and
serialised once per format and base URL.
"""
from __future__ import annotations

import json
import re
import threading
from typing import Any, Mapping

from chalicelib import errors
from chalicelib.domain import accounts, idempotency, pages
from chalicelib.domain.vocabulary import MAX_BODY_BYTES, MAX_LIST_BYTES
from chalicelib.schema import bodies, operations, types

OPENAPI_VERSION = "3.1.0"
API_VERSION = "1.0.0"
TITLE = "Temporal.ist public API"
METHODS = ("GET", "POST", "PATCH", "DELETE")

_LIST_LIMIT = f"{MAX_LIST_BYTES // 2 ** 20} MiB"
_BODY_LIMIT = f"{MAX_BODY_BYTES // 2 ** 20} MiB"

_DESCRIPTION = f"""\
Automate time tracking and invoicing: projects, sessions, clients, invoices and webhooks.

**Authentication.** Every operation except this document needs
`Authorization: Bearer tk_live_<id>_<secret>` (the scheme name is case-insensitive).
A missing, malformed, unknown or revoked key gets 401; a key whose user is not on the
Pro plan gets 403. **Scopes:** a `read` key may call GET (and HEAD/OPTIONS); POST, PATCH
and DELETE need a `write` key (403 otherwise). Each operation names its scope in
`x-scope` and in its description.

**Conventions.** JSON in and out; a body is parsed when `Content-Type` is
`application/json` or absent (another type: 415). Unknown and read-only body fields are
ignored. Strings are trimmed. Every path works with and without the trailing slash. An id
that is not a UUID, does not exist or is not visible to your key gives 404. A known path
with an unsupported method gives 405 with an `Allow` header. Timestamps are
`YYYY-MM-DDTHH:MM:SSZ` (UTC); money is a string with two decimals and accepts a string
or a number on input (scientific notation such as `"1e2"` is also accepted).

**Pages (extension).** Lists are complete by default. With `page_size` (1-1000) a list
answers at most that many items, still a bare array in the same order, plus
`Link: <next page>; rel="next"` while more remain (the next page's URL carries an opaque
`cursor` and the same filters). A complete list that would pass {_LIST_LIMIT} gets 400, asking
for pages. Request bodies are at most {_BODY_LIMIT} (413 beyond, whatever the method).

**Throttling.** Past the stage's request rate or burst, any operation answers 429 with
`Retry-After: 1`.

**Idempotency (extension).** Any POST may carry an `Idempotency-Key` (1-255 printable
ASCII). The first answer (2xx or 4xx) is kept for 24 hours per API key; a repeat with the
same method, path and body gets it again with `Idempotent-Replayed: true` and does
nothing else; a different request with the same key gets 400; a repeat while the first
is still running gets 409.
"""


def _detail_json(error: errors.ApiError) -> str:
    """An error's body as the API writes it (for the descriptions)."""
    return json.dumps(error.body())


def _ref(kind: str, name: str) -> dict:
    return {"$ref": f"#/components/{kind}/{name}"}


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _components() -> dict:
    schemas: dict[str, Any] = dict(operations.RESPONSE_SCHEMAS)
    for name, (validator, partial) in operations.REQUEST_SCHEMAS.items():
        body = bodies.body_schema(validator, partial=partial)
        for prop, property_schema in body["properties"].items():
            note = operations.REQUEST_PROPERTY_NOTES.get((name, prop), {})
            if "replace" in note:
                body["properties"][prop] = dict(note["replace"])
            elif "description" in note:
                described = property_schema.get("description")
                property_schema["description"] = note["description"] + (
                    f" {described}" if described else "")
        schemas[name] = body
    schemas["Detail"] = types.DETAIL
    schemas["FieldErrors"] = types.FIELD_ERRORS
    detail = _ref("schemas", "Detail")
    return {
        "securitySchemes": {"bearerAuth": {
            "type": "http", "scheme": "bearer", "bearerFormat": "tk_live_<id>_<secret>",
            "description": "An API key from Settings → API Keys (or the operator CLI).",
        }},
        "schemas": schemas,
        "headers": {
            "IdempotentReplayed": {
                "description": "`true` when this is the stored answer to an earlier request "
                               "with the same `Idempotency-Key`.",
                "schema": {"type": "string", "enum": ["true"]}},
            "WWWAuthenticate": {"required": True, "schema": {"type": "string", "const": "Bearer"}},
            "Allow": {"required": True, "description": "The methods the path supports.",
                      "schema": {"type": "string"}},
            "RetryAfter": {"required": True, "description": "Seconds to wait before retrying.",
                           "schema": {"type": "string", "pattern": "^[0-9]+$"}},
            "Link": {"description": ('With `page_size`, while more items remain: '
                                     '`<absolute URL of the next page>; rel="next"` (RFC 8288); '
                                     'the last page has none.'),
                     "schema": {"type": "string", "pattern": '^<[^>]+>; rel="next"$'}},
        },
        "parameters": {"PageSize": {
            "name": "page_size", "in": "query", "required": False,
            "description": (f"Pages (extension): at most this many items "
                            f"({pages.MIN_PAGE_SIZE}-{pages.MAX_PAGE_SIZE}), in the list's order; "
                            "the `Link` header names the next page. Without it the list is "
                            f"complete, unless it would pass {_LIST_LIMIT} (then 400, asking for "
                            "pages)."),
            "schema": {"type": "integer", "minimum": pages.MIN_PAGE_SIZE,
                       "maximum": pages.MAX_PAGE_SIZE}},
            "Cursor": {
            "name": "cursor", "in": "query", "required": False,
            "description": ("Opaque: copied from the `Link` of the previous page, for the same "
                            "list, filters and API key (else 404 "
                            f'`{{"detail": "{pages.INVALID_CURSOR}"}}`); without `page_size` '
                            "the page has the size the cursor was issued with."),
            "schema": {"type": "string"}},
            "IdempotencyKey": {
            "name": idempotency.HEADER, "in": "header", "required": False,
            "description": ("Makes a retry safe: the first answer (2xx or 4xx) is stored for 24 "
                            "hours and replayed to repeats of the same request (extension)."),
            "schema": {"type": "string", "minLength": 1, "maxLength": idempotency.MAX_LENGTH,
                       "pattern": "^[!-~](?:[ -~]*[!-~])?$"},
        }},
        "responses": {
            "ValidationFailed": {
                "description": ("Validation failed: a body keyed by field name (every failing "
                                "field, header or query parameter), or a `detail` (invalid "
                                "JSON, an `Idempotency-Key` reused for a different request: "
                                f'`{{"detail": "{idempotency.DIFFERENT_REQUEST}"}}`, a '
                                "state that forbids the action, or a complete list over "
                                f"{_LIST_LIMIT}: "
                                f'`{{"detail": "{pages.LIST_TOO_LARGE}"}}`).'),
                "content": _json({"oneOf": [detail, _ref("schemas", "FieldErrors")]})},
            "Unauthorized": {
                "description": "Missing, malformed, invalid or revoked API key: "
                               f'`{{"detail": "{errors.NotAuthenticated.default_detail}"}}`.',
                "headers": {"WWW-Authenticate": _ref("headers", "WWWAuthenticate")},
                "content": _json(detail)},
            "NotFound": {"description": 'No such resource, or not visible to your key: '
                                        f'`{{"detail": "{errors.NotFound.default_detail}"}}`; '
                                        f'or a cursor not issued for this list and key: '
                                        f'`{{"detail": "{pages.INVALID_CURSOR}"}}`.',
                         "content": _json(detail)},
            "MethodNotAllowed": {
                "description": ('The path exists but not with this method: '
                                f'`{_detail_json(errors.MethodNotAllowed("PUT", []))}`. Any '
                                'path of this document answers so for the methods it does not list.'),
                "headers": {"Allow": _ref("headers", "Allow")},
                "content": _json(detail)},
            "IdempotencyInProgress": {
                "description": ("A request with this `Idempotency-Key` is still running: "
                                f'`{{"detail": "{idempotency.IN_PROGRESS}"}}`.'),
                "content": _json(detail)},
            "PayloadTooLarge": {
                "description": (f"A body over {_BODY_LIMIT} ({MAX_BODY_BYTES:,} bytes); "
                                "nothing is done: "
                                f"`{_detail_json(errors.PayloadTooLarge())}`."),
                "content": _json(detail)},
            "Throttled": {
                "description": ("Over the stage's request rate or burst (API Gateway answers "
                                "before the API runs); retry after `Retry-After` seconds: "
                                f"`{_detail_json(errors.Throttled())}`."),
                "headers": {"Retry-After": _ref("headers", "RetryAfter")},
                "content": _json(detail)},
            "ServiceBusy": {
                "description": ("The write kept losing races with concurrent writes of the same "
                                "data (e.g. invoices numbered at once in one organisation); "
                                "nothing was changed and a retry succeeds: "
                                f"`{_detail_json(errors.ServiceBusy())}`."),
                "headers": {"Retry-After": _ref("headers", "RetryAfter")},
                "content": _json(detail)},
            "UnsupportedMediaType": {
                "description": "The body is not JSON: "
                               f"`{_detail_json(errors.UnsupportedMediaType('text/plain'))}`.",
                "content": _json(detail)},
        },
    }


def _doc_path(route_path: str, prefix: str) -> str:
    """``/api/v1/projects/{project_id}`` → ``/projects/{project_id}/`` (as the reference writes it)."""
    path = route_path[len(prefix):] if route_path.startswith(prefix) else route_path
    return path if "." in path.rsplit("/", 1)[-1] else path + "/"


def _forbidden(op: operations.Operation, scope: str) -> dict:
    reasons = [f'the user is not on the Pro plan (`"{accounts.PLAN_DENIED}"`)']
    if scope == operations.WRITE_SCOPE:
        reasons.append("the key has read scope")
    if op.forbidden:
        reasons.append(f'`"{op.forbidden}"`')
    return {"description": "Forbidden: " + "; or ".join(reasons) + ".",
            "content": _json(_ref("schemas", "Detail"))}


def _operation(view_name: str, method: str, route: Any, path_params: list[str]) -> dict:
    op = operations.OPERATIONS[view_name]
    public = route.authorizer is None
    scope = operations.READ_SCOPE if method == "GET" else operations.WRITE_SCOPE
    status = str(getattr(route.view_function, "success_status", 200))
    description = op.description
    if not public:
        description += f"\n\n**Scope:** `{scope}`."
    result: dict[str, Any] = {
        "operationId": view_name, "tags": [op.tag], "summary": op.summary,
        "description": description,
    }
    parameters: list[dict] = [
        {"name": name, "in": "path", "required": True, "description": "The resource's UUID.",
         "schema": {"type": "string", "format": "uuid"}} for name in path_params]
    parameters += [{"name": q.name, "in": "query", "required": False,
                    "description": q.description, "schema": q.schema} for q in op.query]
    if op.many:
        parameters += [_ref("parameters", "PageSize"), _ref("parameters", "Cursor")]
    if method == "POST":
        parameters.append(_ref("parameters", "IdempotencyKey"))
    if parameters:
        result["parameters"] = parameters
    if op.body:
        body: dict[str, Any] = {"schema": _ref("schemas", op.body)}
        if op.body_example:
            body["example"] = op.body_example
        _, partial = operations.REQUEST_SCHEMAS[op.body]
        result["requestBody"] = {"required": not partial,
                                 "content": {"application/json": body}}

    responses: dict[str, Any] = {}
    success: dict[str, Any] = {"description": _success_text(status)}
    if op.response_schema is not None:
        success["content"] = _json(op.response_schema)
    elif op.response is not None:
        item = _ref("schemas", op.response)
        success["content"] = _json({"type": "array", "items": item} if op.many else item)
    elif op.media_types:
        success["content"] = {media: {"schema": {"type": "object"}} for media in op.media_types}
    if method == "POST":
        success["headers"] = {"Idempotent-Replayed": _ref("headers", "IdempotentReplayed")}
    if op.many:
        success["headers"] = {"Link": _ref("headers", "Link")}
    if op.links:
        success["links"] = {name: {"operationId": target,
                                   "parameters": {param: "$response.body#/id"},
                                   "description": f"The created resource's `id` as `{param}`."}
                            for name, (target, param) in op.links.items()}
    responses[status] = success
    if op.bad_request:
        responses["400"] = {
            "description": f'`{{"detail": "{op.bad_request}"}}`, or a field error as for any '
                           "request (e.g. a malformed `Idempotency-Key`).",
            "content": _json({"oneOf": [_ref("schemas", "Detail"), _ref("schemas", "FieldErrors")]})}
    elif op.body or op.query or op.many or method == "POST":
        responses["400"] = _ref("responses", "ValidationFailed")
    if not public:
        responses["401"] = _ref("responses", "Unauthorized")
        responses["403"] = _forbidden(op, scope)
        result["x-scope"] = scope
    else:
        result["security"] = []
    if path_params or op.many:
        responses["404"] = _ref("responses", "NotFound")
    responses["413"] = _ref("responses", "PayloadTooLarge")  # a body on any method
    responses["429"] = _ref("responses", "Throttled")
    if method == "POST":
        responses["409"] = _ref("responses", "IdempotencyInProgress")
    if op.body:
        responses["415"] = _ref("responses", "UnsupportedMediaType")
    if op.busy:
        responses["503"] = _ref("responses", "ServiceBusy")
    result["responses"] = dict(sorted(responses.items()))
    return result


def _success_text(status: str) -> str:
    return {"200": "OK.", "201": "Created.", "202": "Accepted: queued for delivery.",
            "204": "Deleted; no body."}.get(status, "OK.")


def build(routes: Mapping[tuple[str, str], Any], prefix: str) -> dict:
    """The document of ``routes`` ((method, route path) → Chalice route entry: the routes of
    the contract, chosen by the API) with paths relative to ``prefix``, e.g. ``/api/v1``."""
    paths: dict[str, dict] = {}
    missing = sorted(r.view_name for r in routes.values()
                     if r.view_name not in operations.OPERATIONS)
    if missing:
        raise LookupError(f"routes without a description: {', '.join(missing)}")
    order = list(operations.OPERATIONS)  # the reference's order: identity, projects, ...
    for (method, route_path), route in sorted(routes.items(),
                                              key=lambda item: order.index(item[1].view_name)):
        path_params = re.findall(r"{(\w+)}", route_path)
        paths.setdefault(_doc_path(route_path, prefix), {})[method.lower()] = _operation(
            route.view_name, method, route, path_params)
    for path_item in paths.values():
        ordered = sorted(path_item.items(), key=lambda item: METHODS.index(item[0].upper()))
        path_item.clear()
        path_item.update(ordered)
    tags = []
    for op in operations.OPERATIONS.values():
        if op.tag not in tags:
            tags.append(op.tag)
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": TITLE, "version": API_VERSION, "description": _DESCRIPTION},
        "servers": [{"url": prefix}],
        "security": [{"bearerAuth": []}],
        "tags": [{"name": tag} for tag in tags],
        "paths": paths,
        "components": _components(),
    }


class DocumentCache:
    """One document per process; its JSON and YAML per base URL (the stage may prefix it).

    The renderings are kept for the few most recently used bases only, so no run of
    requests can grow it.
    """

    MAX_RENDERED = 8  # (base, format) pairs; a deployment sees one or two bases

    def __init__(self) -> None:
        self._document: dict | None = None
        self._rendered: dict[tuple[str, str], str] = {}  # oldest first
        self._lock = threading.Lock()

    def document(self, routes: Mapping[tuple[str, str], Any], prefix: str) -> dict:
        if self._document is None:
            self._document = build(routes, prefix)
        return self._document

    def render(self, routes: Mapping[tuple[str, str], Any], prefix: str, base: str,
               fmt: str) -> str:
        key = (base, fmt)
        with self._lock:
            text = self._rendered.pop(key, None)
            if text is not None:
                self._rendered[key] = text  # now the most recent
                return text
        document = {**self.document(routes, prefix), "servers": [{"url": base}]}
        document = json.loads(json.dumps(document))  # no shared objects: no YAML anchors
        if fmt == "json":
            text = json.dumps(document, indent=2, ensure_ascii=False)
        else:
            import yaml  # only this route needs it
            text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
        with self._lock:
            self._rendered[key] = self._rendered.pop(key, text)
            while len(self._rendered) > self.MAX_RENDERED:
                del self._rendered[next(iter(self._rendered))]
            return self._rendered[key]


CACHE = DocumentCache()
