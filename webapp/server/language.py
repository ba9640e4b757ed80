"""The language of each answer: the reader's choice, else what their browser asks for.

A reader picks a language with the switch in the nav bar, which is a plain link to the same
page with ``?lang=ko`` (or ``?lang=en``). The choice then holds three ways:

1. ``?lang=`` in the address, so a shared link opens in the language it was shared in;
2. a cookie, set whenever ``?lang=`` is given, so that every later page and every htmx
   request (which carries no ``?lang=``) keeps it;
3. without either, ``Accept-Language`` decides: a browser set to Korean gets Korean.

Programs get English unless they ask otherwise: a ``curl`` sends no cookie and no
``Accept-Language``. A client sending ``Accept-Language: ko`` gets its problem documents'
``title`` and ``detail`` in Korean; field names and problem types never change.

The language is kept in `webapp.translation`'s context variable for the request, so the core
and the templates translate without being passed it.
"""

from __future__ import annotations

from http.cookies import SimpleCookie
from typing import Final
from urllib.parse import parse_qsl, unquote_plus

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from webapp.translation import DEFAULT_LANGUAGE, Language, as_language, speaking

COOKIE: Final = "convlens-lang"
"""The cookie that remembers the reader's choice."""

QUERY: Final = "lang"
"""The address's parameter that chooses the language (and sets the cookie)."""

COOKIE_SECONDS: Final = 365 * 24 * 3600


def from_accept_language(header: str) -> Language | None:
    """The language convlens speaks that ``Accept-Language`` prefers most, or None.

    >>> from_accept_language("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7")
    'ko'
    >>> from_accept_language("fr-FR, en;q=0.5, ko;q=0.8")
    'ko'
    >>> from_accept_language("de, fr;q=0.9") is None
    True
    >>> from_accept_language("ko;q=0, en")
    'en'
    """
    ranked: list[tuple[float, int, Language]] = []
    for position, item in enumerate(header.split(",")):
        tag, _, parameters = item.partition(";")
        language = as_language(tag)
        if language is None:
            continue
        weight = 1.0
        for parameter in parameters.split(";"):
            name, _, value = parameter.strip().partition("=")
            if name.strip() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if weight > 0:
            ranked.append((-weight, position, language))
    return min(ranked)[2] if ranked else None


def chosen_language(query_string: str, cookie_header: str, accept_language: str) -> tuple[
        Language, Language | None]:
    """The language to answer in, and the one ``?lang=`` chose (to be remembered), if any.

    >>> chosen_language("lang=ko&x=1", "", "en")
    ('ko', 'ko')
    >>> chosen_language("", "convlens-lang=ko", "en")
    ('ko', None)
    >>> chosen_language("lang=xx", "", "ko-KR")
    ('ko', None)
    >>> chosen_language("", "", "")
    ('en', None)
    """
    asked = None
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        if name == QUERY:
            asked = as_language(value)
    if asked is not None:
        return asked, asked
    cookies: SimpleCookie = SimpleCookie()
    try:
        cookies.load(cookie_header)
    except Exception:  # a malformed Cookie header is the browser's problem, not the reader's
        cookies = SimpleCookie()
    remembered = as_language(cookies[COOKIE].value) if COOKIE in cookies else None
    if remembered is not None:
        return remembered, None
    return from_accept_language(accept_language) or DEFAULT_LANGUAGE, None


def without_language(query_string: str) -> str:
    """``query_string`` without its ``lang=``: the routes never see it (they refuse fields
    they do not know), since the language is this middleware's business.

    >>> without_language("kernel=sobel-x&lang=ko&stride=2")
    'kernel=sobel-x&stride=2'
    """
    return "&".join(
        part for part in query_string.split("&")
        if part and unquote_plus(part.partition("=")[0]) != QUERY
    )


class LanguageChoice:
    """ASGI middleware: decides each request's language, and says it in the answer.

    Every answer but the static files carries ``Content-Language`` and varies with the
    cookie and ``Accept-Language`` (for caches); an answer to ``?lang=`` sets the cookie.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/static/"):
            await self.app(scope, receive, send)
            return
        headers = {name: value for name, value in scope["headers"]}
        query_string = scope.get("query_string", b"").decode("latin-1")
        language, asked = chosen_language(
            query_string,
            headers.get(b"cookie", b"").decode("latin-1"),
            headers.get(b"accept-language", b"").decode("latin-1"),
        )

        async def send_with_language(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer = MutableHeaders(scope=message)
                answer["Content-Language"] = language
                answer.add_vary_header("Accept-Language")
                answer.add_vary_header("Cookie")
                if asked is not None:
                    answer.append("Set-Cookie", (
                        f"{COOKIE}={asked}; Path=/; Max-Age={COOKIE_SECONDS}; SameSite=Lax"
                    ))
            await send(message)

        if asked is not None or f"{QUERY}=" in query_string:
            scope = {**scope, "query_string": without_language(query_string).encode("latin-1")}
        with speaking(language):
            await self.app(scope, receive, send_with_language)
