"""The ASGI app: ``webapp.main:app``, built by `create_app`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from webapp import __version__
from webapp.limits import BodySizeLimit
from webapp.problems import install_problem_handlers
from webapp.routes import convolve, health, kernels
from webapp.security import SecurityHeaders
from webapp.settings import Settings, get_settings
from webapp.workqueue import WorkQueue

DESCRIPTION = """
convlens makes the layers of a convolutional network visible: kernels, stride, padding,
dilation and receptive fields on your own photos, with the arithmetic filled in.

Errors are RFC 9457 `application/problem+json` documents naming the field at fault.
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """A convlens app; ``settings`` defaults to the environment's (`CONVLENS_*`)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.work_queue = WorkQueue(
            workers=settings.workers,
            queue_length=settings.queue_length,
            timeout_seconds=settings.request_timeout_seconds,
        )
        try:
            yield
        finally:
            app.state.work_queue.shutdown()

    app = FastAPI(
        title="convlens",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_problem_handlers(app)
    for module in (health, kernels, convolve):
        app.include_router(module.router)
    # The last added runs first: security headers wrap every answer, the 413 included.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    return app


app = create_app()
