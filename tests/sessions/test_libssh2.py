"""libssh2 sessions against a real sshd on loopback (the SSH handshake):
a session per connection never freed (nor its socket closed), one session
freed, and the natural mistake of disconnect and close() without
libssh2_session_free."""

import unittest

from handed_socket_tests import HandedSocketSessions
from session_harness import SshServer


class Libssh2(HandedSocketSessions):
    PROGRAM, API, SITE, SERVER = "ssh_sessions", "libssh2", "open_ssh", SshServer
    MISTAKE, PRINTED = "no-free", "session 0x"


del HandedSocketSessions

if __name__ == "__main__":
    unittest.main()
