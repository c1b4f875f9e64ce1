"""The shim must not bring a session library (libcurl, OpenSSL, libpq,
MariaDB Connector/C, hiredis, GnuTLS), nor the C++ runtime, into a program
that does not use them."""

import os
import subprocess
import unittest

from session_harness import SessionTest, connleak_run, program


class NoSessionLibraries(SessionTest):
    def test_shim_loads_no_libcurl_libssl_or_libcrypto(self):
        run = connleak_run([program("no_libcurl")])
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertIn("no session libraries", run.stdout)
        self.assert_no_findings(run)

    def test_program_runs_clean_on_its_own(self):
        completed = self.run_direct([program("no_libcurl")])
        self.assertEqual(completed.returncode, 0, completed.stdout + completed.stderr)
        self.assertIn("no session libraries", completed.stdout)

    def test_program_notices_each_preloaded_library(self):
        # The check itself works: with any of them preloaded it exits 1.
        for library, name in (("libcurl.so.4", "/libcurl"), ("libpq.so.5", "/libpq."),
                              ("libmariadb.so.3", "/libmariadb"), ("libhiredis.so.0.14", "/libhiredis"),
                              ("libgnutls.so.30", "/libgnutls"), ("libstdc++.so.6", "/libstdc++")):
            completed = subprocess.run([program("no_libcurl")], capture_output=True, text=True, timeout=30,
                                       env={**os.environ, "LD_PRELOAD": library})
            self.assertEqual(completed.returncode, 1, library + completed.stdout + completed.stderr)
            self.assertIn(name, completed.stdout)


if __name__ == "__main__":
    unittest.main()
