"""The /convolve page in Chromium: does a phone photo cost what a small one costs?

    python benchmarks/pages.py               # 5 trials per photo size
    python benchmarks/pages.py --trials 3 --no-write

Starts a server (uvicorn, default settings) and drives the real page in Debian's Chromium
(Playwright, the browser tests' flags). Each trial opens the page, uploads a photo and then
changes two controls, stride and then kernel, on the photo already uploaded; trials of a
12 MP JPEG (4032 x 3024, a few MB, `tests.phonephotos`) and of a 1 MP one (1155 x 866)
alternate. Every trial's photo is new (another noise seed), so no upload finds its photo
already decoded.

Times are taken in the page: from htmx sending the request to both pictures loaded (the
debounce before sending is the same for both sizes and left out). Bytes are what moved for
a change: request bodies and headers out, response bodies and headers in, every request
the change made (the fragment, and an input picture if it was not cached).

Targets (issue 15): a control change on the 12 MP photo <= 1.5x the same change on the
1 MP one, the first render after uploading it <= 3x, and a control change moving at most
about 300 KB at the default working size. Writes the ``## pages.py`` section of
benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

from playwright.sync_api import FilePayload, Page, Request, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.results import Report, write_section  # noqa: E402
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.phonephotos import phone_photo  # noqa: E402
from tests.servers import running_server  # noqa: E402

SIZES = {"12 MP": (4032, 3024), "1 MP": (1155, 866)}
CHANGE_TARGET = 1.5
FIRST_TARGET = 3.0
BYTES_TARGET = 300 * 1024
say = Report()

# Runs before the page's scripts: when the form's request leaves, and when each picture
# of the result has loaded (their load events do not bubble, so they are caught on the way
# down).
_TIMING_HOOK = """
window.__sent = null; window.__loaded = {};
document.addEventListener("htmx:beforeRequest", function (event) {
  if (event.detail.elt.id === "convolve-form") {
    window.__sent = performance.now(); window.__loaded = {};
  }
});
document.addEventListener("load", function (event) {
  const id = event.target.id;
  if (id === "input-image" || id === "output-image") window.__loaded[id] = performance.now();
}, true);
"""

_RENDERED = """() => window.__sent !== null && window.__loaded["input-image"] > window.__sent
  && window.__loaded["output-image"] > window.__sent"""


class Wire:
    """The requests made since the last `reset`, and the bytes they moved."""

    def __init__(self, page: Page) -> None:
        self.requests: list[Request] = []
        page.on("request", lambda request: self.requests.append(request))

    def reset(self) -> None:
        self.requests.clear()

    def bytes(self) -> tuple[int, int]:
        """Bytes sent (headers, bodies) and received (headers, bodies) by those requests,
        each counted once it has finished."""
        sent = received = 0
        for request in self.requests:
            response = request.response()
            if response is not None:
                response.finished()
            sizes = request.sizes()
            sent += sizes["requestHeadersSize"] + int(
                request.all_headers().get("content-length", "0"))
            # A picture from the browser's cache moved nothing (Chromium reports its body
            # size as minus its headers' size).
            received += max(0, sizes["responseHeadersSize"] + sizes["responseBodySize"])
        return sent, received


def rendered_ms(page: Page, act: Any) -> float:
    """Do ``act``, wait until the new result's pictures have loaded, return how long that
    took from the request leaving."""
    page.evaluate("window.__sent = null")
    act()
    page.wait_for_function(_RENDERED, timeout=60_000)
    elapsed: float = page.evaluate(
        "Math.max(window.__loaded['input-image'], window.__loaded['output-image'])"
        " - window.__sent")
    return elapsed


def trial(page: Page, wire: Wire, photo: bytes, results: dict[str, list[float]]) -> None:
    page.goto("/convolve")
    page.wait_for_load_state("networkidle")
    wire.reset()
    results["first"].append(rendered_ms(page, lambda: page.set_input_files(
        "#image", files=FilePayload(name="photo.jpg", mimeType="image/jpeg", buffer=photo))))
    page.wait_for_load_state("networkidle")
    results["first bytes"].append(sum(wire.bytes()))
    for act in (lambda: page.fill("#stride", "2"),
                lambda: page.select_option("#kernel", "box-blur")):
        wire.reset()
        results["change"].append(rendered_ms(page, act))
        page.wait_for_load_state("networkidle")
        sent, received = wire.bytes()
        results["change bytes"].append(sent + received)
        results["change sent"].append(sent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=5, help="uploads per photo size (5)")
    parser.add_argument("--no-write", action="store_true", help="leave RESULTS.md alone")
    args = parser.parse_args()
    if not CHROMIUM.exists():
        sys.exit(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set "
                 "CONVLENS_CHROMIUM)")
    photos = {name: [phone_photo(width, height, seed=seed) for seed in range(args.trials)]
              for name, (width, height) in SIZES.items()}
    results: dict[str, dict[str, list[float]]] = {
        name: {"first": [], "first bytes": [], "change": [], "change bytes": [],
               "change sent": []}
        for name in SIZES
    }
    with running_server() as (base, _), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=base, viewport={"width": 1280, "height": 900})
        context.add_init_script(_TIMING_HOOK)
        page = context.new_page()
        wire = Wire(page)
        trial(page, wire, phone_photo(800, 600, seed=99), {key: [] for key in
              ("first", "first bytes", "change", "change bytes", "change sent")})  # warm-up
        for index in range(args.trials):
            for name in SIZES:
                trial(page, wire, photos[name][index], results[name])
        browser.close()

    def median(name: str, key: str) -> float:
        return statistics.median(results[name][key])

    say(f"{args.trials} uploads per photo size, each followed by a stride and a kernel "
        "change; medians, times from the request leaving to both pictures loaded.")
    for name, (width, height) in SIZES.items():
        size_mb = statistics.median(len(photo) for photo in photos[name]) / 1e6
        say(f"{name} ({width}x{height}, JPEG {size_mb:.1f} MB): first render "
            f"{median(name, 'first'):.0f} ms ({median(name, 'first bytes') / 1024:.0f} KB), "
            f"control change {median(name, 'change'):.0f} ms "
            f"({median(name, 'change bytes') / 1024:.0f} KB moved, "
            f"{median(name, 'change sent') / 1024:.1f} KB of it sent)")
    change_ratio = median("12 MP", "change") / median("1 MP", "change")
    first_ratio = median("12 MP", "first") / median("1 MP", "first")
    heaviest = max(max(results[name]["change bytes"]) for name in SIZES)
    checks = [
        (f"control change, 12 MP / 1 MP: {change_ratio:.2f}x (target <= {CHANGE_TARGET}x)",
         change_ratio <= CHANGE_TARGET),
        (f"first render, 12 MP / 1 MP: {first_ratio:.2f}x (target <= {FIRST_TARGET}x)",
         first_ratio <= FIRST_TARGET),
        (f"heaviest control change: {heaviest / 1024:.0f} KB (target <= "
         f"{BYTES_TARGET // 1024} KB)", heaviest <= BYTES_TARGET),
    ]
    for line, met in checks:
        say(f"{line}: {'met' if met else 'MISSED'}")
    if not args.no_write:
        write_section("pages.py", " ".join(["python", "benchmarks/pages.py", *sys.argv[1:]]),
                      say.lines)


if __name__ == "__main__":
    main()
