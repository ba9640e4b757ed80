"""The translation catalogues: extract every message, keep the Korean ones up to date, compile.

    python tools/catalogue.py update              # extract, merge into the .po files, compile
    python tools/catalogue.py update --with ko.po # ... and take the translations in ko.po
    python tools/catalogue.py untranslated [PATH] # the messages still without Korean
    python tools/catalogue.py check               # what the tests check: nothing missing or stale

Babel extracts the messages: from the Python code (``_``/``gettext``, ``ngettext``, ``N_``),
from the templates (Jinja2's i18n extension: ``{{ _("...") }}`` and ``{% trans %}``), from the
browser's scripts (``_("...")`` in ``static/js/``, their own ``javascript`` domain, embedded
in every page) and from the model cards' prose (``models/*.json``, see `extract_model_cards`).
The ``.pot`` templates, the Korean ``.po`` catalogues and their compiled ``.mo`` files are all
committed under ``webapp/locale/``, so an install serves Korean with no build step; the test
``tests/test_catalogue.py`` fails when any of them is out of date with the code.

Only the developer tools need Babel (the ``test`` extra); the server reads the ``.mo`` files
with the standard library's gettext.
"""

from __future__ import annotations

import argparse
import datetime
import fcntl
import io
import json
import sys
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT: Final = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from webapp import __version__  # noqa: E402 (the repository's own, wherever this runs from)

LOCALE: Final = ROOT / "webapp" / "locale"
TRANSLATED: Final = ("ko",)
"""The languages with a catalogue; English is the source text."""

FIXED_DATE: Final = datetime.datetime(2026, 12, 4, tzinfo=datetime.UTC)
"""The date written into every header, so that a catalogue changes only when a message does."""

CARD_PROSE: Final = (
    ("title",), ("description",), ("data", "source"), ("data", "stratification"),
    ("data", "scaling"), ("schedule",), ("augmentation", "decision"),
    ("lesson_recipe", "explanation"), ("lesson_recipe", "runs", "*", "label"),
)
"""The model cards' fields a page shows as prose (the rest are names, numbers and code)."""


def _prose_in(card: Any, path: tuple[str, ...]) -> Iterator[str]:
    if not path:
        if isinstance(card, str) and card:
            yield card
        return
    head, rest = path[0], path[1:]
    if head == "*" and isinstance(card, list):
        for item in card:
            yield from _prose_in(item, rest)
    elif isinstance(card, dict) and head in card:
        yield from _prose_in(card[head], rest)


def extract_model_cards(
    fileobj: IO[bytes], keywords: Collection[str], comment_tags: Collection[str],
    options: Mapping[str, Any],
) -> Iterator[tuple[int, str, str, list[str]]]:
    """Babel extraction method for a model card (``models/<name>.json``): its prose fields.

    The card is written by the training script in English; the pages show its prose through
    the catalogue (``{{ _(model.description) }}``), and this puts that prose in it.
    """
    card = json.load(fileobj)
    for path in CARD_PROSE:
        for text in _prose_in(card, path):
            yield 1, "gettext", text, [f"card field: {'.'.join(path)}"]


@dataclass(frozen=True)
class Source:
    """Files of one kind, the domain their messages go to and how to read them."""

    domain: str
    pattern: str
    method: str | Callable[..., Iterator[tuple[int, str, Any, list[str]]]]
    options: Mapping[str, str]


SOURCES: Final = (
    Source("messages", "webapp/**/*.py", "python", {}),
    Source("messages", "templates/**/*.html", "jinja2.ext:babel_extract",
           {"extensions": "jinja2.ext.i18n", "trimmed": "true"}),
    Source("messages", "models/*.json", extract_model_cards, {}),
    Source("javascript", "static/js/*.js", "javascript", {}),
)
DOMAINS: Final = ("messages", "javascript")


def extract(domain: str) -> Catalog:
    """Every message of ``domain`` in the code now, with where it is used."""
    catalog = _catalog(None)
    for source in SOURCES:
        if source.domain != domain:
            continue
        for path in sorted(ROOT.glob(source.pattern)):
            relative = path.relative_to(ROOT).as_posix()
            for line, message, comments, context in extract_from_file(
                source.method, str(path), keywords=DEFAULT_KEYWORDS,  # type: ignore[arg-type]
                comment_tags=("Translators:",), options=dict(source.options),
                strip_comment_tags=True,
            ):
                catalog.add(message, None, [(relative, line)], auto_comments=comments,
                            context=context)
    return catalog


def _catalog(language: str | None) -> Catalog:
    return Catalog(
        locale=language, project="convlens", version=__version__, charset="utf-8", fuzzy=False,
        header_comment=(
            "# convlens's messages" + (f", in {language}." if language else " (the template).")
            + "\n# Written by tools/catalogue.py: translate here, then run its `update`."
        ),
        copyright_holder="convlens", msgid_bugs_address="convlens", last_translator="convlens",
        language_team="convlens", creation_date=FIXED_DATE, revision_date=FIXED_DATE,
    )


def _pot(domain: str) -> Path:
    return LOCALE / f"{domain}.pot"


def _po(language: str, domain: str) -> Path:
    return LOCALE / language / "LC_MESSAGES" / f"{domain}.po"


def _read(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as file:
        return read_po(file, locale=language, charset="utf-8")


def _po_bytes(catalog: Catalog, *, template: bool = False) -> bytes:
    buffer = io.BytesIO()
    write_po(buffer, catalog, width=100, omit_header=False, sort_output=False,
             include_previous=False, ignore_obsolete=True, include_lineno=not template)
    return buffer.getvalue()


def compiled(catalog: Catalog) -> bytes:
    """The ``.mo`` for ``catalog``, as `update` writes it."""
    buffer = io.BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    return buffer.getvalue()


def _translated(message: Any) -> bool:
    """Whether ``message`` has every form of its translation (a plural has one per form)."""
    strings = message.string if isinstance(message.string, tuple) else (message.string,)
    return bool(strings) and all(strings) and not message.fuzzy


def _same_messages(left: Catalog, right: Catalog) -> bool:
    return {message.id for message in left if message.id} == {
        message.id for message in right if message.id
    }


def _merged(template: Catalog, language: str, existing: Catalog | None,
            translations: Mapping[Any, Any]) -> Catalog:
    catalog = _catalog(language)
    known: dict[Any, Any] = {}
    if existing is not None:
        known.update({message.id: message.string for message in existing
                      if message.id and _translated(message)})
    known.update(translations)
    for message in template:
        if not message.id:
            continue
        string = known.get(message.id)
        if isinstance(message.id, tuple) and isinstance(string, str):
            string = (string,)
        catalog.add(message.id, string or None, message.locations,
                    auto_comments=message.auto_comments, context=message.context,
                    flags=message.flags - {"fuzzy"})
    return catalog


def update(fragments: list[Path]) -> dict[str, int]:
    """Extract, write the templates, merge them and ``fragments``' translations into each
    catalogue, and compile it. Returns the messages still untranslated, per domain.

    Takes a lock, so that several people (or helpers) updating at once lose nothing.
    """
    translations: dict[Any, Any] = {}
    for fragment in fragments:
        for message in _read(fragment, "ko"):
            if message.id and message.string and not message.fuzzy:
                translations[message.id] = message.string
    left: dict[str, int] = {}
    LOCALE.mkdir(parents=True, exist_ok=True)
    with (LOCALE / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        for domain in DOMAINS:
            template = extract(domain)
            _pot(domain).write_bytes(_po_bytes(template, template=True))
            for language in TRANSLATED:
                po = _po(language, domain)
                po.parent.mkdir(parents=True, exist_ok=True)
                existing = _read(po, language) if po.exists() else None
                catalog = _merged(template, language, existing, translations)
                po.write_bytes(_po_bytes(catalog))
                po.with_suffix(".mo").write_bytes(compiled(_read(po, language)))
                left[f"{language}/{domain}"] = sum(
                    1 for message in catalog if message.id and not _translated(message)
                )
    return left


def untranslated(prefix: str = "") -> list[str]:
    """Each message still without its translation, with where it is used."""
    lines = []
    for domain in DOMAINS:
        for language in TRANSLATED:
            for message in _read(_po(language, domain), language):
                if not message.id or _translated(message):
                    continue
                places = [f"{path}:{line}" for path, line in message.locations]
                if prefix and not any(place.startswith(prefix) for place in places):
                    continue
                lines.append(f"{language}/{domain} {', '.join(places)}: {message.id!r}")
    return lines


def problems() -> list[str]:
    """Why the committed catalogues do not match the code (empty when they do)."""
    found = []
    for domain in DOMAINS:
        template = extract(domain)
        if not _pot(domain).exists() or not _same_messages(template, _read(_pot(domain))):
            found.append(f"{_pot(domain).relative_to(ROOT)} is out of date with the code")
        for language in TRANSLATED:
            po = _po(language, domain)
            if not po.exists():
                found.append(f"{po.relative_to(ROOT)} is missing")
                continue
            catalog = _read(po, language)
            in_code = {message.id for message in template if message.id}
            in_po = {message.id for message in catalog if message.id}
            found += [f"{po.name}: not in the catalogue: {id_!r}" for id_ in in_code - in_po]
            found += [f"{po.name}: no longer in the code: {id_!r}" for id_ in in_po - in_code]
            for message in catalog:
                if message.id and not _translated(message):
                    found.append(f"{po.name}: no {language} translation: {message.id!r}")
            mo = po.with_suffix(".mo")
            if not mo.exists() or mo.read_bytes() != compiled(catalog):
                found.append(f"{mo.relative_to(ROOT)} is not the compiled {po.name}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    updating = commands.add_parser("update", help="extract, merge and compile the catalogues")
    updating.add_argument("--with", dest="fragments", type=Path, action="append", default=[],
                          metavar="PO", help="a .po file whose translations to take")
    listing = commands.add_parser("untranslated", help="the messages without a translation")
    listing.add_argument("prefix", nargs="?", default="",
                         help="only messages used in files under this path")
    commands.add_parser("check", help="exit 1 if the catalogues are out of date")
    arguments = parser.parse_args(argv)
    if arguments.command == "update":
        for name, count in update(arguments.fragments).items():
            print(f"{name}: {count} untranslated")
        return 0
    if arguments.command == "untranslated":
        print("\n".join(untranslated(arguments.prefix)))
        return 0
    found = problems()
    print("\n".join(found) or "The catalogues match the code, every message translated.")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
