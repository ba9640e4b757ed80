"""Translation: every sentence convlens shows, in the reader's language (English or Korean).

The lesson convlens teaches comes from a Korean learner's study note, so every page, every
error and every explanation exists in Korean as well as English. The words live in gettext
catalogues under ``webapp/locale/`` (``messages`` for the templates and the Python code,
``javascript`` for what the browser builds); English is the source text, so it needs no
catalogue. ``tools/catalogue.py`` extracts the messages and compiles the catalogues, and a
test fails while any message lacks its Korean.

The language is chosen once per request (`webapp.server.language`) and kept in a context
variable, so the core writes its messages without being told who reads them:

>>> with speaking("ko"):
...     gettext("Receptive field")
'수용 영역'
>>> gettext("Receptive field")
'Receptive field'

Messages take their values by name, after translation, the way Jinja2's i18n extension
does, so a translator may move a value to where Korean puts it:

>>> with speaking("ko"):
...     gettext("block must be from 1 to %(last)s, not %(block)s.", last=4, block=7)
'블록 번호(block)는 1부터 4까지여야 합니다(받은 값: 7).'

A message that must be written before anyone reads it (a label in a table built at import)
is marked with `N_` and translated where it is shown, with `gettext`.
"""

from __future__ import annotations

import gettext as gettext_module
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any, Final, Literal, get_args

Language = Literal["en", "ko"]
"""The languages convlens speaks: English (the source text) and Korean."""

LANGUAGES: Final[tuple[Language, ...]] = get_args(Language)
DEFAULT_LANGUAGE: Final[Language] = "en"

LANGUAGE_NAMES: Final[dict[Language, str]] = {"en": "English", "ko": "한국어"}
"""Each language by its own name, as a switch between them shows it."""

LOCALE_DIRECTORY: Final = Path(__file__).parent / "locale"
"""The catalogues: ``<language>/LC_MESSAGES/<domain>.po`` and its compiled ``.mo``."""

Domain = Literal["messages", "javascript"]

_language: ContextVar[Language] = ContextVar("convlens_language", default=DEFAULT_LANGUAGE)


def current_language() -> Language:
    """The language of the request being answered (English outside any request)."""
    return _language.get()


def as_language(value: str | None) -> Language | None:
    """``value`` as one of `LANGUAGES` (``"ko-KR"`` is Korean), or None.

    >>> [as_language(value) for value in ("ko", "KO-kr", "en_GB", "fr", "", None)]
    ['ko', 'ko', 'en', None, None, None]
    """
    if not value:
        return None
    primary = value.strip().replace("_", "-").split("-")[0].lower()
    for language in LANGUAGES:
        if primary == language:
            return language
    return None


@contextmanager
def speaking(language: Language) -> Iterator[None]:
    """Answer in ``language`` inside the ``with`` block (the server does this per request)."""
    token = _language.set(language)
    try:
        yield
    finally:
        _language.reset(token)


def set_language(language: Language) -> None:
    """Answer in ``language`` from now on in this context (one request's task or thread)."""
    _language.set(language)


@lru_cache(maxsize=8)
def catalogue(language: Language, domain: Domain = "messages") -> gettext_module.NullTranslations:
    """The compiled catalogue of ``domain`` in ``language``; English is the source, no catalogue.

    A missing ``.mo`` fails loudly rather than showing English to a Korean reader: the
    catalogues are committed compiled, so a missing file is a broken install.
    """
    if language == DEFAULT_LANGUAGE:
        return gettext_module.NullTranslations()
    path = LOCALE_DIRECTORY / language / "LC_MESSAGES" / f"{domain}.mo"
    with path.open("rb") as compiled:
        return gettext_module.GNUTranslations(compiled)


def translate(message: str) -> str:
    """``message`` in the current language, unformatted (Jinja2 formats its own)."""
    return catalogue(_language.get()).gettext(message)


def translate_plural(singular: str, plural: str, number: int) -> str:
    """The form of ``singular``/``plural`` for ``number`` in the current language."""
    return catalogue(_language.get()).ngettext(singular, plural, number)


def gettext(message: str, /, **values: Any) -> str:
    """``message`` in the current language, its ``%(name)s`` placeholders filled from ``values``.

    The message is always %-formatted, as in Jinja2's templates: a literal percent sign is
    written ``%%``.
    """
    return translate(message) % values


def ngettext(singular: str, plural: str, number: int, /, **values: Any) -> str:
    """The singular or plural message for ``number`` (available to it as ``%(num)s``).

    >>> ngettext("%(num)s map", "%(num)s maps", 3)
    '3 maps'
    """
    return translate_plural(singular, plural, number) % {"num": number, **values}


def N_(message: str) -> str:  # noqa: N802 (gettext's own name for "mark, translate later")
    """``message`` unchanged: marks it for the catalogue, to be translated where it is shown."""
    return message


def javascript_messages(language: Language) -> dict[str, str]:
    """The browser's messages in ``language``, English to translated (empty for English).

    The pages embed this as JSON, and ``static/js/convlens.js`` looks messages up in it.
    """
    translations = catalogue(language, "javascript")
    found: dict[Any, Any] = getattr(translations, "_catalog", {})
    table: dict[str, str] = {}
    for key, value in found.items():
        # A plural message is stored once per form, as (singular, index); Korean has one.
        if isinstance(key, tuple) and key[1] == 0:
            key = key[0]
        if isinstance(key, str) and key and value:
            table[key] = str(value)
    return table
