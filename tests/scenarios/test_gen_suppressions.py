"""--gen-suppressions: each finding's rule, fed back with --suppressions,
suppresses that finding and no other."""

import json
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import CONNLEAK, LoopbackServer, ScenarioTest, leak_line, program

SOURCE = "suppression_sites.c"
EXPECTED_RULES = {
    "leaked-connection:^fetch_users$",
    "leaked-connection:^fetch_orders$",
    "leaked-connection:^open_direct$",
    "leaked-socket:^make_listener$",
}


def connleak(*args, timeout=60, env=None):
    return subprocess.run([CONNLEAK, *args], capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **(env or {})})


def generated_section(text):
    """The --gen-suppressions block of a text report or of stderr: from its
    header comment to the first line that is neither a comment, a rule nor
    blank."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# connleak --gen-suppressions"))
    section = []
    for line in lines[start:]:
        if line.startswith(("connleak:", "SUMMARY:", "[")):
            break
        section.append(line)
    return section


def blocks(section):
    """(comment lines, rule or None) per finding."""
    result, comments = [], []
    for line in section[3:]:  # the header: two comments and a blank line
        if line.startswith("#"):
            comments.append(line)
        elif line.strip():
            result.append((comments, line))
            comments = []
        elif comments:
            result.append((comments, None))
            comments = []
    return result


class GeneratedRules(ScenarioTest):
    @classmethod
    def setUpClass(cls):
        cls.work = tempfile.mkdtemp(prefix="connleak-gensupp-")
        cls.traces = os.path.join(cls.work, "traces")
        cls.text_report = os.path.join(cls.work, "report.txt")
        with LoopbackServer() as server:
            cls.port = server.port
            cls.run_result = connleak("run", "--gen-suppressions", "--report", cls.text_report,
                                      "--output-dir", cls.traces, "--", program("suppression_sites"), str(server.port))
        with open(cls.text_report) as f:
            cls.text = f.read()

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.work)

    def report_json(self, *options):
        result = connleak("report", "--format", "json", *options, self.traces)
        self.assertEqual(result.returncode, 0, result.stderr)
        return json.loads(result.stdout)

    def write(self, name, lines):
        path = os.path.join(self.work, name)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        return path

    def test_json_carries_one_rule_per_finding(self):
        self.assertEqual(self.run_result.returncode, 0, self.run_result.stderr)
        report = self.report_json("--gen-suppressions")
        self.assertEqual(len(report["findings"]), 4, json.dumps(report["findings"], indent=1)[:3000])
        self.assertEqual({f["suppression"] for f in report["findings"]}, EXPECTED_RULES)
        for finding in report["findings"]:
            self.assertTrue(finding["suppression"].startswith(finding["kind"] + ":"), finding["suppression"])

    def test_json_without_the_option_is_unchanged(self):
        report = self.report_json()
        self.assertTrue(all("suppression" not in f for f in report["findings"]))

    def test_text_report_has_one_commented_block_per_finding(self):
        section = generated_section(self.text)
        found = blocks(section)
        self.assertEqual({rule for _, rule in found}, EXPECTED_RULES, "\n".join(section))
        by_rule = {rule: comments for comments, rule in found}
        users = by_rule["leaked-connection:^fetch_users$"]
        self.assertTrue(users[0].startswith(f"# leaked-connection: 1 connection to 127.0.0.1:{self.port}"), users)
        self.assertIn(f"at open_conn ({SOURCE}:{leak_line(SOURCE, 'open_conn')}), through fetch_users ({SOURCE}:",
                      users[1])
        listener = by_rule["leaked-socket:^make_listener$"]
        self.assertTrue(listener[0].startswith("# leaked-socket: "), listener)
        self.assertIn(f"at make_listener ({SOURCE}:{leak_line(SOURCE, 'make_listener')})", listener[1])
        # The section ends the findings; the SUMMARY line still ends the report.
        self.assertTrue(self.text.rstrip().splitlines()[-1].startswith("SUMMARY: connleak: 3 leaked-connection"))
        # The report went to a file: the rules are on stderr too, before the SUMMARY line.
        self.assertEqual(generated_section(self.run_result.stderr), section)
        after = self.run_result.stderr.split("# connleak --gen-suppressions")[1].splitlines()[len(section):]
        self.assertTrue(after[0].startswith("SUMMARY: connleak: 3 leaked-connection"), after)

    def test_each_rule_suppresses_exactly_its_finding(self):
        everything = self.report_json("--gen-suppressions")["findings"]
        for finding in everything:
            with self.subTest(rule=finding["suppression"]):
                supp = self.write("one.supp", ["# generated", finding["suppression"]])
                report = self.report_json("--suppressions", supp)
                left = {f["fingerprint"] for f in report["findings"]}
                self.assertEqual(left, {f["fingerprint"] for f in everything} - {finding["fingerprint"]})
                self.assertEqual(report["suppressions"], [
                    {"rule": finding["suppression"], "location": f"{supp}:2", "matched": finding["count"]}])

    def test_the_whole_section_is_a_suppressions_file(self):
        supp = self.write("all.supp", generated_section(self.text))
        result = connleak("report", "--suppressions", supp, self.traces)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("connleak: no leaks found in 1 process", result.stdout)
        self.assertIn("SUMMARY: connleak: no leaks in 1 process; 4 suppressed", result.stdout)

    def test_a_fresh_run_with_one_rule_keeps_the_other_findings(self):
        supp = self.write("users.supp", ["leaked-connection:^fetch_users$"])
        with tempfile.TemporaryDirectory(dir=self.work) as out:
            report_path = os.path.join(out, "report.json")
            with LoopbackServer() as server:
                result = connleak("run", "--format", "json", "--report", report_path, "--suppressions", supp,
                                  "--output-dir", os.path.join(out, "traces"), "--",
                                  program("suppression_sites"), str(server.port))
            self.assertEqual(result.returncode, 0, result.stderr)
            with open(report_path) as f:
                report = json.load(f)
        tops = sorted((f["kind"], [frame["function"] for frame in f["stack"][:2]]) for f in report["findings"])
        self.assertEqual(tops, [
            ("leaked-connection", ["open_conn", "fetch_orders"]),
            ("leaked-connection", ["open_direct", "main"]),
            ("leaked-socket", ["make_listener", "main"]),
        ])
        self.assertEqual(report["suppressions"][0]["matched"], 1)

    def test_formats_without_a_place_for_rules_print_them_to_stderr(self):
        result = connleak("report", "--format", "sarif", "--gen-suppressions", self.traces)
        self.assertEqual(result.returncode, 0, result.stderr)
        json.loads(result.stdout)  # the SARIF document stays clean
        self.assertEqual({rule for _, rule in blocks(generated_section(result.stderr))}, EXPECTED_RULES)

    def test_text_on_stdout_has_the_rules_once(self):
        result = connleak("report", "--gen-suppressions", self.traces)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout.count("# connleak --gen-suppressions"), 1)
        self.assertNotIn("--gen-suppressions", result.stderr)


class StrippedProgram(ScenarioTest):
    def test_symbol_cache_names_a_stripped_copy(self):
        """The same build, stripped: the cache keeps what its unstripped
        twin's report looked up, by build-id."""
        with tempfile.TemporaryDirectory(prefix="connleak-symcache-") as work:
            exe = os.path.join(work, "leaky_stripped")
            shutil.copy(program("three_connects"), exe)
            subprocess.run(["strip", "--strip-all", exe], check=True)
            cache = {"CONNLEAK_SYMBOL_CACHE": os.path.join(work, "cache")}
            functions = []
            for binary in (program("three_connects"), exe):
                with LoopbackServer() as server:
                    report = os.path.join(work, "report.json")
                    run = connleak("run", "--format", "json", "--report", report, "--output-dir",
                                   os.path.join(work, "traces-" + os.path.basename(binary)), "--", binary,
                                   str(server.port), env=cache)
                self.assertEqual(run.returncode, 0, run.stderr)
                with open(report) as f:
                    functions.append(sorted(f["stack"][0]["function"] for f in json.load(f)["findings"]))
            self.assertEqual(functions[1], functions[0])
            self.assertIn("open_conn", functions[1])


    def test_frames_without_symbols_get_the_module(self):
        with tempfile.TemporaryDirectory(prefix="connleak-gensupp-") as work:
            exe = os.path.join(work, "leaky_stripped")
            shutil.copy(program("three_connects"), exe)
            subprocess.run(["strip", "--strip-all", exe], check=True)
            traces = os.path.join(work, "traces")
            with LoopbackServer() as server:
                # A stripped copy keeps its build-id, by which the symbol cache
                # would name it (test_symbol_cache_names_a_stripped_copy): off.
                run = connleak("run", "--format", "json", "--gen-suppressions", "--report",
                               os.path.join(work, "report.json"), "--output-dir", traces, "--", exe, str(server.port),
                               env={"CONNLEAK_SYMBOL_CACHE": "off"})
            self.assertEqual(run.returncode, 0, run.stderr)
            with open(os.path.join(work, "report.json")) as f:
                findings = json.load(f)["findings"]
            # Without line numbers, -O2's two calls of open_conn are two sites:
            # one rule covers both, and is written once.
            self.assertIn(len(findings), (1, 2), json.dumps(findings, indent=1)[:3000])
            for finding in findings:
                self.assertIsNone(finding["stack"][0]["function"], finding["stack"][0])
                self.assertEqual(finding["suppression"], "leaked-connection:/leaky_stripped$")
            found = blocks(generated_section(run.stderr))
            self.assertEqual(len(found), len(findings))
            comments, rule = found[0]
            self.assertEqual(rule, "leaked-connection:/leaky_stripped$")
            self.assertRegex(comments[1], r"at leaky_stripped\+0x[0-9a-f]+")
            self.assertIn("names the module", comments[2])
            for other_comments, other_rule in found[1:]:
                self.assertIsNone(other_rule)
                self.assertIn("#   (suppressed by leaked-connection:/leaky_stripped$, above)", other_comments)

            supp = os.path.join(work, "stripped.supp")
            with open(supp, "w") as f:
                f.write(rule + "\n")
            report = json.loads(connleak("report", "--format", "json", "--suppressions", supp, traces).stdout)
            self.assertEqual(report["findings"], [])
            self.assertEqual(report["suppressions"][0]["matched"], 2)


if __name__ == "__main__":
    unittest.main()
