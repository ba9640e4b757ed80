"""Where routes find the app's shared objects: its settings, work queue, photo cache
and models.

Plain functions of the request, not FastAPI dependencies (``Depends``): FastAPI solves
each declared dependency on every request, and for these lookups that machinery
cost the event loop more than the lookups themselves, on every heavy request.
A route calls these first, before it reads any body.
"""

from __future__ import annotations

from starlette.requests import Request

from webapp.autoencoder.registry import ModelRegistry
from webapp.server.photocache import PhotoCache
from webapp.server.settings import Settings
from webapp.server.workqueue import WorkQueue


def app_settings(request: Request) -> Settings:
    """The settings the app was created with (tests create apps with their own)."""
    settings: Settings = request.app.state.settings
    return settings


def work_queue(request: Request) -> WorkQueue:
    """The heavy routes' work queue; refuses at once (503) when it is already full, so that
    a full server does not parse uploads it would refuse anyway."""
    queue: WorkQueue = request.app.state.work_queue
    queue.refuse_if_full()
    return queue


def loaded_models(request: Request) -> ModelRegistry:
    """The autoencoders loaded at start-up."""
    models: ModelRegistry = request.app.state.models
    return models


def photo_cache(request: Request) -> PhotoCache:
    """The pages' decoded photos (`webapp.server.photocache`)."""
    cache: PhotoCache = request.app.state.photo_cache
    return cache
