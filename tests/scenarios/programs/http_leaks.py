"""Makes three HTTP requests to 127.0.0.1:PORT (argv[1]), each on a new
http.client.HTTPConnection kept in a list and never closed (with "close" as
argv[2]: each is closed). The server keeps connections alive (HTTP/1.1), so
reading a response does not close the socket. Ends with os._exit(0), as a
forked worker does: no interpreter finalization closes anything.
Expected: one leaked-connection, count 3, to 127.0.0.1:PORT (none with
"close")."""

import http.client
import os
import sys


def fetch(port, path):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path)
    response = connection.getresponse()
    body = response.read()
    if response.status != 200 or response.will_close:
        print(f"unexpected response {response.status} will_close={response.will_close}", flush=True)
        os._exit(2)
    return connection, len(body)


def main():
    port = int(sys.argv[1])
    close = len(sys.argv) > 2 and sys.argv[2] == "close"
    kept = []
    for i in range(3):
        connection, _ = fetch(port, f"/item/{i}")
        kept.append(connection)
    if close:
        for connection in kept:
            connection.close()
    open_sockets = sum(1 for c in kept if c.sock is not None)
    print(f"requests {len(kept)} open {open_sockets}", flush=True)
    os._exit(0)


main()
