"""--format html without a browser: the page is one self-contained file,
trace strings cannot leave its data element, and the data says what the
run did (the browser test, test_browser.py, checks what the page shows)."""

import re
import unittest

from timeline_harness import HOSTILE_ARG, HOSTILE_SOCKET_NAME, many_connections_run, story_run

DATA_OPEN = '<script type="application/json" id="connleak-data">'


class StoryPage(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.run_ = story_run()
        with open(cls.run_.html, encoding="utf-8") as f:
            cls.page = f.read()
        cls.data = cls.run_.page_data()

    @classmethod
    def tearDownClass(cls):
        cls.run_.remove()

    def outside_data(self):
        start = self.page.index(DATA_OPEN) + len(DATA_OPEN)
        return self.page[:start] + self.page[self.page.index("</script>", start):]

    def test_loads_nothing_from_anywhere(self):
        markup = self.outside_data()
        self.assertNotRegex(markup, r"(?i)<(link|img|iframe|object|embed)\b")
        self.assertNotRegex(markup, r"(?i)\b(src|href)\s*=")
        self.assertNotRegex(markup, r"(?i)url\(|@import|https?://")
        self.assertIn("default-src 'none'", markup)

    def test_trace_strings_cannot_close_the_data_element(self):
        start = self.page.index(DATA_OPEN) + len(DATA_OPEN)
        data_text = self.page[start:self.page.index("</script>", start)]
        self.assertNotIn("<", data_text)
        self.assertNotIn(">", data_text)
        self.assertEqual(len(re.findall(r"(?i)</script", self.page)), 2)  # the data's and the script's own

    def test_hostile_strings_survive_as_data(self):
        root = next(p for p in self.data["processes"] if p["parent"] < 0)
        self.assertEqual(root["argv"][2], HOSTILE_ARG)
        peers = [b.get("peer", "") for b in self.data["bars"]]
        self.assertTrue(any(p.endswith("/" + HOSTILE_SOCKET_NAME) for p in peers), peers)

    def test_process_tree(self):
        procs = self.data["processes"]
        self.assertEqual(len(procs), 4, [p["argv"] for p in procs])
        origins = sorted(p["origin"] for p in procs)
        self.assertEqual(origins, ["", "exec", "fork", "fork"])
        true_image = next(p for p in procs if p["origin"] == "exec")
        self.assertEqual(true_image["argv"], ["true"])
        self.assertEqual(procs[true_image["parent"]]["origin"], "fork")

    def test_bars_say_what_happened(self):
        bars = self.data["bars"]
        closed_exchange = [b for b in bars if b["k"] == "connection" and not b["open"] and b.get("sent")]
        self.assertTrue(closed_exchange, "the closed connection with I/O")
        self.assertTrue(all("ta" in b for b in closed_exchange))
        root = next(i for i, p in enumerate(self.data["processes"]) if p["parent"] < 0)
        dead = [b for b in bars if b.get("tcp") == "CLOSE_WAIT" and b["p"] == root]
        self.assertEqual([b.get("finding") for b in dead], ["leaked-connection"])
        # The exec'ing child passed its copies on (no close-on-exec) to /bin/true.
        passed_on = [b for b in bars if b.get("finding") == "inherited-socket"]
        self.assertEqual(len(passed_on), 3)
        self.assertTrue(all(self.data["processes"][b["p"]]["argv"] == ["true"] for b in passed_on))
        self.assertTrue(dead[0]["open"])
        sessions = sorted((b.get("finding", ""), b["open"]) for b in bars if b["k"] == "session")
        self.assertEqual(sessions, [("", False), ("leaked-session", True)])
        for b in bars:
            self.assertLessEqual(b["t0"], b["t1"])
            proc = self.data["processes"][b["p"]]
            self.assertLessEqual(b["t1"], proc["end"])

    def test_findings_link_to_their_bars(self):
        for index, finding in enumerate(self.data["findings"]):
            if finding["kind"] in ("leaked-connection", "leaked-session"):
                linked = [b for b in self.data["bars"] if b.get("fi") == index]
                self.assertEqual(len(linked), finding["count"], finding["message"])

    def test_stacks_name_the_source_line(self):
        leaked = next(b for b in self.data["bars"] if b.get("tcp") == "CLOSE_WAIT")
        frames = self.data["stacks"][leaked["stack"]]
        self.assertIn("leak_after_peer_closed", [f["function"] for f in frames])
        self.assertTrue(any(f["file"].endswith("timeline_story.c") and f["line"] > 0 for f in frames))


class ManyConnectionsPage(unittest.TestCase):
    def test_every_connection_is_in_the_page(self):
        run = many_connections_run(3000)
        try:
            data = run.page_data()
            connections = [b for b in data["bars"] if b["k"] == "connection"]
            self.assertEqual(len(connections), 6000)
            self.assertEqual(len([b for b in connections if b.get("finding") == "leaked-connection"]), 3)
            self.assertEqual(data["bars_not_drawn"], 0)
            # One loop, one stack: symbolized once, not per connection.
            self.assertLess(len(data["stacks"]), 10)
        finally:
            run.remove()


if __name__ == "__main__":
    unittest.main()
