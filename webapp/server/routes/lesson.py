"""/lesson/padding: the study note's 1-D example, [0, 1, 2, 3, 4] with [-1, 0, 1]."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import JsonValue

from webapp.numeric import NumericAnswer, numeric_answer
from webapp.options import NumericRequest
from webapp.server.bodies import validated
from webapp.server.negotiation import Renderers, Representations, respond
from webapp.server.state import app_settings, work_queue
from webapp.server.views.lesson import (
    LESSON_INPUT,
    LESSON_WEIGHTS,
    MAX_LESSON_KERNEL,
    MAX_LESSON_VALUES,
    lesson_view,
    number_list,
)

router = APIRouter(include_in_schema=False)


@router.get("/lesson/padding")
async def padding_lesson(request: Request) -> Response:
    """The study note's 1-D example, one window at a time; the query sets every option."""
    settings, queue = app_settings(request), work_queue(request)
    query = request.query_params
    input_text = query.get("input", "").strip() or LESSON_INPUT
    weights_text = query.get("weights", "").strip() or LESSON_WEIGHTS
    fields: dict[str, JsonValue] = {
        name: value
        for name in ("stride", "padding", "padding_mode", "dilation", "flip")
        if (value := query.get(name, "").strip())
    }
    values = number_list(input_text, "input", MAX_LESSON_VALUES)
    weights = number_list(weights_text, "weights", MAX_LESSON_KERNEL)
    numeric = validated(NumericRequest, {"input": values, "weights": weights, **fields})

    def view(answer: NumericAnswer) -> dict[str, Any]:
        return {
            "lesson": lesson_view(values, numeric, answer.model_dump(exclude_none=True)),
            "form": {**numeric.model_dump(), "input": input_text, "weights": weights_text},
        }

    return await respond(
        request,
        Representations(fragment="partials/lesson_result.html", page="lesson.html"),
        lambda: numeric_answer(numeric, **settings.numeric_limits),
        Renderers(view=view),
        run=queue.run,
    )
