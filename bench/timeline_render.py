#!/usr/bin/python3
"""What the HTML timeline costs on a big run: N loopback connections (both
ends traced, so 2N bars) from tests/timeline/programs/many_connections.c,
rendered by `connleak report --format html`, then loaded in Debian's
chromium (headless) several times. Prints the medians, or JSON with --json:

    bench/timeline_render.py --cli build/bin/connleak \\
        --program build/timeline/many_connections [--connections 10000] [--loads 5] [--json]

The first frame is window.connleakReport.renderedMs: from the start of the
navigation to the second animation frame after the page parsed its data,
laid out every bar and drew the view (so the frame is on screen). Run by
scripts/bench (its "timeline" section); never by the test suite."""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
from html_report_browser import start_browser  # noqa: E402


def measure(cli, program, connections, loads):
    work = tempfile.mkdtemp(prefix="connleak-timeline-bench-")
    try:
        traces = os.path.join(work, "traces")
        page = os.path.join(work, "report.html")
        subprocess.run([cli, "run", "--output-dir", traces, "--report", os.devnull, "--", program,
                        str(connections), "1000"], check=True, capture_output=True, timeout=600)
        report_s = []
        for _ in range(loads):
            start = time.monotonic()
            subprocess.run([cli, "report", "--format", "html", "--report", page, traces], check=True,
                           capture_output=True, timeout=600)
            report_s.append(time.monotonic() - start)
        profile = os.path.join(work, "profile")
        browser = start_browser(profile)
        try:
            first_frames = []
            for _ in range(loads):
                browser.get("about:blank")
                browser.get("file://" + page)
                for _ in range(200):  # the second animation frame comes shortly after load
                    ms = browser.execute_script("return window.connleakReport && window.connleakReport.renderedMs")
                    if ms:
                        break
                    time.sleep(0.02)
                if not ms:
                    raise RuntimeError("the page never drew its first frame")
                first_frames.append(ms)
            bars = browser.execute_script("return window.connleakReport.barsLaidOut()")
            errors = [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]
        finally:
            browser.quit()
        return {"connections": connections, "bars": bars, "html_bytes": os.path.getsize(page),
                "report_s": statistics.median(report_s), "report_s_runs": report_s,
                "first_frame_ms": statistics.median(first_frames), "first_frame_ms_runs": first_frames,
                "console_errors": errors}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cli", required=True)
    parser.add_argument("--program", required=True)
    parser.add_argument("--connections", type=int, default=10000)
    parser.add_argument("--loads", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = measure(args.cli, args.program, args.connections, args.loads)
    if args.json:
        print(json.dumps(result))
        return
    print(f"{result['connections']:,} connections -> {result['bars']:,} bars, page {result['html_bytes']:,} bytes")
    print(f"  connleak report --format html: {result['report_s']:.2f} s median")
    print(f"  chromium, first frame: {result['first_frame_ms']:.0f} ms median "
          f"(runs: {', '.join(f'{v:.0f}' for v in result['first_frame_ms_runs'])} ms)")


if __name__ == "__main__":
    main()
