"""Loopback servers and a throw-away PKI for tests/identity/test_real_programs.py.

Everything listens on 127.0.0.1 on a port the kernel picks. Responses are
byte-for-byte the same for every request to the same path (a fixed Date and
Server header), so a client that prints a whole response prints the same
thing natively and traced.
"""

import http.server
import os
import shutil
import ssl
import subprocess
import tempfile
import threading

FIXED_DATE = "Thu, 01 Jan 2026 00:00:00 GMT"
SERVER_NAME = "connleak-identity"


class Pki:
    """A CA and a server certificate (CN=localhost, SAN DNS:localhost and
    IP:127.0.0.1, signed by the CA), made with the openssl CLI in a
    temporary directory; remove() deletes it."""

    def __init__(self):
        self.directory = tempfile.mkdtemp(prefix="connleak-identity-pki-")
        self.ca = os.path.join(self.directory, "ca.pem")
        self.ca_key = os.path.join(self.directory, "ca.key")
        self.cert = os.path.join(self.directory, "server.pem")
        self.key = os.path.join(self.directory, "server.key")
        csr = os.path.join(self.directory, "server.csr")
        extensions = os.path.join(self.directory, "server.ext")
        with open(extensions, "w") as f:
            f.write("basicConstraints=critical,CA:FALSE\n"
                    "keyUsage=critical,digitalSignature,keyEncipherment\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                    "subjectKeyIdentifier=hash\n"
                    "authorityKeyIdentifier=keyid,issuer\n")
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        self._openssl("req", "-x509", *ec, "-keyout", self.ca_key, "-out", self.ca, "-days", "2",
                      "-subj", "/O=connleak tests/CN=connleak identity test CA",
                      "-addext", "basicConstraints=critical,CA:TRUE",
                      "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                      "-addext", "subjectKeyIdentifier=hash")
        self._openssl("req", "-new", *ec, "-keyout", self.key, "-out", csr,
                      "-subj", "/O=connleak tests/CN=localhost")
        self._openssl("x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                      "-CAcreateserial", "-out", self.cert, "-days", "2", "-extfile", extensions)

    @staticmethod
    def _openssl(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60,
                       stdin=subprocess.DEVNULL)

    def remove(self):
        shutil.rmtree(self.directory, ignore_errors=True)


class _Handler(http.server.BaseHTTPRequestHandler):
    """GET PATH answers 200 "hello from PATH\\n" (keep-alive: HTTP/1.1)."""

    protocol_version = "HTTP/1.1"
    timeout = 10  # an idle keep-alive connection is closed after 10 s

    def setup(self):
        super().setup()
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()  # here, in this connection's thread

    def do_GET(self):
        body = f"hello from {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def date_time_string(self, timestamp=None):
        return FIXED_DATE

    def version_string(self):
        return SERVER_NAME

    def log_message(self, *args):
        pass


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def shutdown_request(self, request):
        # TLS: a close_notify before the FIN, so that clients reading to the
        # end see a clean end of stream (openssl s_client would otherwise
        # print an "unexpected eof" error carrying its thread id).
        if isinstance(request, ssl.SSLSocket):
            try:
                request.settimeout(2)
                request.unwrap()
            except (OSError, ValueError):
                pass
        super().shutdown_request(request)

    def handle_error(self, request, client_address):
        # A client that gives up mid-handshake (a deliberate verification
        # failure) is not the test's business; keep the test's stderr clean.
        pass


class HttpServer:
    """HTTP/1.1 on 127.0.0.1; with tls=(cert, key) HTTPS (each connection's
    handshake in its own thread). url(path) gives the address to fetch."""

    def __init__(self, tls=None):
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.port = self.server.server_address[1]
        self.scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True,
                                                     do_handshake_on_connect=False)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)

    def url(self, path, host="127.0.0.1"):
        return f"{self.scheme}://{host}:{self.port}{path}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

