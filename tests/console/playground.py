"""Drives the rate playground of `credits serve` in headless Chromium (Debian's package,
never a downloaded browser) and prints what it saw as one JSON object on stdout; the Rust
test (functions/cli/tests/console_browser.rs) asserts on it.

usage: playground.py BASE_URL SCREENSHOT_DIR
"""

import json
import sys

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
# Every wait is bounded: the page answers in milliseconds, a start takes a second or two.
TIMEOUT_MS = 30_000

BOOK = "invideo.rates"
# The error is typed at the start of this line of the book (1-based), then deleted.
ERROR_LINE = 14
ERROR_TEXT = "bogus "


def main() -> None:
    base, screenshots = sys.argv[1], sys.argv[2]
    seen: dict = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        # Playwright's `wait_for_function` evaluates its text in the page, which the console's
        # Content-Security-Policy forbids; explorer.py runs the console with the policy on.
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
        page.set_default_timeout(TIMEOUT_MS)
        failed_requests = []
        page.on("requestfailed", lambda request: failed_requests.append(request.url))
        page.goto(f"{base}/console/")
        page.wait_for_selector("body[data-ready='true']")
        page.select_option("#book-select", BOOK)
        page.wait_for_function("document.getElementById('file-name').value === 'invideo.rates'")
        seen["initial_status"] = page.inner_text("#check-status")
        seen["examples_summary"] = page.inner_text("#expects-summary")

        # Type an error at the start of ERROR_LINE, key by key.
        textarea = page.locator("#source")
        textarea.focus()
        page.evaluate(
            """(line) => {
                const area = document.getElementById('source');
                const lines = area.value.split('\\n');
                const at = lines.slice(0, line - 1).reduce((sum, text) => sum + text.length + 1, 0);
                area.setSelectionRange(at, at);
            }""",
            ERROR_LINE,
        )
        seen["error_source_line"] = page.evaluate(
            "(line) => document.getElementById('source').value.split('\\n')[line - 1]", ERROR_LINE
        )
        analysed = int(page.evaluate("document.body.dataset.analysed"))
        page.keyboard.type(ERROR_TEXT)
        page.wait_for_selector("#diagnostics li.diagnostic")
        # Typing may coalesce keys into one frame: wait for the analysis of the whole text.
        page.wait_for_function(
            "(text) => document.getElementById('source').value.includes(text)", arg=ERROR_TEXT
        )
        page.wait_for_function(
            f"Number(document.body.dataset.analysed) > {analysed}"
            " && document.querySelectorAll('#diagnostics li.diagnostic').length > 0"
        )
        page.wait_for_timeout(100)
        seen["keystroke_to_diagnostic_ms"] = float(page.evaluate("document.body.dataset.analyseMs"))
        # Each keystroke of the error, typed one by one (with the page's own work between).
        times = []
        for character in "# timing":
            before = int(page.evaluate("document.body.dataset.analysed"))
            page.keyboard.type(character)
            page.wait_for_function(f"Number(document.body.dataset.analysed) > {before}")
            times.append(float(page.evaluate("window.consoleTimings[window.consoleTimings.length - 1]")))
        for _ in "# timing":
            page.keyboard.press("Backspace")
        page.wait_for_function("!document.getElementById('source').value.includes('# timing')")
        page.wait_for_timeout(200)  # the last frame's analysis
        times.sort()
        seen["keystroke_timings_ms"] = {
            "count": len(times), "median": times[len(times) // 2], "max": times[-1],
        }
        seen["source_with_error"] = page.input_value("#source")
        seen["diagnostics"] = page.evaluate(
            """() => [...document.querySelectorAll('#diagnostics li.diagnostic')].map((item) => ({
                line: Number(item.dataset.line), column: Number(item.dataset.column),
                message: item.querySelector('.message').textContent,
                help: (item.querySelector('.help') || {textContent: ''}).textContent,
            }))"""
        )
        seen["marked"] = page.evaluate(
            "[...document.querySelectorAll('#highlight .tm-error')].map((node) => node.textContent)"
        )
        seen["status_with_error"] = page.inner_text("#check-status")

        # Fix it: delete what was typed.
        for _ in ERROR_TEXT:
            page.keyboard.press("Backspace")
        page.wait_for_selector("#diagnostics li.ok")
        seen["status_fixed"] = page.inner_text("#check-status")
        seen["diagnostics_fixed"] = page.locator("#diagnostics li.diagnostic").count()

        # The quote form, generated from the feature's inputs.
        page.select_option("#quote-feature", "generative_video")
        page.fill("#input-duration", "3m30s")
        page.select_option("#input-model", "pro")
        page.click("#quote-form button[type=submit]")
        page.wait_for_function("document.getElementById('quote-total').textContent !== ''")
        seen["quote_labels"] = page.evaluate(
            "[...document.querySelectorAll('#quote-inputs label')].map((label) => label.textContent)"
        )
        seen["quote_amounts"] = page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('#quote-amounts li')]"
            ".map((item) => [item.dataset.unit, item.dataset.amount]))"
        )
        seen["quote_lines"] = page.evaluate(
            "[...document.querySelectorAll('#quote-lines li')].map((item) => item.textContent)"
        )
        seen["quote_total"] = page.inner_text("#quote-total")

        # A price change shows in the comparison with the server's version.
        page.evaluate(
            """() => {
                const area = document.getElementById('source');
                area.value = area.value.replace('base 20 credit per minute', 'base 25 credit per minute');
                area.dispatchEvent(new Event('input'));
            }"""
        )
        page.wait_for_function("document.querySelectorAll('#compare tbody tr').length > 0")
        seen["compare_rows"] = page.locator("#compare tbody tr").count()
        seen["compare_first"] = page.inner_text("#compare tbody tr >> nth=0")
        seen["examples_after_change"] = page.inner_text("#expects-summary")
        # The screenshot: a price changed, its failing examples as diagnostics, a quote, the
        # examples and the price changes against the server's version.
        page.evaluate(
            """() => {
                const area = document.getElementById('source');
                area.scrollTop = 260;
                area.dispatchEvent(new Event('scroll'));
            }"""
        )
        page.screenshot(path=f"{screenshots}/playground.png", full_page=False)

        # Share: the link carries the edited file and opens it.
        page.click("#share")
        link = page.get_attribute("#share-link", "href")
        other = browser.new_page(bypass_csp=True)
        other.set_default_timeout(TIMEOUT_MS)
        other.goto(link)
        other.wait_for_selector("body[data-ready='true']")
        seen["shared_round_trip"] = other.input_value("#source") == page.input_value("#source")
        other.close()

        # 200 % zoom of a 1400 px window: the page reflows instead of scrolling sideways (the
        # editor and the tables scroll inside themselves).
        page.set_viewport_size({"width": 700, "height": 500})
        seen["overflow_at_200_percent_px"] = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        seen["failed_requests"] = failed_requests
        browser.close()
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
