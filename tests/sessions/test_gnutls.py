"""GnuTLS sessions against a loopback TLS server: a session per exchange
never deinit'ed (nor its socket closed), one session reused and
deinit'ed, and the natural mistake of gnutls_bye and close() without
gnutls_deinit."""

import unittest

from handed_socket_tests import HandedSocketSessions
from session_harness import TlsServer


class Gnutls(HandedSocketSessions):
    PROGRAM, API, SITE, SERVER = "gnutls_sessions", "gnutls_session", "open_tls", TlsServer
    MISTAKE, PRINTED = "no-deinit", "tls ok pong"


del HandedSocketSessions

if __name__ == "__main__":
    unittest.main()
