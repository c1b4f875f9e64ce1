"""The shim must not bring libcurl or OpenSSL into a program that does not
use them."""

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

    def test_program_notices_a_preloaded_libcurl(self):
        # The check itself works: with libcurl preloaded it exits 1.
        completed = subprocess.run([program("no_libcurl")], capture_output=True, text=True, timeout=30,
                                   env={**os.environ, "LD_PRELOAD": "libcurl.so.4"})
        self.assertEqual(completed.returncode, 1, completed.stdout + completed.stderr)
        self.assertIn("/libcurl", completed.stdout)


if __name__ == "__main__":
    unittest.main()
