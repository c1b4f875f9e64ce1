"""git over HTTP under `connleak run`, against a local bare repository
served by `git http-backend` (CGI) behind a loopback HTTP/1.1 keep-alive
server the test starts (corpus_harness.GitHttpServer).

git talks HTTP through git-remote-http, which links libcurl: one multi
handle, and an easy handle per request slot, kept while the slot is reused
(the first) or cleaned up after its request (the others); connections stay
in the multi handle's cache. So:

  clone (protocol v2)    ls-refs and fetch over one reused connection:
                         no findings at all
  clone (dumb HTTP)      dozens of requests, one loose object each, from
                         easy handles that each do a single transfer but
                         reuse the cached connections: no session-churn
                         warning, no findings at all
  fetch (protocol v2)    new objects over one connection: no findings
  clone (protocol v0),   git-remote-http runs `git fetch-pack` /
  push                   `git send-pack`, which run `git unpack-objects` /
                         `git pack-objects`; libcurl makes its sockets
                         without close-on-exec, so its wake-up socketpair
                         and the HTTP connection really are inherited by
                         both execs (checked natively with strace):
                         inherited-socket warnings, each at the line that
                         created the socket, nothing else
"""

import os
import shutil
import subprocess
import unittest

from corpus_harness import CorpusTest, GitHttpServer, brief, connleak_run

GIT = shutil.which("git")
HTTP_BACKEND = "/usr/lib/git-core/git-http-backend"
COMMITS = 12  # 3 objects each: fewer than transfer.unpackLimit (100), so v0 unpacks rather than indexes


def git_env(home):
    """git with no configuration but the test's, and fixed identities."""
    return {"HOME": home, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0",
            "GIT_AUTHOR_NAME": "connleak", "GIT_AUTHOR_EMAIL": "connleak@example.invalid",
            "GIT_COMMITTER_NAME": "connleak", "GIT_COMMITTER_EMAIL": "connleak@example.invalid",
            "LC_ALL": "C"}


@unittest.skipUnless(GIT and os.path.exists(HTTP_BACKEND), "git is not installed (Debian package git)")
class GitOverHttp(CorpusTest):
    def setUp(self):
        self.home = self.temp_dir("git")
        self.env = git_env(self.home)
        self.projects = os.path.join(self.home, "projects")
        self.bare = os.path.join(self.projects, "project.git")
        self.work = work = os.path.join(self.home, "work")
        self.git("init", "-q", "-b", "main", work)
        for i in range(COMMITS):
            with open(os.path.join(work, f"file-{i}.txt"), "w") as f:
                f.write(f"line of file {i}\n" * 200)
            self.git("-C", work, "add", ".")
            self.git("-C", work, "commit", "-q", "-m", f"commit {i}")
        # A local clone links the loose objects as they are: the dumb
        # protocol fetches them one request each.
        self.git("clone", "-q", "--bare", "--local", work, self.bare)
        self.git("-C", self.bare, "update-server-info")  # dumb HTTP's info/refs
        self.git("-C", self.bare, "config", "http.receivepack", "true")  # anonymous push

    def git(self, *args):
        return subprocess.run([GIT, *args], check=True, capture_output=True, text=True, timeout=60,
                              env={**os.environ, **self.env})

    def traced_git(self, *args, env=None):
        return connleak_run([GIT, *args], env={**self.env, **(env or {})})

    def assert_git_ok(self, run):
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assert_complete(run)
        self.assert_exited(run)

    def clone(self, server, env=None):
        target = os.path.join(self.home, "clone")
        run = self.traced_git("clone", server.url("/project.git"), target, env=env)
        self.assert_git_ok(run)
        log = self.git("-C", target, "log", "--oneline").stdout.splitlines()
        self.assertEqual(len(log), COMMITS, log)
        return run, target

    def test_clone_protocol_v2(self):
        with GitHttpServer(self.projects) as server:
            run, _ = self.clone(server)
            # ls-refs and fetch went over one kept-alive connection.
            self.assertEqual(server.connections, 1)
            self.assertGreaterEqual(server.requests, 3)
        self.assert_no_findings(run)
        # The connection, and libcurl's wake-up socketpair.
        self.assertEqual(run.report["summary"]["sockets_opened"], 1 + 2, brief(run.report["findings"]))

    def test_clone_dumb_http(self):
        """Many single-transfer easy handles whose requests went over the
        multi handle's cached connections: no churn."""
        with GitHttpServer(self.projects) as server:
            run, _ = self.clone(server, env={"GIT_SMART_HTTP": "0"})
            self.assertGreater(server.requests, 3 * COMMITS)  # one request per loose object
            self.assertLess(server.connections, server.requests // 4, "connections were not reused")
        self.assertGreater(run.report["summary"]["sessions_created"], 3 * COMMITS // 2,
                           "git made fewer curl handles than expected: churn is not exercised")
        self.assert_no_findings(run)

    def assert_curl_sockets_inherited(self, run, server, helper, grandchild):
        """Exactly two inherited-socket warnings, one per line that created
        the sockets in git-remote-http (libcurl's socketpair, libcurl's
        connection), each naming both execs that inherited them: `helper`
        (run by git-remote-http) and `grandchild` (run by helper)."""
        images = [p for p in self.processes(run, argv0="git") if p["end"] != "exec"]
        helpers = [p["pid"] for p in images if p["argv"][1:2] == [helper]]
        grandchildren = [p["pid"] for p in images if p["argv"][1:2] == [grandchild]]
        self.assertEqual((len(helpers), len(grandchildren)), (1, 1), [p["argv"] for p in run.report["processes"]])
        pids = sorted(helpers + grandchildren)
        self.assert_findings(run, [("inherited-socket", "warning", 4), ("inherited-socket", "warning", 2)])
        by_count = {f["count"]: f for f in run.report["findings"]}
        pair, connection = by_count[4], by_count[2]
        details = brief(run.report["findings"])
        self.assertEqual(sorted((i["pid"], i["family"], i["protocol"]) for i in pair["instances"]),
                         sorted((pid, "unix", "stream") for pid in pids for _ in range(2)), details)
        self.assertEqual(sorted((i["pid"], i["family"], i["peer"]) for i in connection["instances"]),
                         [(pid, "inet", f"127.0.0.1:{server.port}") for pid in pids], details)
        for finding in (pair, connection):
            self.assertTrue(all(i["inherited"] for i in finding["instances"]), details)
            # Where libcurl made them, on behalf of git-remote-http.
            self.assertTrue(finding["stack"], "no creation stack:\n" + details)
            self.assertIn("libcurl", finding["stack"][0]["module"] or "", details)
            self.assertIn("/usr/lib/git-core/git-remote-http", [frame["module"] for frame in finding["stack"]],
                          details)

    def test_clone_protocol_v0(self):
        with GitHttpServer(self.projects) as server:
            run, _ = self.clone(server, env={"GIT_CONFIG_COUNT": "1", "GIT_CONFIG_KEY_0": "protocol.version",
                                             "GIT_CONFIG_VALUE_0": "0"})
            self.assertEqual(server.connections, 1)
            self.assert_curl_sockets_inherited(run, server, "fetch-pack", "unpack-objects")

    def untraced_clone(self, server):
        target = os.path.join(self.home, "clone")
        self.git("clone", "-q", server.url("/project.git"), target)
        return target

    def test_push(self):
        with GitHttpServer(self.projects) as server:
            clone = self.untraced_clone(server)
            with open(os.path.join(clone, "pushed.bin"), "wb") as f:
                f.write(os.urandom(1 << 20))  # a large POST body
            self.git("-C", clone, "add", ".")
            self.git("-C", clone, "commit", "-q", "-m", "pushed")
            connections = server.connections
            push = self.traced_git("-C", clone, "push", "origin", "main")
            self.assert_git_ok(push)
            self.assertEqual(server.connections - connections, 1)
            self.assertEqual(self.git("-C", self.bare, "log", "-1", "--format=%s").stdout, "pushed\n")
            self.assert_curl_sockets_inherited(push, server, "send-pack", "pack-objects")

    def test_fetch(self):
        with GitHttpServer(self.projects) as server:
            clone = self.untraced_clone(server)
            # New objects on another branch, pushed to the bare repository
            # locally (not traced), for the traced fetch to download.
            self.git("-C", self.work, "checkout", "-q", "-b", "other")
            with open(os.path.join(self.work, "fetched.txt"), "w") as f:
                f.write("fetched\n" * 1000)
            self.git("-C", self.work, "add", ".")
            self.git("-C", self.work, "commit", "-q", "-m", "fetched")
            self.git("-C", self.work, "push", "-q", self.bare, "other")
            connections = server.connections
            fetch = self.traced_git("-C", clone, "fetch", "origin")
            self.assert_git_ok(fetch)
            self.assertEqual(server.connections - connections, 1)
            self.assertEqual(self.git("-C", clone, "rev-parse", "origin/other").stdout,
                             self.git("-C", self.bare, "rev-parse", "other").stdout)
        self.assert_no_findings(fetch)

if __name__ == "__main__":
    unittest.main()
