"""Every page checked by axe-core, at desktop and phone widths, in light and dark schemes:
no serious or critical violation (colour contrast included: WCAG 2.1 AA).

axe-core is vendored under tests/browser/vendor/ (see its README) and added to each page by
Playwright. Its script is not ours to serve, so this test's browser context bypasses the
Content-Security-Policy that would block it; every other test keeps the policy.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.browser.conftest import Shoot, assert_clean, open_page

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
PAGES = ["/", "/lesson/padding", "/convolve", "/receptive-field", "/reconstruct", "/models"]
SIZES = {"desktop": {"width": 1280, "height": 800}, "phone": {"width": 390, "height": 844}}
# WCAG 2.0 and 2.1, levels A and AA, and axe's best practices.
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]


def violations(page: Page) -> list[dict[str, Any]]:
    """axe's serious and critical violations on ``page`` as it is now."""
    page.add_script_tag(path=str(AXE))
    found: list[dict[str, Any]] = page.evaluate(
        """async tags => {
          const result = await axe.run(document, {runOnly: {type: 'tag', values: tags},
                                                  resultTypes: ['violations']});
          return result.violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.slice(0, 5).map(n => n.target.join(' ') + ': ' +
                                                         n.failureSummary)}));
        }""",
        TAGS,
    )
    return found


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("path", PAGES)
def test_no_serious_axe_violations(browser: Browser, live_server: str, shoot: Shoot,
                                   path: str, size: str, scheme: str) -> None:
    phone = size == "phone"
    page, problems = open_page(browser, live_server, viewport=SIZES[size], bypass_csp=True,
                               color_scheme=scheme, is_mobile=phone, has_touch=phone)
    page.goto(path)
    page.wait_for_load_state("networkidle")
    found = violations(page)
    assert found == [], "\n".join(f"{v['id']} ({v['impact']}): {v['help']}\n  " +
                                  "\n  ".join(v["nodes"]) for v in found)
    assert_clean(page, problems)
    page.context.close()


def test_no_serious_axe_violations_with_a_problem_and_a_zoom(
    browser: Browser, live_server: str, allowed_console: list[str]
) -> None:
    # The states a page reaches by use: a problem shown over a dimmed result, zoomed pictures,
    # an explained pixel.
    page, problems = open_page(browser, live_server, viewport=SIZES["desktop"], bypass_csp=True)
    page.goto("/convolve")
    page.click("[data-zoom='in']")
    page.click("#output-frame")
    page.wait_for_selector("#explained")
    page.fill("#stride", "")
    page.wait_for_selector("#error-stride .problem")
    found = violations(page)
    assert found == [], found
    assert_clean(page, problems)
    page.context.close()
