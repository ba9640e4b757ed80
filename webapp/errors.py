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


class ConvlensError(Exception):
    """Base of every error convlens reports to a user."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class InvalidInput(ConvlensError):
    """A request field breaks one of the documented rules."""

    status_code = 422


class InvalidKernel(InvalidInput):
    """The kernel weights are not a usable matrix."""


class InvalidArithmetic(InvalidInput):
    """Stride, padding or dilation that cannot produce an output (the message shows the sum)."""


class Overflow(InvalidInput):
    """Finite numbers whose products or sums leave the floating-point range (about 1.8e308,
    3.4e38 for photos), so the answer would hold infinities or NaN."""


class NothingDrawn(InvalidInput):
    """A drawing with no ink in it: there is no digit to rebuild."""


class UnknownName(ConvlensError):
    """A kernel preset or model name that convlens does not have."""

    status_code = 404

    def __init__(self, kind: str, name: str, valid: Sequence[str], *, field: str) -> None:
        listed = ", ".join(valid)
        super().__init__(f"Unknown {kind} {name!r}; valid names: {listed}.", field=field)
        self.valid = list(valid)


class InvalidImage(ConvlensError):
    """Bytes that are empty, truncated, corrupt or not an image at all."""

    status_code = 422


class UnsupportedImageFormat(ConvlensError):
    """An image format outside the allow-list (PNG, JPEG, WebP, GIF, BMP)."""

    status_code = 415


class ImageTooLarge(ConvlensError):
    """An image whose declared width x height is over the pixel cap."""

    status_code = 413


class RequestTooLarge(ConvlensError):
    """A request body over the size cap."""

    status_code = 413


class PhotoExpired(ConvlensError):
    """A photo key (``photo_key``) the server no longer holds: evicted, expired, or given
    by another server; the client sends the photo itself again."""

    status_code = 410


class ServerBusy(ConvlensError):
    """The bounded work queue is full; the client should retry later."""

    status_code = 503

    def __init__(self, message: str, *, retry_after_seconds: int = 1) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class ModelUnavailable(ConvlensError):
    """A model that exists but could not be loaded at start-up."""

    status_code = 503


# --- pydantic's error list, in sentences ---------------------------------------------------

_LOCATIONS = ("body", "query", "form", "path", "header", "cookie")
_WHOLE_NUMBER_ERRORS = ("int_parsing", "int_type", "int_from_float", "int_parsing_size")
_NUMBER_ERRORS = ("float_parsing", "float_type", "finite_number")
_BOUNDS = {"greater_than_equal": ("ge", ">="), "less_than_equal": ("le", "<="),
           "greater_than": ("gt", ">"), "less_than": ("lt", "<")}


def field_errors(details: Iterable[Mapping[str, Any]]) -> list[InvalidInput]:
    """pydantic's error list (``ValidationError.errors()``, FastAPI's
    ``RequestValidationError.errors()``) as one `InvalidInput` per field, each a sentence
    that names the field and the rule it breaks.

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


def _sentence(field: str, details: list[Mapping[str, Any]]) -> str:
    kinds = {detail.get("type") for detail in details}
    if "missing" in kinds:
        return f"{field} is required."
    if "extra_forbidden" in kinds:
        allowed: list[str] = next(
            (d["ctx"]["allowed"] for d in details if "allowed" in d.get("ctx", {})), []
        )
        nearest = difflib.get_close_matches(field, allowed, n=1)
        hint = f"; did you mean {nearest[0]}?" if nearest else "."
        return f"{field} is not an option of this request{hint}"
    rules = [rule for detail in details for rule in _rules(detail)]
    if not rules:
        messages = "; ".join(str(detail.get("msg", "")).rstrip(".") for detail in details)
        return f"{field} is invalid: {messages[:1].lower()}{messages[1:]}."
    unique = list(dict.fromkeys(rules))
    # "a whole number" and "a whole number >= 0" from one union: keep the precise one.
    unique = [rule for rule in unique if not any(o != rule and o.startswith(rule) for o in unique)]
    wanted = unique[0] if len(unique) == 1 else f"{', '.join(unique[:-1])} or {unique[-1]}"
    given = [detail["input"] for detail in details if "input" in detail]
    return f"{field} must be {wanted}, not {_shown(given[0])}." if given else (
        f"{field} must be {wanted}."
    )


def _rules(detail: Mapping[str, Any]) -> list[str]:
    """What one error says the value may be: ["'valid'", "'same'", "'full'"], ["a whole
    number >= 1"], ...; nothing for an error this function does not know."""
    kind, context = detail.get("type"), detail.get("ctx", {})
    if kind == "literal_error":
        return re.findall(r"'[^']*'|\S+?(?=,|$| or )", str(context.get("expected", "")))
    if kind in _WHOLE_NUMBER_ERRORS:
        return ["a whole number"]
    if kind in _NUMBER_ERRORS:
        return ["a finite number"]
    if kind in _BOUNDS:
        key, sign = _BOUNDS[kind]
        bound = context.get(key)
        noun = "a number" if isinstance(bound, float) else "a whole number"
        return [f"{noun} {sign} {bound:g}"] if isinstance(bound, int | float) else []
    if kind in ("bool_parsing", "bool_type"):
        return ["true or false"]
    if kind == "string_type":
        return ["a string"]
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
