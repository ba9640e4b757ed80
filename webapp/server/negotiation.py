"""Content negotiation: the one place that decides an answer's format.

A route computes its result and hands `respond` what it can make of it; `respond` picks
the representation the request asked for and builds it:

* a page driven by htmx says so with ``HX-Request`` and gets the **fragment** that changes;
* a browser navigating (a link, a form posted without JavaScript) says so with
  ``Sec-Fetch-Dest: document`` and gets the whole **page**;
* everyone else (programs, curl) gets what their ``Accept`` header prefers among the
  route's **media types**: JSON, or an image.

The problem handler (`webapp.server.problems`) answers errors through the same decision.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import Response

from webapp.server.templating import render

Result = TypeVar("Result")

FRAGMENT = "fragment"
"""The chosen representation is the htmx fragment."""
PAGE = "page"
"""The chosen representation is the whole page."""
JSON = "application/json"


@dataclass(frozen=True)
class Representations:
    """What one route can answer with: templates for people, media types for programs.

    ``media_types`` are in order of preference; the first is the default for a client that
    states none. A route without media types answers programs with its page.
    """

    fragment: str | None = None
    page: str | None = None
    media_types: tuple[str, ...] = ()

    def choose(self, request: Request) -> str:
        """`FRAGMENT`, `PAGE` or one of ``media_types``, as ``request`` asks."""
        if self.fragment is not None and wants_fragment(request):
            return FRAGMENT
        if self.page is not None and (not self.media_types or wants_page(request)):
            return PAGE
        if not self.media_types:
            return FRAGMENT
        return preferred_media_type(request.headers.get("accept"), list(self.media_types))

    @property
    def vary(self) -> str:
        """The request headers the choice depends on (for caches: ``Vary``)."""
        headers = ["Accept"]
        if self.fragment is not None:
            headers.append("HX-Request")
        if self.page is not None and self.media_types:
            headers.append("Sec-Fetch-Dest")
        return ", ".join(headers)


Runner = Callable[..., Awaitable[Any]]
"""Runs a function off the event loop: `webapp.server.workqueue.WorkQueue.run`."""


@dataclass(frozen=True)
class Renderers(Generic[Result]):
    """How to show a result in each representation; each takes the route's result.

    ``view`` gives the templates' context (fragment and page alike); ``data`` the JSON
    answer (a pydantic model, so its schema is the API's contract); ``image`` the bytes of
    the picture in a media type.
    """

    view: Callable[[Result], Mapping[str, Any]] | None = None
    data: Callable[[Result], BaseModel | Sequence[BaseModel] | dict[str, Any]] | None = None
    image: Callable[[Result, str], bytes] | None = None


async def respond(
    request: Request,
    representations: Representations,
    compute: Callable[[], Result],
    renderers: Renderers[Result],
    *,
    run: Runner | None = None,
    headers: Mapping[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """``compute()``'s result in the representation ``request`` asks for.

    With ``run`` (the work queue), computing the result and building its representation
    (pictures encoded, thousands of numbers serialised) happen in one trip off the event
    loop, so that neither stalls other requests (and /health).
    """
    choice = representations.choose(request)

    def build() -> Mapping[str, Any] | bytes:
        result = compute()
        if choice in (FRAGMENT, PAGE):
            assert renderers.view is not None
            return renderers.view(result)
        if choice == JSON:
            assert renderers.data is not None
            return encode_json(renderers.data(result))
        assert renderers.image is not None
        return renderers.image(result, choice)

    built = await run(build) if run is not None else build()
    return represent(request, representations, choice, built, status_code=status_code,
                     headers=headers)


def represent(
    request: Request,
    representations: Representations,
    choice: str,
    built: Mapping[str, Any] | bytes,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """The response for ``choice``: ``built`` is the templates' context for `FRAGMENT` and
    `PAGE`, else the body's bytes in the media type ``choice``."""
    all_headers = {"Vary": representations.vary, **(headers or {})}
    if isinstance(built, bytes):
        return Response(built, status_code=status_code, media_type=choice, headers=all_headers)
    template = representations.fragment if choice == FRAGMENT else representations.page
    assert template is not None
    return render(request, template, dict(built), status_code=status_code,
                  headers=all_headers)


def encode_json(data: BaseModel | Sequence[BaseModel] | dict[str, Any]) -> bytes:
    """Compact UTF-8 JSON. Pydantic models go through their own (fast, typed) serialiser,
    leaving out fields that are None: an answer names only what it has."""
    if isinstance(data, BaseModel):
        return data.model_dump_json(exclude_none=True).encode()
    if isinstance(data, dict):
        return orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS)
    return b"[" + b",".join(item.model_dump_json(exclude_none=True).encode()
                            for item in data) + b"]"


def wants_fragment(request: Request) -> bool:
    """Whether htmx made this request (it sends ``HX-Request: true``)."""
    return request.headers.get("hx-request", "").lower() == "true"


def preferred_media_type(accept: str | None, offers: list[str]) -> str:
    """The offer the ``Accept`` header likes best; the first offer when it has no preference.

    >>> preferred_media_type("application/json", ["image/png", "application/json"])
    'application/json'
    >>> preferred_media_type("image/*;q=0.5, */*;q=0.1", ["application/json", "image/png"])
    'image/png'
    >>> preferred_media_type(None, ["image/png", "application/json"])
    'image/png'
    """
    if not accept:
        return offers[0]
    best, best_quality = offers[0], -1.0
    for position, offer in enumerate(offers):
        quality = _quality(accept, offer)
        # Ties go to the earlier offer; position is only a tie-breaker.
        if quality > best_quality or (quality == best_quality and position == 0):
            best, best_quality = offer, quality
    return best if best_quality > 0 else offers[0]


def _quality(accept: str, offer: str) -> float:
    offer_type, _, offer_subtype = offer.partition("/")
    best = 0.0
    best_specificity = -1
    for item in accept.split(","):
        media_range, *parameters = (part.strip() for part in item.split(";"))
        range_type, _, range_subtype = media_range.lower().partition("/")
        if range_type not in ("*", offer_type) or range_subtype not in ("*", offer_subtype):
            continue
        specificity = (range_type != "*") + (range_subtype != "*")
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if specificity > best_specificity:
            best, best_specificity = quality, specificity
    return best


def wants_page(request: Request) -> bool:
    """Whether a browser is navigating (following a link, posting a form without
    JavaScript), so that the answer is shown as a page: it says so with
    ``Sec-Fetch-Dest: document`` and prefers ``text/html``. Programs keep their JSON."""
    if request.headers.get("sec-fetch-dest", "").lower() != "document":
        return False
    accept = request.headers.get("accept")
    return preferred_media_type(accept, ["application/json", "text/html"]) == "text/html"
