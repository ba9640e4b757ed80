"""The OpenAPI document: what generated clients (openapi-python-client, Swagger UI) read.

FastAPI documents the routes' response models by itself. The heavy routes read their bodies
by hand (a form with a file, or JSON), so their request schemas are named in each route's
``openapi_extra`` by reference, and this module puts the models behind those references,
and the problem schema every operation shares, once under ``components/schemas``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

REFERENCE_TEMPLATE = "#/components/schemas/{model}"


def reference(model: type[BaseModel]) -> dict[str, str]:
    """A JSON-schema reference to ``model`` under ``components/schemas``."""
    return {"$ref": REFERENCE_TEMPLATE.format(model=model.__name__)}


def document_builder(
    app: FastAPI, models: Sequence[type[BaseModel]]
) -> Callable[[], dict[str, Any]]:
    """``app.openapi``: FastAPI's document with ``models`` (and the models they use) added
    to ``components/schemas``; built once, on the first request for it."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version,
                                   description=app.description, routes=app.routes)
            _, definitions = models_json_schema(
                [(model, "validation") for model in models], ref_template=REFERENCE_TEMPLATE
            )
            schemas = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in definitions.get("$defs", {}).items():
                schemas.setdefault(name, schema)
            app.openapi_schema = document
        return app.openapi_schema

    return openapi
