"""Content negotiation: one route answers JSON, an image or an HTML fragment.

A browser page driven by htmx says so with the ``HX-Request`` header and gets a fragment;
everyone else gets what their ``Accept`` header prefers among what the route offers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from starlette.requests import Request


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


def json_of(build: Callable[..., Any], *args: Any) -> bytes:
    """``build(*args)`` encoded as compact UTF-8 JSON.

    Heavy routes call this on the work queue: building an answer encodes pictures and
    serialises thousands of numbers, work that must not stall the event loop (and /health).
    orjson writes those numbers about ten times faster than the standard library.
    """
    return orjson.dumps(build(*args), option=orjson.OPT_NON_STR_KEYS)
