"""The one error hierarchy of convlens.

Every problem a user can cause is one of these; `webapp.server.problems` is the single place that
turns them into HTTP answers. The numeric core raises them and never imports FastAPI.

    ConvlensError
    ├── InvalidInput            422  a field breaks a rule (the message names the field)
    │   ├── Overflow            422  numbers so large that a result would be infinite
    │   ├── InvalidKernel       422  the kernel matrix is ragged, too large, NaN, ...
    │   ├── InvalidArithmetic   422  stride/padding/dilation that give an empty output, ...
    │   └── NothingDrawn        422  a blank drawing sent to the autoencoder
    ├── UnknownName             404  a preset or model name that does not exist
    ├── InvalidImage            422  bytes that do not decode as a complete image
    ├── UnsupportedImageFormat  415  a real image, but not in the allow-list
    ├── ImageTooLarge           413  over the pixel cap, decided from the header
    ├── RequestTooLarge         413  a body over the size cap
    ├── PhotoExpired            410  a photo key the server no longer holds (send the photo)
    ├── ServerBusy              503  the bounded work queue is full
    └── ModelUnavailable        503  a model that failed to load at start-up
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from webapp.translation import N_
from webapp.translation import gettext as _


class ConvlensError(Exception):
    """Base of every error convlens reports to a user.

    ``title`` is the problem's title (marked for the catalogue, translated where it is
    shown); ``message`` is one sentence, translated when the error is raised, in the
    language of the request being answered (`webapp.translation`).
    """

    status_code = 400
    title = N_("Convlens error")

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(ConvlensError):
    """A request field breaks one of the documented rules."""

    status_code = 422
    title = N_("Invalid input")


class InvalidKernel(InvalidInput):
    """The kernel weights are not a usable matrix."""

    title = N_("Invalid kernel")


class InvalidArithmetic(InvalidInput):
    """Stride, padding or dilation that cannot produce an output (the message shows the sum)."""

    title = N_("Invalid arithmetic")


class Overflow(InvalidInput):
    """Finite numbers whose products or sums leave the floating-point range (about 1.8e308,
    3.4e38 for photos), so the answer would hold infinities or NaN."""

    title = N_("Overflow")


class NothingDrawn(InvalidInput):
    """A drawing with no ink in it: there is no digit to rebuild."""

    title = N_("Nothing drawn")


_KINDS = (N_("kernel"), N_("bank"), N_("model"))
"""The kinds of names `UnknownName` reports (its ``kind``), for the catalogue."""


class UnknownName(ConvlensError):
    """A kernel preset or model name that convlens does not have."""

    status_code = 404
    title = N_("Unknown name")

    def __init__(self, kind: str, name: str, valid: Sequence[str], *, field: str) -> None:
        super().__init__(_(
            "Unknown %(kind)s %(name)s; valid names: %(valid)s.",
            kind=_(kind), name=repr(name), valid=", ".join(valid),
        ), field=field)
        self.valid = list(valid)


class InvalidImage(ConvlensError):
    """Bytes that are empty, truncated, corrupt or not an image at all."""

    status_code = 422
    title = N_("Invalid image")


class UnsupportedImageFormat(ConvlensError):
    """An image format outside the allow-list (PNG, JPEG, WebP, GIF, BMP)."""

    status_code = 415
    title = N_("Unsupported image format")


class ImageTooLarge(ConvlensError):
    """An image whose declared width x height is over the pixel cap."""

    status_code = 413
    title = N_("Image too large")


class RequestTooLarge(ConvlensError):
    """A request body over the size cap."""

    status_code = 413
    title = N_("Request too large")


class PhotoExpired(ConvlensError):
    """A photo key (``photo_key``) the server no longer holds: evicted, expired, or given
    by another server; the client sends the photo itself again."""

    status_code = 410
    title = N_("Photo expired")


class ServerBusy(ConvlensError):
    """The bounded work queue is full; the client should retry later."""

    status_code = 503
    title = N_("Server busy")

    def __init__(self, message: str, *, retry_after_seconds: int = 1) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class ModelUnavailable(ConvlensError):
    """A model that exists but could not be loaded at start-up."""

    status_code = 503
    title = N_("Model unavailable")


# --- pydantic's error list, in sentences ---------------------------------------------------

_LOCATIONS = ("body", "query", "form", "path", "header", "cookie")
_WHOLE_NUMBER_ERRORS = ("int_parsing", "int_type", "int_from_float", "int_parsing_size")
_NUMBER_ERRORS = ("float_parsing", "float_type", "finite_number")
_BOUNDS = {
    "greater_than_equal": ("ge", ">=", N_("a number >= %(bound)s"),
                           N_("a whole number >= %(bound)s")),
    "less_than_equal": ("le", "<=", N_("a number <= %(bound)s"), N_("a whole number <= %(bound)s")),
    "greater_than": ("gt", ">", N_("a number > %(bound)s"), N_("a whole number > %(bound)s")),
    "less_than": ("lt", "<", N_("a number < %(bound)s"), N_("a whole number < %(bound)s")),
}
"""pydantic's bound errors: the ``ctx`` key, the sign, the rule for a number and for a whole one."""


def field_errors(details: Iterable[Mapping[str, Any]]) -> list[InvalidInput]:
    """pydantic's error list (``ValidationError.errors()``, FastAPI's
    ``RequestValidationError.errors()``) as one `InvalidInput` per field, each a sentence
    that names the field and the rule it breaks, in the request's language.

    pydantic reports a union field once per member (``padding`` is a name or a number),
    so its errors are merged into one rule. An ``extra_forbidden`` error whose ``ctx``
    holds ``allowed`` (the model's field names) suggests the nearest one.

    >>> [e.message for e in field_errors([
    ...     {"type": "literal_error", "loc": ("padding", "literal"), "input": -3,
    ...      "ctx": {"expected": "'valid', 'same' or 'full'"}},
    ...     {"type": "greater_than_equal", "loc": ("padding", "int"), "input": -3,
    ...      "ctx": {"ge": 0}}])]
    ["padding must be 'valid', 'same', 'full' or a whole number >= 0, not -3."]
    >>> field_errors([{"type": "missing", "loc": ("body", "input"), "input": {}}])[0].message
    'input is required.'
    """
    by_field: dict[str, list[Mapping[str, Any]]] = {}
    for detail in details:
        by_field.setdefault(_field_of(detail.get("loc", ())), []).append(detail)
    return [InvalidInput(_sentence(field, found), field=field) for field, found in by_field.items()]


def _field_of(location: Iterable[Any]) -> str:
    """The request field an error is about (pydantic adds union tags after it)."""
    parts = [str(part) for part in location if part not in _LOCATIONS]
    return parts[0] if parts else "body"


def either(options: Sequence[str]) -> str:
    """``options`` as alternatives: "a, b or c" (in the request's language).

    >>> either(["'max'", "'average'"]), either(["a whole number"])
    ("'max' or 'average'", 'a whole number')
    """
    if len(options) < 2:
        return "".join(options)
    return _("%(first)s or %(last)s", first=", ".join(options[:-1]), last=options[-1])


def _sentence(field: str, details: list[Mapping[str, Any]]) -> str:
    kinds = {detail.get("type") for detail in details}
    if "missing" in kinds:
        return _("%(field)s is required.", field=field)
    if "extra_forbidden" in kinds:
        allowed: list[str] = next(
            (d["ctx"]["allowed"] for d in details if "allowed" in d.get("ctx", {})), []
        )
        nearest = difflib.get_close_matches(field, allowed, n=1)
        if nearest:
            return _("%(field)s is not an option of this request; did you mean %(nearest)s?",
                     field=field, nearest=nearest[0])
        return _("%(field)s is not an option of this request.", field=field)
    rules = [rule for detail in details for rule in _rules(detail)]
    if not rules:
        # pydantic's own words (English): the sentence around them is translated.
        messages = "; ".join(str(detail.get("msg", "")).rstrip(".") for detail in details)
        return _("%(field)s is invalid: %(reasons)s.", field=field,
                 reasons=messages[:1].lower() + messages[1:])
    unique = dict(rules)
    # "a whole number" and "a whole number >= 0" from one union: keep the precise one (the
    # rules are compared in English, the words of the one rule that every language shares).
    kept = [shown for rule, shown in unique.items()
            if not any(other != rule and other.startswith(rule) for other in unique)]
    wanted = either(kept)
    given = [detail["input"] for detail in details if "input" in detail]
    if given:
        return _("%(field)s must be %(wanted)s, not %(given)s.", field=field, wanted=wanted,
                 given=_shown(given[0]))
    return _("%(field)s must be %(wanted)s.", field=field, wanted=wanted)


def _rules(detail: Mapping[str, Any]) -> list[tuple[str, str]]:
    """What one error says the value may be, each rule in English (to compare) and as shown:
    ("'valid'", "'valid'"), ("a whole number >= 1", ...); nothing for an error this
    function does not know."""
    kind, context = detail.get("type"), detail.get("ctx", {})
    if kind == "literal_error":
        return [(name, name) for name in
                re.findall(r"'[^']*'|\S+?(?=,|$| or )", str(context.get("expected", "")))]
    if kind in _WHOLE_NUMBER_ERRORS:
        return [("a whole number", _("a whole number"))]
    if kind in _NUMBER_ERRORS:
        return [("a finite number", _("a finite number"))]
    if kind in _BOUNDS:
        key, sign, number, whole_number = _BOUNDS[kind]
        bound = context.get(key)
        if not isinstance(bound, int | float):
            return []
        noun, rule = ("a number", number) if isinstance(bound, float) else (
            "a whole number", whole_number)
        shown = format(bound, "g")
        return [(f"{noun} {sign} {shown}", _(rule, bound=shown))]
    if kind in ("bool_parsing", "bool_type"):
        return [("true or false", _("true or false"))]
    if kind == "string_type":
        return [("a string", _("a string"))]
    return []


def _shown(value: object, limit: int = 40) -> str:
    """A value as the user wrote it, cut short: a hostile field can be megabytes long. A
    form's numbers arrive as strings ("0"); they are shown as typed, unquoted.

    >>> _shown("0"), _shown("two"), _shown(-3), _shown(True), _shown("x" * 60)[-8:]
    ('0', "'two'", '-3', 'true', 'xxxxx...')
    """
    numeric = isinstance(value, str) and re.fullmatch(r"[-+]?\d+(\.\d*)?([eE][-+]?\d+)?", value)
    text = (value if numeric else repr(value)) if isinstance(value, str) else (
        re.sub(r"\s+", " ", str(value))
    )
    text = {"True": "true", "False": "false", "None": "null"}.get(text, text)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."
