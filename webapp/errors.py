"""The one error hierarchy of convlens.

Every problem a user can cause is one of these; `webapp.server.problems` is the single place that
turns them into HTTP answers. The numeric core raises them and never imports FastAPI.

    ConvlensError
    ├── InvalidInput            422  a field breaks a rule (the message names the field)
    │   ├── InvalidKernel       422  the kernel matrix is ragged, too large, NaN, ...
    │   ├── InvalidArithmetic   422  stride/padding/dilation that give an empty output, ...
    │   └── NothingDrawn        422  a blank drawing sent to the autoencoder
    ├── UnknownName             404  a preset or model name that does not exist
    ├── InvalidImage            422  bytes that do not decode as a complete image
    ├── UnsupportedImageFormat  415  a real image, but not in the allow-list
    ├── ImageTooLarge           413  over the pixel cap, decided from the header
    ├── RequestTooLarge         413  a body over the size cap
    ├── ServerBusy              503  the bounded work queue is full
    └── ModelUnavailable        503  a model that failed to load at start-up
"""

from __future__ import annotations

from collections.abc import Sequence


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


class ServerBusy(ConvlensError):
    """The bounded work queue is full; the client should retry later."""

    status_code = 503

    def __init__(self, message: str, *, retry_after_seconds: int = 1) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class ModelUnavailable(ConvlensError):
    """A model that exists but could not be loaded at start-up."""

    status_code = 503
