"""Limits on the request body, enforced while it streams in (an ASGI middleware).

Neither uvicorn nor Starlette caps a body, and multipart file parts have no size limit, so a
client could stream gigabytes. A declared Content-Length over the cap is refused before a
byte is read; a chunked body is counted as it arrives and refused the moment it passes.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webapp.errors import RequestTooLarge
from webapp.server.problems import problem_response
from webapp.translation import gettext as _


class BodySizeLimit:
    """Answer 413 to any request whose body is larger than ``max_bytes``."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return

        received = 0
        response_started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise self._error()
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal response_started
            response_started = response_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except RequestTooLarge:
            if not response_started:
                await self._refuse(scope, receive, send)

    def _error(self) -> RequestTooLarge:
        return RequestTooLarge(
            _("The request body is over the %(limit)s-byte limit (%(mebibytes)s MiB); send a "
              "smaller image.", limit=format(self.max_bytes, ","),
              mebibytes=format(self.max_bytes / 1048576, "g")),
            field="body",
        )

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(self._error(), scope)
        await response(scope, receive, send)
