"""MariaDB Connector/C against a real mariadbd on loopback
(mariadb-install-db by the test): a MYSQL per query never mysql_close'd,
one reused and closed, and a MYSQL whose mysql_real_connect failed dropped
without mysql_close (memory only: the library closed its socket)."""

import unittest

from database_servers import MariaDb
from database_session_tests import DatabaseSessions


class Mysql(DatabaseSessions):
    PROGRAM, API, HANDLE_LABEL, SITE, SERVER = "mysql_sessions", "mysql", "mysql", "open_db", MariaDb


del DatabaseSessions

if __name__ == "__main__":
    unittest.main()
