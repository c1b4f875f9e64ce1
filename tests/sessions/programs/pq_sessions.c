/* libpq against the test's PostgreSQL on 127.0.0.1:port (user postgres,
 * trust authentication).
 *   pq_sessions PORT per-request   5 queries, each on a connection of its
 *                                  own (open_db), never PQfinish'ed
 *   pq_sessions PORT reuse         one connection for 5 queries, finished
 *   pq_sessions PORT failed        PQconnectdb to a port nothing listens
 *                                  on: the PGconn says CONNECTION_BAD, and
 *                                  the error path returns without PQfinish
 *                                  (its memory stays; libpq closed the
 *                                  socket)
 * Prints "conn <address>" per connection and "row <value>" per query. */
#include <libpq-fe.h>

#include "session_common.h"

LEAK_SITE static PGconn *open_db(const char *port) {
  char conninfo[256];
  snprintf(conninfo, sizeof(conninfo),
           "host=127.0.0.1 port=%s user=postgres dbname=postgres sslmode=disable connect_timeout=10", port);
  PGconn *conn = PQconnectdb(conninfo); /* LEAK: open_db */
  KEEP_FRAME();
  return conn;
}

static void query(PGconn *conn, int n) {
  PGresult *result = PQexec(conn, "select 40 + 2");
  must(PQresultStatus(result) == PGRES_TUPLES_OK, "select");
  printf("row %s %d\n", PQgetvalue(result, 0, 0), n);
  PQclear(result);
}

int main(int argc, char **argv) {
  if (argc < 3) return 99;
  const char *port = argv[1], *mode = argv[2];
  if (strcmp(mode, "failed") == 0) {
    PGconn *conn = open_db(port);
    if (PQstatus(conn) != CONNECTION_OK) {
      printf("conn %p\nconnect failed\n", (void *)conn);
      return 0; /* the mistake: no PQfinish(conn) */
    }
    return 98;
  }
  int per_request = strcmp(mode, "per-request") == 0;
  PGconn *shared = per_request ? NULL : open_db(port);
  for (int i = 0; i < 5; ++i) {
    PGconn *conn = per_request ? open_db(port) : shared;
    if (PQstatus(conn) != CONNECTION_OK) {
      fprintf(stderr, "connect: %s", PQerrorMessage(conn));
      return 97;
    }
    if (per_request || i == 0) printf("conn %p\n", (void *)conn);
    query(conn, i);
  }
  if (shared) PQfinish(shared);
  return 0;
}
