"""The HTML report in a real browser: Debian's chromium, headless, driven by
its chromedriver through Debian's python3-selenium. On the story run the
page loads without console errors, lays out every bar, shows a leaked bar's
creation stack when it is clicked (a real mouse click on the canvas), and
shows hostile argv and socket paths as text. A 10 k-connection run loads
and lays out every bar; the time to its first frame is printed (the
benchmark, bench/timeline_render.py, is where it is measured).
Screenshots go to $TIMELINE_ARTIFACTS for CI to keep."""

import os
import shutil
import subprocess
import sys
import tempfile
import unittest

from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

from timeline_harness import (ARTIFACTS, CONNLEAK, EXAMPLES_DIR, HOSTILE_ARG, HOSTILE_SOCKET_NAME,
                              many_connections_run, story_run)

sys.path.insert(0, os.environ["SCRIPTS_DIR"])
from html_report_browser import start_browser  # noqa: E402  (scripts/, shared with the screenshot tool)


class BrowserTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.profile = tempfile.mkdtemp(prefix="connleak-chromium-")
        cls.browser = start_browser(cls.profile)

    @classmethod
    def tearDownClass(cls):
        cls.browser.quit()
        shutil.rmtree(cls.profile, ignore_errors=True)

    def load(self, run):
        self.browser.get("file://" + run.html)
        self.browser.get_log("browser")  # what an earlier page logged
        self.browser.refresh()
        self.assertTrue(self.js("return window.connleakReport && window.connleakReport.drawn()"))

    def js(self, script, *args):
        return self.browser.execute_script(script, *args)

    def console_errors(self):
        return [entry for entry in self.browser.get_log("browser") if entry["level"] == "SEVERE"]

    def screenshot(self, name):
        os.makedirs(ARTIFACTS, exist_ok=True)
        path = os.path.join(ARTIFACTS, name)
        self.browser.save_screenshot(path)
        print(f"\nscreenshot: {path}")

    def click_bar(self, index):
        """Scrolls bar `index` into view and clicks its middle, as a user would."""
        rect = self.js("return window.connleakReport.scrollToBar(arguments[0])", index)
        self.assertIsNotNone(rect, f"bar {index} is not on screen")
        canvas = self.browser.find_element(By.ID, "timeline-canvas")
        origin = self.js("const r = arguments[0].getBoundingClientRect(); return [r.left, r.top, r.width, r.height]",
                         canvas)
        # Selenium offsets are from the element's centre.
        x = rect["x"] + min(rect["width"], 40) / 2 - (origin[0] + origin[2] / 2)
        y = rect["y"] + rect["height"] / 2 - (origin[1] + origin[3] / 2)
        ActionChains(self.browser).move_to_element_with_offset(canvas, int(x), int(y)).click().perform()

    def details(self):
        panel = self.browser.find_element(By.ID, "details")
        self.assertTrue(panel.is_displayed())
        names = [e.text for e in panel.find_elements(By.CSS_SELECTOR, "dt")]
        values = [e.get_attribute("textContent") for e in panel.find_elements(By.CSS_SELECTOR, "dd")]
        stack = [e.get_attribute("textContent") for e in panel.find_elements(By.CSS_SELECTOR, "#details-stack li")]
        return dict(zip(names, values)), stack


class StoryInTheBrowser(BrowserTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.run_ = story_run()
        cls.data = cls.run_.page_data()

    @classmethod
    def tearDownClass(cls):
        super().tearDownClass()
        cls.run_.remove()

    def setUp(self):
        self.load(self.run_)

    def bar_index(self, predicate):
        return next(i for i, b in enumerate(self.data["bars"]) if predicate(b))

    def test_loads_without_console_errors(self):
        self.assertEqual(self.console_errors(), [])
        self.screenshot("timeline-story.png")

    def test_shows_every_process_and_bar(self):
        rows = self.browser.find_elements(By.CSS_SELECTOR, "#processes tbody tr")
        self.assertEqual(len(rows), len(self.data["processes"]))
        self.assertEqual(self.js("return window.connleakReport.barsLaidOut()"), len(self.data["bars"]))
        # One row per process, then its packed lanes.
        self.assertGreaterEqual(self.js("return window.connleakReport.rows()"), len(self.data["processes"]) + 2)
        findings = self.browser.find_elements(By.CSS_SELECTOR, "#findings li")
        self.assertEqual(len(findings), len(self.data["findings"]))

    def test_clicking_a_leaked_bar_shows_its_stack(self):
        index = self.bar_index(lambda b: b.get("tcp") == "CLOSE_WAIT" and b.get("finding") == "leaked-connection")
        self.click_bar(index)
        fields, stack = self.details()
        self.assertEqual(fields["finding"], "leaked-connection")
        self.assertEqual(fields["TCP state"], "CLOSE_WAIT")
        self.assertIn("idle", fields)
        self.assertRegex(fields["bytes"], r"^5 sent, 0 received$")
        self.assertTrue(any("leak_after_peer_closed" in f and "timeline_story.c:" in f for f in stack), stack)
        self.screenshot("timeline-story-selected.png")

    def test_clicking_a_session_lists_it(self):
        index = self.bar_index(lambda b: b["k"] == "session" and b.get("finding") == "leaked-session")
        self.click_bar(index)
        fields, stack = self.details()
        self.assertEqual(fields["api"], "user:pool")
        self.assertEqual(fields["finding"], "leaked-session")
        self.assertTrue(any("main" in f for f in stack), stack)

    def test_hostile_strings_are_shown_as_text(self):
        self.assertIsNone(self.js("return window.__pwned === undefined ? null : window.__pwned"))
        self.assertEqual(self.js("return document.images.length"), 0)
        self.assertEqual(self.js("return document.querySelectorAll('svg, iframe, object').length"), 0)
        command = self.browser.find_element(By.ID, "command").get_attribute("textContent")
        self.assertTrue(command.endswith(HOSTILE_ARG), command)
        cells = [c.get_attribute("textContent") for c in
                 self.browser.find_elements(By.CSS_SELECTOR, "#processes td.command")]
        self.assertIn(" ".join(self.run_.argv), cells)
        index = self.bar_index(lambda b: b.get("peer", "").endswith(HOSTILE_SOCKET_NAME))
        self.click_bar(index)
        fields, _ = self.details()
        self.assertTrue(fields["peer"].endswith("/" + HOSTILE_SOCKET_NAME), fields)
        self.assertIsNone(self.js("return window.__pwned === undefined ? null : window.__pwned"))
        self.assertEqual(self.console_errors(), [])

    def test_filters_by_kind_process_and_peer(self):
        bars = self.data["bars"]
        peer = self.browser.find_element(By.ID, "peer-filter")
        peer.send_keys(HOSTILE_SOCKET_NAME)
        matching = [b for b in bars if HOSTILE_SOCKET_NAME in b.get("peer", "") + b.get("local", "")]
        self.assertEqual(self.js("return window.connleakReport.barsLaidOut()"), len(matching))
        peer.clear()
        self.js("const e = document.getElementById('peer-filter'); e.dispatchEvent(new Event('input'))")
        self.assertEqual(self.js("return window.connleakReport.barsLaidOut()"), len(bars))
        self.browser.find_element(By.CSS_SELECTOR, "#kind-filter input[value='']").click()
        self.assertEqual(self.js("return window.connleakReport.barsLaidOut()"), len([b for b in bars if b.get("finding")]))
        root = next(i for i, p in enumerate(self.data["processes"]) if p["origin"] == "exec")
        self.browser.find_element(By.CSS_SELECTOR, f"#process-filter option[value='{root}']").click()
        self.assertEqual(self.js("return window.connleakReport.barsLaidOut()"),
                         len([b for b in bars if b.get("finding") and b["p"] == root]))

    def test_zoom_changes_the_view(self):
        before = self.browser.find_element(By.ID, "view-range").text
        self.browser.find_element(By.ID, "zoom-in").click()
        self.assertNotEqual(self.browser.find_element(By.ID, "view-range").text, before)
        self.browser.find_element(By.ID, "zoom-fit").click()
        self.assertEqual(self.browser.find_element(By.ID, "view-range").text, before)


class DemoInTheBrowser(BrowserTest):
    """The README's command: connleak run --format html on the example."""

    def test_example_report(self):
        out = tempfile.mkdtemp(prefix="connleak-demo-")
        try:
            html = os.path.join(out, "r.html")
            run = subprocess.run([CONNLEAK, "run", "--format", "html", "--report", html, "--output-dir",
                                  os.path.join(out, "traces"), "--", os.path.join(EXAMPLES_DIR, "leaky_client")],
                                 capture_output=True, text=True, timeout=120)
            self.assertEqual(run.returncode, 0, run.stderr)
            self.assertIn("SUMMARY: connleak: 1 leaked-connection (3 instances)", run.stderr)
            self.browser.get("file://" + html)
            self.assertTrue(self.js("return window.connleakReport.drawn()"))
            self.assertEqual(self.console_errors(), [])
            self.browser.find_element(By.CSS_SELECTOR, "#findings li").click()
            fields, stack = self.details()
            self.assertEqual(fields["finding"], "leaked-connection")
            self.assertTrue(any("fetch_status" in f and "leaky_client.c:" in f for f in stack), stack)
            self.screenshot("timeline-demo.png")
        finally:
            shutil.rmtree(out, ignore_errors=True)


class TenThousandConnections(BrowserTest):
    def test_renders_every_bar(self):
        run = many_connections_run(10000)
        try:
            bars = len(run.page_data()["bars"])
            self.assertGreaterEqual(bars, 20000)
            self.load(run)
            self.assertEqual(self.console_errors(), [])
            self.assertEqual(self.js("return window.connleakReport.barsLaidOut()"), bars)
            first_frame = self.js("return window.connleakReport.renderedMs")
            print(f"\n{bars} bars: first frame {first_frame} ms after navigation (not a pass criterion)")
            self.screenshot("timeline-10k.png")
        finally:
            run.remove()


if __name__ == "__main__":
    unittest.main()
