"""The Korean catalogue is complete and current: every message in the code (templates, Python,
JavaScript, model cards) is in it with its translation, nothing stale is left, and the
compiled ``.mo`` files the server reads are those of the ``.po`` files."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))

import catalogue  # noqa: E402 (tools/ is not a package: the developer's script, run as is)


def test_the_catalogues_match_the_code_and_every_message_is_translated() -> None:
    """Extracts every message again and compares: a new or changed message without its
    Korean, a removed one still in the catalogue, or a stale .mo fails here, with the
    message named (``python tools/catalogue.py update`` and translate)."""
    assert catalogue.problems() == []


def test_the_check_sees_a_message_the_catalogue_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check is not vacuous: a message added to the code is reported."""
    original = catalogue.extract

    def with_a_new_message(domain: str) -> Catalog:
        extracted = original(domain)
        if domain == "messages":
            extracted.add("A sentence nobody has translated yet.", None,
                          [("webapp/example.py", 1)])
        return extracted

    monkeypatch.setattr(catalogue, "extract", with_a_new_message)
    assert any("A sentence nobody has translated yet." in problem
               for problem in catalogue.problems())


def test_every_domain_has_messages() -> None:
    """The extraction reads every kind of source (an empty catalogue would pass the check)."""
    places = {path.split("/")[0] for domain in catalogue.DOMAINS
              for message in catalogue.extract(domain) for path, _ in message.locations}
    assert {"webapp", "templates", "models", "static"} <= places
