"""Leaks the report must find, each at the right line."""

import unittest

from harness import LoopbackServer, ScenarioTest, connleak_run, program


class ThreeConnects(ScenarioTest):
    def test_two_of_three_connections_leak(self):
        with LoopbackServer() as server:
            run = connleak_run([program("three_connects"), str(server.port)])
        self.assertEqual(run.returncode, 0, run.stderr)
        leaks = run.findings("leaked-connection")
        self.assertEqual(len(run.findings()), 1, run.report["findings"])
        self.assertEqual(len(leaks), 1)
        finding = leaks[0]
        self.assertEqual(finding["count"], 2)
        self.assertEqual(finding["severity"], "error")
        self.assertEqual({i["peer"] for i in finding["instances"]}, {f"127.0.0.1:{server.port}"})
        self.assertTrue(all(i["protocol"] == "tcp" and i["family"] == "inet" for i in finding["instances"]))
        self.assert_stack_top(finding, "open_conn", "three_connects.c", "open_conn")
        self.assertIn(f"2 connections to 127.0.0.1:{server.port}", finding["message"])

    def test_all_closed_gives_no_finding(self):
        with LoopbackServer() as server:
            run = connleak_run([program("three_connects"), str(server.port), "close-all"])
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assert_no_findings(run)

    def test_error_exitcode(self):
        with LoopbackServer() as server:
            run = connleak_run([program("three_connects"), str(server.port)], ["--error-exitcode", "23"])
        self.assertEqual(run.returncode, 23, run.stderr)
        self.assertIn("SUMMARY: connleak: 1 leaked-connection (2 instances)", run.stderr)


class UnconnectedSockets(ScenarioTest):
    def test_listener_and_udp_socket(self):
        run = connleak_run([program("unconnected_sockets")])
        self.assertEqual(run.findings("leaked-connection"), [])
        leaks = sorted(run.findings("leaked-socket"), key=lambda f: f["stack"][0]["function"])
        self.assertEqual([f["count"] for f in leaks], [1, 1])
        self.assert_stack_top(leaks[0], "make_listener", "unconnected_sockets.c", "make_listener")
        self.assert_stack_top(leaks[1], "make_udp", "unconnected_sockets.c", "make_udp")
        self.assertTrue(leaks[0]["instances"][0]["listening"])
        self.assertTrue(leaks[0]["instances"][0]["local"].startswith("127.0.0.1:"))
        self.assertEqual(leaks[1]["instances"][0]["protocol"], "udp")


class Threads(ScenarioTest):
    def test_sixteen_threads_one_leak_each(self):
        run = connleak_run([program("threads_leak")])
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(len(run.findings()), 1, run.report["findings"])
        finding = run.findings("leaked-socket")[0]
        self.assertEqual(finding["count"], 16)
        self.assert_stack_top(finding, "leak_one", "threads_leak.c", "leak_one")
        self.assertEqual(run.report["summary"]["sockets_opened"], 16 * 1001)


class CloseEverything(ScenarioTest):
    def test_close_range_all_then_leak(self):
        with LoopbackServer() as server:
            run = connleak_run([program("close_everything"), str(server.port)])
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(len(run.findings()), 1, run.report["findings"])
        finding = run.findings("leaked-connection")[0]
        self.assertEqual(finding["count"], 1)
        self.assert_stack_top(finding, "leak_after_close_all", "close_everything.c", "leak_after_close_all")


class Libraries(ScenarioTest):
    def test_library_loaded_with_dlopen_symbolizes(self):
        with LoopbackServer() as server:
            run = connleak_run([program("dlopen_plugin"), str(server.port), program("leaky_plugin.so")])
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(len(run.findings()), 1, run.report["findings"])
        finding = run.findings("leaked-connection")[0]
        self.assert_stack_top(finding, "plugin_connect", "leaky_plugin.c", "plugin_connect")
        self.assertTrue(finding["stack"][0]["module"].endswith("leaky_plugin.so"))

    def test_socket_opened_before_the_shims_constructor(self):
        run = connleak_run([program("early_socket")])
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(len(run.findings()), 1, run.report["findings"])
        finding = run.findings("leaked-socket")[0]
        self.assert_stack_top(finding, "early_socket", "early_library.c", "early_socket")


class StackDepth(ScenarioTest):
    def test_depth_is_configurable(self):
        with LoopbackServer() as server:
            run = connleak_run([program("three_connects"), str(server.port)],
                               env={"CONNLEAK_STACK_DEPTH": "1"})
        finding = run.findings("leaked-connection")[0]
        self.assertEqual([f["function"] for f in finding["stack"] if not f["inlined"]], ["open_conn"])


if __name__ == "__main__":
    unittest.main()
