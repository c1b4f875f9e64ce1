/* MariaDB Connector/C against the test's mariadbd on 127.0.0.1:port (user
 * root, no password).
 *   mysql_sessions PORT per-request  5 queries, each on a connection of its
 *                                    own (open_db), never mysql_close'd
 *   mysql_sessions PORT reuse        one connection for 5 queries, closed
 *   mysql_sessions PORT failed       mysql_real_connect to a port nothing
 *                                    listens on fails, and the error path
 *                                    returns without mysql_close (the MYSQL
 *                                    from mysql_init stays allocated)
 * Prints "mysql <address>" per connection and "row <value>" per query. */
#include <mysql.h>

#include "session_common.h"

LEAK_SITE static MYSQL *open_db(const char *port) {
  MYSQL *mysql = mysql_init(NULL); /* LEAK: open_db */
  unsigned int timeout = 10;
  mysql_options(mysql, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
  if (!mysql_real_connect(mysql, "127.0.0.1", "root", NULL, NULL, (unsigned)atoi(port), NULL, 0)) {
    printf("mysql %p\nconnect failed: %s\n", (void *)mysql, mysql_error(mysql));
    return NULL; /* failed: the mistake, no mysql_close(mysql) */
  }
  KEEP_FRAME();
  return mysql;
}

static void query(MYSQL *mysql, int n) {
  must(mysql_query(mysql, "select 40 + 2") == 0, "select");
  MYSQL_RES *result = mysql_store_result(mysql);
  must(result != NULL, "store_result");
  MYSQL_ROW row = mysql_fetch_row(result);
  printf("row %s %d\n", row[0], n);
  mysql_free_result(result);
}

int main(int argc, char **argv) {
  if (argc < 3) return 99;
  const char *port = argv[1], *mode = argv[2];
  if (strcmp(mode, "failed") == 0) return open_db(port) == NULL ? 0 : 98;
  int per_request = strcmp(mode, "per-request") == 0;
  MYSQL *shared = per_request ? NULL : open_db(port);
  for (int i = 0; i < 5; ++i) {
    MYSQL *mysql = per_request ? open_db(port) : shared;
    if (mysql == NULL) return 97;
    if (per_request || i == 0) printf("mysql %p\n", (void *)mysql);
    query(mysql, i);
  }
  if (shared) mysql_close(shared);
  return 0;
}
