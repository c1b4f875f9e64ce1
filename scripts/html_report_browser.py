#!/usr/bin/python3
"""Opens a connleak HTML report in Debian's chromium, headless (through its
chromedriver and Debian's python3-selenium), and saves a screenshot:

    scripts/html_report_browser.py REPORT.html OUT.png [--select-first-finding]

--select-first-finding clicks the report's first finding, which shows its
first bar's details and creation stack. The browser test
(tests/timeline/test_browser.py) starts the browser the same way."""

import argparse
import os
import shutil
import sys
import tempfile

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
# Headless, and nothing that would reach out of this machine.
CHROMIUM_FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-extensions", "--hide-scrollbars"]


def start_browser(profile, width=1400, height=1000):
    """A headless chromium with its own profile directory; console messages
    are kept for get_log("browser")."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS + [f"--window-size={width},{height}", "--user-data-dir=" + profile]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report")
    parser.add_argument("png")
    parser.add_argument("--select-first-finding", action="store_true")
    parser.add_argument("--size", default="1400x900", help="window size, WIDTHxHEIGHT")
    args = parser.parse_args()
    if not os.path.isfile(args.report):
        sys.exit(f"html_report_browser: {args.report}: no such file")
    width, height = (int(v) for v in args.size.split("x"))
    profile = tempfile.mkdtemp(prefix="connleak-chromium-")
    browser = start_browser(profile, width, height)
    try:
        browser.get("file://" + os.path.abspath(args.report))
        if not browser.execute_script("return !!(window.connleakReport && window.connleakReport.drawn())"):
            sys.exit(f"html_report_browser: {args.report}: not a connleak HTML report, or its script failed")
        if args.select_first_finding:
            findings = browser.find_elements(By.CSS_SELECTOR, "#findings li")
            if findings:
                findings[0].click()
        browser.save_screenshot(args.png)
        errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        for message in errors:
            print(f"html_report_browser: console error: {message}", file=sys.stderr)
        return 1 if errors else 0
    finally:
        browser.quit()
        shutil.rmtree(profile, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
