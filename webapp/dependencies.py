"""FastAPI dependencies: the app's settings and work queue, as typed aliases for routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from webapp.settings import Settings
from webapp.workqueue import WorkQueue


def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with (tests create apps with their own)."""
    settings: Settings = request.app.state.settings
    return settings


def get_work_queue(request: Request) -> WorkQueue:
    """The heavy routes' work queue; refuses at once (503) when it is already full."""
    queue: WorkQueue = request.app.state.work_queue
    queue.refuse_if_full()
    return queue


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
WorkQueueDep = Annotated[WorkQueue, Depends(get_work_queue)]
