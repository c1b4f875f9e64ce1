"""libpq against a real PostgreSQL on loopback (initdb by the test, as an
unprivileged user): a PGconn per query never PQfinish'ed, one reused and
finished, and a PGconn whose connect failed dropped without PQfinish (libpq
15 keeps the refused socket in it until then)."""

import unittest

from database_servers import Postgres
from database_session_tests import DatabaseSessions


class Libpq(DatabaseSessions):
    PROGRAM, API, HANDLE_LABEL, SITE, SERVER = "pq_sessions", "libpq", "conn", "open_db", Postgres
    FAILED_HOLDS_SOCKET = True


del DatabaseSessions

if __name__ == "__main__":
    unittest.main()
