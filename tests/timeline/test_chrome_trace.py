"""--format chrome-trace, checked as a trace viewer reads it: every async
begin has exactly one end with its id, timestamps never go back on a
track, every process and thread is named, and the events say what the JSON
report says."""

import collections
import unittest

from timeline_harness import many_connections_run, story_run


def timed(events):
    return [e for e in events if e["ph"] != "M"]


class ChromeTraceStructure:
    """Checks every run's trace the same way (mixed into the test cases)."""

    def test_is_a_trace_event_object(self):
        self.assertIsInstance(self.trace["traceEvents"], list)
        self.assertEqual(self.trace["displayTimeUnit"], "ms")
        for e in self.trace["traceEvents"]:
            for key in ("ph", "name", "pid", "tid"):
                self.assertIn(key, e)
            if e["ph"] != "M":
                self.assertIsInstance(e["ts"], (int, float))
                self.assertGreaterEqual(e["ts"], 0)

    def test_every_begin_has_one_end_with_its_id(self):
        open_ids, closed_ids = {}, set()
        for e in self.trace["traceEvents"]:
            if e["ph"] == "b":
                key = (e["cat"], e["id"])
                self.assertNotIn(key, open_ids, "id reused while open")
                self.assertNotIn(key, closed_ids, "id reused")
                open_ids[key] = e
            elif e["ph"] == "e":
                key = (e["cat"], e["id"])
                self.assertIn(key, open_ids, "end without begin")
                begin = open_ids.pop(key)
                self.assertGreaterEqual(e["ts"], begin["ts"])
                self.assertEqual((e["pid"], e["tid"]), (begin["pid"], begin["tid"]))
                closed_ids.add(key)
        self.assertEqual(open_ids, {}, "begins without an end")
        self.assertGreater(len(closed_ids), 0)

    def test_timestamps_are_monotonic_per_track(self):
        last = {}
        for e in timed(self.trace["traceEvents"]):
            track = (e["pid"], e["name"]) if e["ph"] == "C" else (e["pid"], e["tid"])
            self.assertGreaterEqual(e["ts"], last.get(track, 0), f"time goes back on {track}")
            last[track] = e["ts"]

    def test_processes_and_threads_are_named(self):
        events = self.trace["traceEvents"]
        named_pids = {e["pid"] for e in events if e["ph"] == "M" and e["name"] == "process_name"}
        named_threads = {(e["pid"], e["tid"]) for e in events if e["ph"] == "M" and e["name"] == "thread_name"}
        for e in timed(events):
            self.assertIn(e["pid"], named_pids)
            if e["ph"] != "C":
                self.assertIn((e["pid"], e["tid"]), named_threads)

    def test_open_connections_counter_never_negative(self):
        counters = [e for e in self.trace["traceEvents"] if e["ph"] == "C"]
        self.assertTrue(counters)
        for e in counters:
            self.assertEqual(e["name"], "open connections")
            self.assertGreaterEqual(e["args"]["open"], 0)

    def test_leaks_match_the_json_report(self):
        leaked = sum(f["count"] for f in self.report["findings"] if f["kind"] == "leaked-connection")
        begins = [e for e in self.trace["traceEvents"]
                  if e["ph"] == "b" and e["args"].get("finding") == "leaked-connection"]
        self.assertEqual(len(begins), leaked)
        self.assertGreater(leaked, 0)


class StoryTrace(ChromeTraceStructure, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.run_ = story_run()
        cls.trace, cls.report = cls.run_.chrome_trace, cls.run_.json

    @classmethod
    def tearDownClass(cls):
        cls.run_.remove()

    def test_instant_events_for_connect_close_fork_exec(self):
        names = collections.Counter(e["name"] for e in self.trace["traceEvents"] if e["ph"] == "i")
        for name in ("connect", "accept", "close", "fork", "exec", "invalidate"):
            self.assertGreater(names[name], 0, name)

    def test_leaked_connection_carries_its_stack(self):
        leaked = [e for e in self.trace["traceEvents"]
                  if e["ph"] == "b" and e["args"].get("finding") == "leaked-connection"]
        self.assertTrue(any("timeline_story.c" in frame for e in leaked for frame in e["args"]["stack"]))
        ends = {e["id"]: e for e in self.trace["traceEvents"] if e["ph"] == "e"}
        states = {ends[e["id"]]["args"].get("tcp_state") for e in leaked}
        self.assertIn("CLOSE_WAIT", states)

    def test_sessions_are_async_pairs(self):
        sessions = [e for e in self.trace["traceEvents"] if e["ph"] == "b" and e["cat"] == "session"]
        self.assertEqual(sorted(e["name"] for e in sessions), ["user:pool", "user:pool"])
        self.assertEqual(sorted(e["args"].get("finding", "") for e in sessions), ["", "leaked-session"])

    def test_images_of_one_pid_are_threads_of_one_process(self):
        threads = collections.defaultdict(set)
        for e in self.trace["traceEvents"]:
            if e["ph"] == "M" and e["name"] == "thread_name":
                threads[e["pid"]].add(e["args"]["name"])
        self.assertIn({"true"}, [names - {n for n in names if "timeline_story" in n} for names in threads.values()])


class ManyConnectionsTrace(ChromeTraceStructure, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.run_ = many_connections_run(3000)
        cls.trace, cls.report = cls.run_.chrome_trace, cls.run_.json

    @classmethod
    def tearDownClass(cls):
        cls.run_.remove()

    def test_every_connection_is_drawn(self):
        begins = [e for e in self.trace["traceEvents"] if e["ph"] == "b" and e["cat"] == "connection"]
        self.assertEqual(len(begins), 2 * 3000)  # both ends of each


if __name__ == "__main__":
    unittest.main()
