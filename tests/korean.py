"""Checks on pages rendered in Korean, shared by the translation tests.

`english_left` finds text a Korean reader would still see in English; `skeleton` reduces a
page to what must not change with the language (its elements, their non-text attributes, its
numbers), so that an English and a Korean rendering can be compared.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from html.parser import HTMLParser

HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")

CODE_ELEMENTS = frozenset({"script", "style", "code", "kbd", "samp", "pre", "var", "svg",
                           "math", "output"})
"""Elements whose text is code, formulas or machine output: English there is right."""

CODE_CLASSES = frozenset({"formula", "shape", "number", "dims", "matrix-size", "brand"})
"""Classes that mark text as a formula, a shape or a number (and the product's name)."""

TEXT_ATTRIBUTES = ("alt", "title", "aria-label", "placeholder", "aria-description",
                   "aria-roledescription", "data-label", "data-description")
"""Attributes a person reads (or hears): they are translated too."""

VARYING_CLASSES = frozenset({"timing"})
"""Text that changes from one answer to the next (how long it took): no number to compare."""

VARYING_VALUES = frozenset({"seed"})
"""Form fields whose value is drawn afresh for each page (the noise seed)."""

VOID = frozenset({"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta",
                  "source", "track", "wbr"})

ALLOWED_WORDS = frozenset("""
convlens onnx onnxruntime mnist relu sigmoid tanh leaky conv conv2d maxpooling2d
upsampling2d convtranspose2d bce mse api rest openapi json png jpeg jpg webp gif bmp http
htmx cpu gpu cuda px sobel prewitt laplacian gaussian gabor scharr adam adadelta keras
pytorch torch he nhwc nchw rgb lab yuv cc0 scikit-image swagger ui url mlxtend onecyclelr
executionprovider cpuexecutionprovider cudaexecutionprovider x ok id cnn leaky-relu
mib ms ctrl
seed wide deconv denoise
floor ceil
""".split())  # noqa: SIM905 (a list that is easy to add a word to)
"""Names a Korean text keeps in Latin letters: products, formats, layers, people, units."""

ENGLISH_WORD = re.compile("(?<![A-Za-z0-9])(?:[A-Za-z][A-Za-z0-9'\u2019-]*[A-Za-z0-9]|[A-Za-z])")
"""A word in Latin letters; a name may hold digits and hyphens (CC0, scikit-image, Conv2D),
and a size such as 3x3 is not a word."""
PARENTHESISED = re.compile(r"\([^()]*\)")


@dataclass
class _Node:
    tag: str
    attributes: dict[str, str]
    code: bool
    switch: bool = False
    varying: bool = False


@dataclass
class _Reader(HTMLParser):
    texts: list[tuple[str, str]] = field(default_factory=list)
    """(where, text) for every text a person reads outside code."""
    shape: list[str] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    stack: list[_Node] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(convert_charrefs=True)

    def _in_code(self) -> bool:
        return any(node.code for node in self.stack)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        classes = set(attributes.get("class", "").split())
        code = (tag in CODE_ELEMENTS or bool(classes & CODE_CLASSES)
                or attributes.get("translate") == "no" or "language-switch" in classes)
        kept = []
        for name, value in sorted(attributes.items()):
            if name in TEXT_ATTRIBUTES or HANGUL.search(value) or name in ("lang", "hreflang"):
                if name in TEXT_ATTRIBUTES and not (code or self._in_code()):
                    self.texts.append((f"<{tag} {name}>", value))
                continue
            if tag == "meta" and name == "content":
                continue
            if name == "href" and "lang=" in value:
                continue
            if name == "value" and attributes.get("name") in VARYING_VALUES:
                continue
            kept.append(f"{name}={value}")
        # The language switch differs by design (which language is current).
        switch = "language-switch" in classes or any(node.switch for node in self.stack)
        if not switch:
            self.shape.append(f"<{tag} {' '.join(kept)}>")
        if tag not in VOID:
            varying = bool(classes & VARYING_CLASSES)
            self.stack.append(_Node(tag, attributes, code, switch, varying))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        switch = bool(self.stack) and self.stack[-1].switch
        while self.stack:
            if self.stack.pop().tag == tag:
                break
        if not switch:
            self.shape.append(f"</{tag}>")

    def handle_data(self, data: str) -> None:
        text = " ".join(data.split())
        if not text:
            return
        inside = self.stack[-1].tag if self.stack else ""
        if inside in ("script", "style"):
            return
        if not any(node.varying for node in self.stack):
            self.numbers += re.findall(r"-?\d+(?:[.,]\d+)*", text)
        if not self._in_code():
            self.texts.append((inside, text))


def _read(html: str) -> _Reader:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader


def english_left(html: str, allowed: frozenset[str] = frozenset()) -> list[str]:
    """Every text in ``html`` a Korean reader would find still in English.

    A text counts as English when a word of two or more Latin letters remains outside
    parentheses that is not a name in `ALLOWED_WORDS` (or ``allowed``): Korean keeps the
    English term in parentheses for the learner, "수용 영역(receptive field)", and keeps names
    such as ONNX or Sobel. Code, formulas, shapes and numbers are skipped (`CODE_ELEMENTS`,
    `CODE_CLASSES`, ``translate="no"``).
    """
    names = ALLOWED_WORDS | {word.lower() for word in allowed}
    found = []
    for where, text in _read(html).texts:
        bare = PARENTHESISED.sub(" ", text)
        words = [word for word in ENGLISH_WORD.findall(bare)
                 if len(word) > 1 and word.lower().strip("'\u2019") not in names]
        if words:
            found.append(f"{where}: {text!r} (English: {' '.join(words[:6])})")
    return found


def skeleton(html: str) -> list[str]:
    """What must be the same in every language: each element with its attributes (all but
    the translated ones), in order."""
    return _read(html).shape


def numbers(html: str) -> list[str]:
    """Every number in the page's text, sorted: a translation moves numbers, never changes them."""
    return sorted(_read(html).numbers)


def assert_same_but_the_words(english: str, korean: str) -> None:
    """``korean`` is ``english`` in Korean: no English left, the same elements and numbers."""
    assert english_left(korean) == []
    assert HANGUL.search(korean)
    assert skeleton(korean) == skeleton(english)
    assert numbers(korean) == numbers(english)


def browser_messages(page: str) -> dict[str, str]:
    """The messages a page embeds for its scripts (templates/base.html), English to Korean."""
    found = re.search(
        r'<script type="application/json" id="convlens-messages">(.*?)</script>', page, re.S
    )
    assert found, "no messages for the scripts"
    messages: dict[str, str] = json.loads(found.group(1))
    return messages
