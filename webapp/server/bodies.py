"""Request bodies: multipart forms and JSON documents, read with limits and checked.

The heavy routes accept both a form with a file (browsers, curl ``-F``) and a JSON
document (programs), so they read the body here rather than through FastAPI's parameters.
"""

from __future__ import annotations

from typing import Any, TypeVar

from annotated_types import Ge, Le
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, JsonValue, ValidationError
from pydantic.fields import FieldInfo
from starlette.datastructures import UploadFile
from starlette.requests import Request

from webapp.errors import InvalidInput
from webapp.options import parse_json_field
from webapp.translation import N_
from webapp.translation import gettext as _

Model = TypeVar("Model", bound=BaseModel)


def media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def read_json(request: Request) -> JsonValue:
    """The JSON body; NaN and Infinity (which Python's json accepts) are refused."""
    return parse_json_field(await request.body(), "body")


class FormFields(dict[str, JsonValue]):
    """A form's fields, where a field sent blank holds "" (`validated` decides what that
    means: nothing chosen for an optional field, an error for any other)."""


async def read_form(
    request: Request, *, file_field: str, json_fields: tuple[str, ...] = ()
) -> tuple[bytes, FormFields]:
    """The uploaded file's bytes and the other fields of a form. A field sent twice (the
    padding's name and its number of cells) keeps its last value that is not blank."""
    form = await request.form(max_files=2, max_fields=32)
    try:
        upload = form.get(file_field)
        if not isinstance(upload, UploadFile):
            raise InvalidInput(
                _("%(field)s is missing: send the image as a file field named %(name)s (curl "
                  "-F %(field)s=@photo.jpg).", field=file_field, name=repr(file_field)),
                field=file_field,
            )
        data = await upload.read()
        fields = FormFields()
        for name, value in form.multi_items():
            if name == file_field:
                continue
            if not isinstance(value, str):
                raise InvalidInput(_("%(field)s must be a plain field, not a file.", field=name),
                                   field=name)
            if value.strip() == "":
                fields.setdefault(name, "")
                continue
            fields[name] = parse_json_field(value, name) if name in json_fields else value
    finally:
        # Uploads spill to temporary files past 1 MiB; close them whatever happened.
        await form.close()
    return data, fields


def validated(model: type[Model], fields: object) -> Model:
    """``fields`` checked against ``model``; errors answered like FastAPI's own (422), one
    sentence per field (`webapp.errors.field_errors`)."""
    if not isinstance(fields, dict):
        raise InvalidInput(_("The body must be a JSON object."), field="body")
    if isinstance(fields, FormFields):
        fields = without_blanks(model, fields)
    try:
        return model.model_validate(fields)
    except ValidationError as error:
        raise RequestValidationError(with_allowed_fields(error, model)) from None


def without_blanks(model: type[BaseModel], fields: FormFields) -> dict[str, JsonValue]:
    """A form's fields for ``model``: a blank optional field (default None: no preset, no
    display, no seed) is left out; any other blank field is an error, never its default, so
    an emptied stride is said, not silently taken as 1."""
    kept: dict[str, JsonValue] = {}
    for name, value in fields.items():
        info = model.model_fields.get(name)
        if value != "" or info is None:
            kept[name] = value  # an unknown field is refused by the model, blank or not
        elif not info.is_required() and info.default is not None:
            raise InvalidInput(_("%(field)s is empty: %(wanted)s.", field=name,
                                 wanted=_what_to_give(info)), field=name)
    return kept


def _what_to_give(info: FieldInfo) -> str:
    """What an empty field should hold, in the words of its type and limits."""
    low = next((item.ge for item in info.metadata if isinstance(item, Ge)), None)
    high = next((item.le for item in info.metadata if isinstance(item, Le)), None)
    if info.annotation is int:
        ranged, plain = (N_("type a whole number from %(low)s to %(high)s"),
                         N_("type a whole number"))
    elif info.annotation is float:
        ranged, plain = N_("type a number from %(low)s to %(high)s"), N_("type a number")
    else:
        return _("choose or type a value")
    if low is not None and high is not None:
        return _(ranged, low=low, high=high)
    return _(plain)


def with_allowed_fields(error: ValidationError, model: type[BaseModel]) -> list[dict[str, Any]]:
    """pydantic's errors, where an unknown field's also carries the model's field names, so
    the answer can suggest the nearest one ("strid ...; did you mean stride?")."""
    details: list[dict[str, Any]] = []
    for detail in error.errors(include_url=False):
        item = dict(detail)
        if item["type"] == "extra_forbidden":
            item["ctx"] = {"allowed": list(model.model_fields)}
        details.append(item)
    return details
