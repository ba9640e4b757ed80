"""FastAPI dependencies: the app's settings and work queue, as typed aliases for routes.

They are ``async def`` although they never await: FastAPI runs a plain ``def`` dependency
on its thread pool, a thread hop per request that costs far more than the lookup itself.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from webapp.settings import Settings
from webapp.workqueue import WorkQueue


async def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with (tests create apps with their own)."""
    settings: Settings = request.app.state.settings
    return settings


async def get_work_queue(request: Request) -> WorkQueue:
    """The heavy routes' work queue; refuses at once (503) when it is already full."""
    queue: WorkQueue = request.app.state.work_queue
    queue.refuse_if_full()
    return queue


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
WorkQueueDep = Annotated[WorkQueue, Depends(get_work_queue)]
