"""Runs the timeline programs under the real `connleak run` and keeps the
report in every timeline format: html (what `run` wrote), chrome-trace and
json (`connleak report` over the same traces)."""

import json
import os
import shutil
import subprocess
import tempfile

CONNLEAK = os.environ["CONNLEAK"]
BIN_DIR = os.environ["TIMELINE_BIN_DIR"]
EXAMPLES_DIR = os.environ.get("EXAMPLES_DIR", "")
ARTIFACTS = os.environ.get("TIMELINE_ARTIFACTS", tempfile.gettempdir())

# Shown by the page as text; run as markup, each would set window.__pwned.
HOSTILE_ARG = ('</script><script>window.__pwned=1</script>'
               '<img src=x onerror="window.__pwned=2">&amp; "\u2028\'')
HOSTILE_SOCKET_NAME = '<svg onload=window.__pwned=3>'


class TracedRun:
    """One program run under connleak, its reports in a temporary directory."""

    def __init__(self, program, args):
        self.dir = tempfile.mkdtemp(prefix="connleak-timeline-")
        self.traces = os.path.join(self.dir, "traces")
        self.html = os.path.join(self.dir, "report.html")
        argv = [os.path.join(BIN_DIR, program)] + [a.replace("{dir}", self.dir) for a in args]
        self.argv = argv
        self.run = subprocess.run(
            [CONNLEAK, "run", "--format", "html", "--report", self.html, "--output-dir", self.traces, "--"] + argv,
            capture_output=True, text=True, timeout=240)
        if self.run.returncode != 0:
            raise AssertionError(f"connleak run failed ({self.run.returncode}): {self.run.stderr}")
        self.chrome_trace = json.loads(self._report("chrome-trace"))
        self.json = json.loads(self._report("json"))

    def _report(self, fmt):
        result = subprocess.run([CONNLEAK, "report", "--format", fmt, self.traces],
                                capture_output=True, text=True, timeout=240)
        if result.returncode != 0:
            raise AssertionError(f"connleak report --format {fmt} failed: {result.stderr}")
        return result.stdout

    def page_data(self):
        """The report as the page's script reads it."""
        with open(self.html, encoding="utf-8") as f:
            page = f.read()
        start = page.index('<script type="application/json" id="connleak-data">') + len(
            '<script type="application/json" id="connleak-data">')
        return json.loads(page[start:page.index("</script>", start)])

    def remove(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def story_run():
    """timeline_story: one of everything, with hostile argv and a hostile
    unix socket path."""
    return TracedRun("timeline_story", ["{dir}/" + HOSTILE_SOCKET_NAME, HOSTILE_ARG])


def many_connections_run(count=10000):
    return TracedRun("many_connections", [str(count), "1000"])
