"""Drives the account explorer of `credits serve` in headless Chromium: loads an account,
reads its balance and entries, and refunds a charge from the charge's row. Prints what it saw
as one JSON object; functions/cli/tests/console_browser.rs asserts on it.

usage: explorer.py BASE_URL ADMIN_KEY ACCOUNT CHARGE_ID REASON SCREENSHOT_DIR
"""

import json
import sys

from playwright.sync_api import sync_playwright

from playground import ARGS, CHROMIUM, TIMEOUT_MS


def rows(page):
    return page.evaluate(
        """() => [...document.querySelectorAll('#entries tbody tr')].map((row) => ({
            type: row.dataset.type, operation: row.dataset.operation, amount: row.dataset.amount,
        }))"""
    )


def spend(page):
    """The spend table: header, then one row per day, as texts."""
    return page.evaluate(
        """() => [...document.querySelectorAll('#spend-table tr')].map((row) =>
            [...row.cells].map((cell) => cell.textContent))"""
    )


def main() -> None:
    base, key, account, charge, reason, screenshots = sys.argv[1:7]
    seen: dict = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(TIMEOUT_MS)
        # The playground starts (its wasm compiled) under the console's Content-Security-Policy.
        errors = []
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.goto(f"{base}/console/")
        page.wait_for_selector("body[data-ready='true']")
        page.wait_for_selector("#diagnostics li.ok")
        seen["playground_errors_under_csp"] = list(errors)

        page.goto(f"{base}/console/explorer.html")
        page.wait_for_selector("body[data-ready='true']")

        # An unknown account: the problem's detail is shown, not JSON.
        page.fill("#api-key", key)
        page.fill("#account", f"{account}-missing")
        page.click("#connect button[type=submit]")
        page.wait_for_selector("#problem:not([hidden])")
        seen["problem"] = page.inner_text("#problem")

        page.fill("#account", account)
        page.click("#connect button[type=submit]")
        page.wait_for_selector("body[data-loaded='1']")
        page.wait_for_selector("#problem[hidden]", state="attached")
        seen["balance"] = page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('#balance tbody tr')]"
            ".map((row) => [row.dataset.unit, row.dataset.available]))"
        )
        seen["buckets"] = page.locator("#buckets tbody tr").count()
        seen["entries_before"] = rows(page)
        seen["spend_before"] = spend(page)

        # CSV export of the entries shown.
        with page.expect_download() as download:
            page.click("#export-csv")
        with open(download.value.path(), encoding="utf-8") as exported:
            seen["csv"] = exported.read()
        seen["csv_name"] = download.value.suggested_filename

        # Refund the charge from its row, by keyboard.
        row = page.locator(f"#entries tbody tr[data-operation='{charge}'][data-type='charge']")
        row.locator("button.refund").click()
        page.keyboard.type(reason)
        page.keyboard.press("Enter")
        page.wait_for_selector("#entries tbody tr[data-type='refund']")
        seen["entries_after"] = rows(page)
        seen["spend_after"] = spend(page)
        seen["balance_after"] = page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('#balance tbody tr')]"
            ".map((row) => [row.dataset.unit, row.dataset.available]))"
        )

        # The filter narrows to charges.
        page.select_option("#filter-type", "charge")
        page.click("#filters button[type=submit]")
        page.wait_for_selector("#entries tbody tr[data-type='refund']", state="detached")
        seen["charges_only"] = rows(page)
        page.select_option("#filter-type", "")
        page.click("#filters button[type=submit]")
        page.wait_for_selector("#entries tbody tr[data-type='refund']")
        page.screenshot(path=f"{screenshots}/explorer.png", full_page=False)
        browser.close()
    print(json.dumps(seen))


if __name__ == "__main__":
    main()
