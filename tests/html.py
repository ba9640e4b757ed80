"""Checks on rendered pages, shared by the page tests."""

from __future__ import annotations

import re


def assert_nothing_the_policy_blocks(page: str) -> None:
    """No inline script, no style element or attribute, no event-handler attribute (a JSON
    data block, which no browser runs, is allowed)."""
    assert not re.search(r"<script(?![^>]*\b(src=|type=\"application/json\"))", page)
    assert "<style" not in page
    assert not re.search(r"\sstyle=", page)
    assert not re.search(r"\son[a-z]+=", page)


def assert_every_control_labelled(page: str) -> None:
    """Each input, select and textarea has a <label for=...> or an aria-label; radios and
    checkboxes sit inside their <label>; hidden inputs need none."""
    labelled = set(re.findall(r'<label[^>]*for="([^"]+)"', page))
    for control in re.finditer(r"<(input|select|textarea)\b[^>]*>", page):
        tag = control.group(0)
        if re.search(r'type="(radio|checkbox|hidden)"', tag) or "aria-label=" in tag:
            continue
        control_id = re.search(r'\sid="([^"]+)"', tag)
        assert control_id and control_id.group(1) in labelled, f"unlabelled: {tag}"
    for choice in re.finditer(r'<input[^>]*type="(radio|checkbox)"', page):
        before = page[: choice.start()]
        assert before.rfind("<label") > before.rfind("</label>"), "a bare radio/checkbox"
