"""Templating: the Jinja2 environment every page and fragment is rendered with.

Pages extend ``templates/base.html`` (the nav bar, the stylesheet, htmx and its settings);
fragments for htmx live in ``templates/partials/`` and are bare, so one route renders the
page or the fragment from the same context. No template holds a script or a style: the
Content-Security-Policy (`webapp.server.security`) forbids inline ones, so behaviour lives in
``static/js/`` and looks in ``static/css/``.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any, get_args

from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from webapp import __version__
from webapp.arithmetic import PaddingName
from webapp.display import DISPLAY_LABELS, Display
from webapp.images import ALLOWED_FORMATS, COLOR_LABELS, Color
from webapp.kernels import PRESETS
from webapp.options import OPERATION_LABELS, Operation, SampleName
from webapp.padding import PADDING_MODE_LABELS, PADDING_NAME_LABELS, PaddingMode
from webapp.photos import WORKING_SIDES
from webapp.translation import (
    LANGUAGE_NAMES,
    LANGUAGES,
    N_,
    Language,
    current_language,
    javascript_messages,
    translate,
    translate_plural,
)

NAV: tuple[tuple[str, str], ...] = (
    ("/lesson/padding", N_("Padding lesson")),
    ("/convolve", N_("Convolve")),
    ("/receptive-field", N_("Receptive field")),
    ("/stack", N_("Small CNN")),
    ("/reconstruct", N_("Autoencoder")),
    ("/models", N_("Models")),
    ("/docs", "API"),
)
"""The nav bar, in the order of the lesson: each page builds on the one before."""

HTMX_CONFIG: dict[str, Any] = {
    # htmx's security notes: no eval (hx-on, js: values), requests to this origin only,
    # no <script> run from fragments, and the indicator styles come from our stylesheet.
    "allowEval": False,
    "allowScriptTags": False,
    "selfRequestsOnly": True,
    "includeIndicatorStyles": False,
    # The routes answer htmx with fragments (HX-Request), so a history restore must ask
    # for the whole page like a browser would.
    "historyRestoreAsHxRequest": False,
    # Problems (4xx, 503) come back as fragments that name the field at fault and are
    # swapped next to it (webapp.server.problems); other failures are left to the console.
    "responseHandling": [
        {"code": "204", "swap": False},
        {"code": "[23]..", "swap": True},
        {"code": "(4..|503)", "swap": True, "error": False},
        {"code": "...", "swap": False, "error": True},
    ],
}


SAMPLE_LABELS: dict[SampleName, str] = {
    "cat": N_("Cat"), "coffee": N_("Coffee"), "camera": N_("Camera"),
}
"""The sample photos as the forms name them (their values, the file names, stay English)."""

CHOICES: dict[str, tuple[Any, ...]] = {
    "operation": tuple((value, OPERATION_LABELS[value]) for value in get_args(Operation)),
    "padding": tuple((value, PADDING_NAME_LABELS[value]) for value in get_args(PaddingName)),
    "padding_mode": tuple(
        (value, PADDING_MODE_LABELS[value]) for value in get_args(PaddingMode)
    ),
    "display": tuple((value, DISPLAY_LABELS[value]) for value in get_args(Display)),
    "color": tuple((value, COLOR_LABELS[value]) for value in get_args(Color)),
    "sample": tuple((name, SAMPLE_LABELS[name]) for name in get_args(SampleName)),
    "kernel": tuple(PRESETS.values()),
    "working_side": (*((side, f"{side} px") for side in WORKING_SIDES), ("full", N_("full size"))),
}
"""Every choice a form offers, read from the core's types: (value, label) pairs, the sample
names, and the preset kernels. A template never types an option list of its own, so a new
value in the core reaches every form (and a missing label fails at import). The labels are
English, marked for the catalogue; a template shows each translated (``_(label)``)."""

IMAGE_ACCEPT = ",".join(f"image/{name.lower()}" for name in ALLOWED_FORMATS)
"""The file picker's ``accept``: the upload formats `webapp.images` decodes."""


@lru_cache(maxsize=8)
def templates_for(directory: Path) -> Jinja2Templates:
    """The templates in ``directory``, with convlens's filters and globals."""
    templates = Jinja2Templates(directory=directory)
    environment = templates.env
    environment.filters["number"] = number
    environment.filters["count"] = count
    environment.globals["nav"] = NAV
    environment.globals["htmx_config"] = json.dumps(HTMX_CONFIG, separators=(",", ":"))
    environment.globals["version"] = __version__
    environment.globals["choices"] = CHOICES
    environment.globals["image_accept"] = IMAGE_ACCEPT
    # Every text goes through the catalogue (`webapp.translation`): {{ _("...") }} and
    # {% trans %} in the templates, in the language chosen for the request.
    environment.add_extension("jinja2.ext.i18n")
    # {% trans %} blocks lose their line breaks and indentation, as tools/catalogue.py
    # extracts them, so a reflowed paragraph keeps its translation.
    environment.policies["ext.i18n.trimmed"] = True
    environment.install_gettext_callables(  # type: ignore[attr-defined]
        translate, translate_plural, newstyle=True
    )
    environment.globals["language"] = current_language
    environment.globals["languages"] = tuple(LANGUAGE_NAMES.items())
    environment.globals["language_link"] = language_link
    environment.globals["javascript_messages"] = lambda: javascript_messages(current_language())
    return templates


def language_link(request: Request, language: Language) -> str:
    """This page's address in ``language``: the same path and parameters, with ``lang=``.

    The language switch is a plain link, so it works without JavaScript, and the address it
    leads to is the one to share.
    """
    assert language in LANGUAGES
    url = request.url.include_query_params(lang=language)
    return f"{url.path}?{url.query}"


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """``name`` rendered for ``request``; pages and fragments vary with HX-Request."""
    settings = request.app.state.settings
    response = templates_for(settings.templates_dir).TemplateResponse(
        request, name,
        # The upload limit, so that the file picker can refuse a photo before sending it.
        {"path": request.url.path, "max_body_bytes": settings.max_body_bytes, **context},
        status_code=status_code,
        headers={"Vary": "Accept, HX-Request", **(headers or {})},
    )
    return response


def number(value: float | int | None, digits: int = 6) -> str:
    """A number as a learner would write it: ``2`` not ``2.0``, ``0.0625``, ``-3.5``.

    >>> [number(2.0), number(-0.0), number(1 / 16), number(1 / 3), number(1234567.0)]
    ['2', '0', '0.0625', '0.333333', '1234567']
    >>> number(None)
    '-'
    """
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.{digits}g}"


def count(value: int) -> str:
    """A large count with thousands separators: ``840,301,718,040``.

    >>> count(8235216)
    '8,235,216'
    """
    return f"{value:,}"
