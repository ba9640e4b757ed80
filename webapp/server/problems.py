"""Problems: the one place where errors become HTTP answers.

Every error is an RFC 9457 ``application/problem+json`` document::

    {"type": "urn:convlens:problem:invalid-kernel", "title": "Invalid kernel",
     "status": 422, "detail": "weights is ragged: row 0 has 3 values but row 1 has 2; ...",
     "field": "weights"}

Validation errors add ``errors`` (one per field); a full queue adds ``Retry-After``.

The same problem reaches a person in a page, not as JSON:

* a request made by htmx (``HX-Request``) gets ``templates/partials/error.html`` with the
  same status, and headers telling htmx to swap it into the slot next to the field at
  fault (``#error-<field>`` in the form that asked, else the form's ``.form-problem``
  slot, else the page's ``#problem``);
* a browser navigating (a form posted without JavaScript, a mistyped address) gets a whole
  page (`webapp.server.templating.wants_page`).
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Scope

from webapp.errors import ConvlensError, InvalidInput, ServerBusy, field_errors
from webapp.server.negotiation import FRAGMENT, PAGE, Representations, represent
from webapp.translation import N_
from webapp.translation import gettext as _

logger = logging.getLogger("convlens")

PROBLEM_MEDIA_TYPE = "application/problem+json"


HTTP_PHRASES = frozenset({
    N_("Bad Request"), N_("Forbidden"), N_("Not Found"), N_("Method Not Allowed"),
    N_("Not Acceptable"), N_("Request Entity Too Large"), N_("Unsupported Media Type"),
    N_("Unprocessable Entity"), N_("Too Many Requests"), N_("Internal Server Error"),
    N_("Service Unavailable"),
})
"""The HTTP reason phrases a routing error (Starlette's 404, 405, ...) may carry, for the
catalogue: the title, and the detail when it says no more. Its ``type`` keeps the English."""


def _phrase(text: str) -> str:
    """An HTTP reason phrase in the request's language (unknown ones stay as they are)."""
    return _(text) if text in HTTP_PHRASES else text


def _slug(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


class FieldError(BaseModel):
    """One field's problem in a validation error."""

    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details; ``field`` names the request field at fault."""

    type: str = Field(description="A URN naming the kind of problem.")
    title: str
    status: int
    detail: str = Field(description="One sentence saying what is wrong and how to fix it.")
    field: str | None = None
    errors: list[FieldError] | None = Field(None, description="Every field at fault.")


PROBLEM_REFERENCE = {"$ref": "#/components/schemas/Problem"}
"""Where operations find the problem schema: once, under ``components/schemas``."""

# Documented on every operation (FastAPI's own 422 schema does not describe these bodies).
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_REFERENCE}},
    }
    for status, description in [
        (400, "A malformed request body (e.g. broken multipart data)."),
        (404, "An unknown kernel preset or model; the answer lists the valid names."),
        (410, "A photo_key the server no longer holds: send the image again."),
        (413, "A body or an image over the limits."),
        (415, "An image format outside PNG, JPEG, WebP, GIF and BMP."),
        (422, "A field breaks a rule; the answer names it."),
        (503, "Busy (see Retry-After), too slow, or a model that failed to load."),
    ]
}


def problem_body(
    status: int, title: str, detail: str, *, code: str, field: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:convlens:problem:{code}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if field is not None:
        body["field"] = field
    if errors is not None:
        body["errors"] = errors
    return body


def problem_response(error: ConvlensError, scope: Scope | None = None) -> Response:
    """The answer for a convlens error (``scope`` tells whether htmx asked)."""
    code = _slug(type(error).__name__)
    # The title in the request's language; the type (from the class name) never changes.
    title = _(error.title)
    headers: dict[str, str] = {}
    if isinstance(error, ServerBusy):
        headers["Retry-After"] = str(error.retry_after_seconds)
    body = problem_body(error.status_code, title, error.message, code=code, field=error.field)
    return _answer(body, scope, headers)


PROBLEM_REPRESENTATIONS = Representations(
    fragment="partials/error.html", page="error.html", media_types=(PROBLEM_MEDIA_TYPE,)
)
"""A problem as people and programs see it (`webapp.server.negotiation` chooses)."""


def _answer(
    body: dict[str, Any], scope: Scope | None, headers: dict[str, str] | None = None
) -> Response:
    """The problem as JSON, or as HTML for htmx and for browsers asking for a page."""
    headers = dict(headers or {})
    if scope is None or scope.get("app") is None:
        # Before routing (the body-size limit): no app to render a page with.
        return Response(orjson.dumps(body), status_code=body["status"], headers=headers,
                        media_type=PROBLEM_MEDIA_TYPE)
    request = Request(scope)
    choice = PROBLEM_REPRESENTATIONS.choose(request)
    if choice == FRAGMENT:
        headers["HX-Retarget"] = _error_slot(body.get("field"))
        headers["HX-Reswap"] = "innerHTML"
    built = {"problem": body} if choice in (FRAGMENT, PAGE) else orjson.dumps(body)
    return represent(request, PROBLEM_REPRESENTATIONS, choice, built,
                     status_code=body["status"], headers=headers)


def _error_slot(field: object) -> str:
    """Where htmx puts the problem: the field's slot in the asking form, else a general one.

    htmx resolves each comma-separated part in order ("find" looks inside the element that
    made the request) and takes the first that exists; only safe field names become ids.

    >>> _error_slot("padding")
    'find #error-padding, find .form-problem, #problem'
    >>> _error_slot("a b")
    'find .form-problem, #problem'
    """
    fallback = "find .form-problem, #problem"
    if isinstance(field, str) and re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", field):
        return f"find #error-{field}, {fallback}"
    return fallback


async def _convlens_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ConvlensError)
    return problem_response(error, request.scope)


async def _validation_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    # One sentence per field, naming it and its rule (`webapp.errors.field_errors`).
    invalid = field_errors(error.errors())
    errors = [{"field": item.field, "message": item.message} for item in invalid]
    detail = " ".join(item.message for item in invalid)
    first = invalid[0].field if invalid else None
    body = problem_body(422, _(InvalidInput.title), detail, code="invalid-input", field=first,
                        errors=errors)
    return _answer(body, request.scope)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    detail = error.detail if isinstance(error.detail, str) else str(error.detail)
    phrase = HTTPStatus(error.status_code).phrase
    body = problem_body(
        error.status_code, _phrase(phrase), _phrase(detail),
        code=phrase.lower().replace(" ", "-"),
    )
    return _answer(body, request.scope, dict(error.headers or {}))


async def _client_disconnect(request: Request, error: Exception) -> Response:
    # The client is gone; nobody will read this answer, and it is not a server error.
    logger.info("client disconnected during %s %s", request.method, request.url.path)
    return Response(status_code=400)


def install_problem_handlers(app: FastAPI) -> None:
    """Route every error type through this module."""
    app.add_exception_handler(ConvlensError, _convlens_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(ClientDisconnect, _client_disconnect)
