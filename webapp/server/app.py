"""The app factory: `create_app` wires the settings, models, work queue, middleware and
routes together (``webapp.main:app`` is the app it makes for uvicorn)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from webapp import __version__, engine
from webapp.autoencoder import preprocessing
from webapp.autoencoder.registry import ModelRegistry
from webapp.server.language import LanguageChoice
from webapp.server.limits import BodySizeLimit
from webapp.server.memory import keep_freed_buffers
from webapp.server.observability import AccessLog, Metrics
from webapp.server.openapi import document_builder
from webapp.server.photocache import PhotoCache
from webapp.server.problems import PROBLEM_RESPONSES, Problem, install_problem_handlers
from webapp.server.routes import (
    convolve,
    home,
    lesson,
    models,
    receptive,
    reconstruct,
    service,
    stack,
)
from webapp.server.security import SecurityHeaders
from webapp.server.settings import Settings, get_settings
from webapp.server.workqueue import WorkQueue

DESCRIPTION = """
convlens makes the layers of a convolutional network visible: kernels, stride, padding,
dilation and receptive fields on your own photos, with the arithmetic filled in; and an
autoencoder trained on MNIST that rebuilds a digit you draw, layer by layer.

Errors are RFC 9457 `application/problem+json` documents naming the field at fault.
Answers are in English; send `Accept-Language: ko` for problems whose `title` and `detail`
are in Korean (field names and problem types never change).
"""


def _log_to_stderr() -> None:
    """convlens's own log lines (access log, provider warnings) go to stderr, once."""
    logger = logging.getLogger("convlens")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)


def compile_loops() -> None:
    """Compile (or load from numba's disk cache) every compiled loop: the convolution's
    (`webapp.engine`) and the drawing preprocessing's. At start-up, so
    that no request waits for the compiler (tests/test_compilation.py checks that none
    does); the Docker image and the test session call it too. Said in the log, since the
    first start of a fresh clone spends a while here."""
    from time import perf_counter

    log = logging.getLogger("convlens")
    log.info("compiling the convolution loops (first start only: later starts load them "
             "from numba's disk cache)...")
    started = perf_counter()
    engine.compile_ahead()
    preprocessing.compile_ahead()
    log.info("compiled the convolution loops in %.1f s", perf_counter() - started)


def create_app(settings: Settings | None = None) -> FastAPI:
    """A convlens app; ``settings`` defaults to the environment's (`CONVLENS_*`)."""
    settings = settings or get_settings()
    _log_to_stderr()
    app_metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        keep_freed_buffers()
        compile_loops()
        app.state.models = ModelRegistry(
            settings.model_dir,
            providers=settings.providers,
            require_gpu=settings.require_gpu,
            skip_broken=settings.skip_broken_models,
        )
        queue = app.state.work_queue = WorkQueue(
            threads=settings.compute_threads,
            queue_length=settings.queue_length,
            timeout_seconds=settings.request_timeout_seconds,
        )
        app_metrics.follow(depth=lambda: queue.depth, rejected=lambda: queue.rejected)
        for model in app.state.models:
            app_metrics.provider.labels(model.name, model.provider).set(1)
        try:
            yield
        finally:
            app.state.work_queue.shutdown()

    app = FastAPI(
        title="convlens",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        responses=PROBLEM_RESPONSES,
        # Operation ids are the routes' own names (convolve, reconstruct, list_kernels):
        # what generated clients call their functions.
        generate_unique_id_function=lambda route: route.name,
        docs_url=None,  # routes/service.py serves it from the vendored Swagger UI: no CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = app_metrics
    app.state.photo_cache = photos = PhotoCache(
        max_bytes=settings.photo_cache_bytes, max_seconds=settings.photo_cache_seconds
    )
    app_metrics.follow_photo_cache(photos.stats)
    install_problem_handlers(app)
    request_models: list[type[BaseModel]] = [
        Problem, *convolve.REQUEST_MODELS, *reconstruct.REQUEST_MODELS, *stack.REQUEST_MODELS
    ]
    app.openapi = document_builder(app, request_models)  # type: ignore[method-assign]
    for module in (service, home, lesson, convolve, receptive, stack, reconstruct, models):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=settings.static_dir), name="static")

    # The last added runs first: the access log times and counts every answer, and
    # security headers wrap every answer, the 413 included; every answer, the 413 too, is
    # in the reader's language.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(AccessLog, metrics=app_metrics)
    app.add_middleware(LanguageChoice)
    return app

