"""Python TLS clients against the test's loopback HTTPS server; each prints
what it got, so the native and the traced run can be compared line by line.

  py_tls.py socket PORT CA     ssl.create_default_context(cafile=CA) over a
                               plain socket, by name and by IP; then without
                               the CA and with a wrong host name (verification
                               errors, printed)
  py_tls.py urllib URL CA      urllib.request over https, twice
  py_tls.py requests URL CA    requests over https: a get() and a Session
  py_tls.py threads PORT CA    8 threads sharing one context, 4 requests
                               each, at the same time
"""

import socket
import ssl
import sys


def show_cert(cert):
    subject = ", ".join(f"{k}={v}" for rdn in cert["subject"] for k, v in rdn)
    issuer = ", ".join(f"{k}={v}" for rdn in cert["issuer"] for k, v in rdn)
    print(f"peer subject: {subject}")
    print(f"peer issuer: {issuer}")
    print(f"peer san: {cert.get('subjectAltName')}")


def get_over_tls(context, port, server_hostname, path):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname=server_hostname) as tls:
            print(f"{server_hostname}: version {tls.version()} cipher {tls.cipher()[0]} "
                  f"bits {tls.cipher()[2]} alpn {tls.selected_alpn_protocol()}")
            show_cert(tls.getpeercert())
            tls.sendall(f"GET {path} HTTP/1.0\r\nHost: {server_hostname}\r\n\r\n".encode())
            chunks = []
            while True:
                chunk = tls.recv(4096)
                if not chunk:
                    break
                chunks.append(chunk)
            response = b"".join(chunks).decode()
            head, _, body = response.partition("\r\n\r\n")
            print(f"status line: {head.splitlines()[0]}")
            print(f"body: {body!r}")


def expect_failure(context, port, server_hostname):
    try:
        get_over_tls(context, port, server_hostname, "/never")
    except ssl.SSLCertVerificationError as error:
        print(f"{server_hostname}: verify failed: {error.reason} / {error.verify_code} {error.verify_message}")
    except ssl.SSLError as error:
        print(f"{server_hostname}: ssl error: {error.reason} {error.library}")
    else:
        print(f"{server_hostname}: no error (unexpected)")


def main_socket(port, ca):
    port = int(port)
    print(f"openssl: {ssl.OPENSSL_VERSION}")
    context = ssl.create_default_context(cafile=ca)
    context.set_alpn_protocols(["http/1.1"])
    print(f"verify_mode {context.verify_mode!r} check_hostname {context.check_hostname} "
          f"minimum {context.minimum_version!r}")
    for cert in context.get_ca_certs():
        print("ca cert: " + ", ".join(f"{k}={v}" for rdn in cert["subject"] for k, v in rdn))
    get_over_tls(context, port, "localhost", "/py-socket-name")
    get_over_tls(context, port, "127.0.0.1", "/py-socket-ip")
    # A context without the test CA: the system roots only (SSL_CERT_FILE and
    # the default paths, whatever they hold, but not this CA).
    expect_failure(ssl.create_default_context(), port, "localhost")
    # The right CA, the wrong name.
    expect_failure(context, port, "not-localhost.invalid")
    # TLS 1.2 only, explicitly.
    tls12 = ssl.create_default_context(cafile=ca)
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    get_over_tls(tls12, port, "localhost", "/py-socket-tls12")


def main_threads(port, ca):
    import concurrent.futures
    port = int(port)
    context = ssl.create_default_context(cafile=ca)

    def worker(n):
        lines = []
        for i in range(4):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
                with context.wrap_socket(raw, server_hostname="localhost") as tls:
                    tls.sendall(f"GET /thread-{n}-{i} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
                    data = b""
                    while chunk := tls.recv(4096):
                        data += chunk
                    body = data.partition(b"\r\n\r\n")[2]
                    lines.append(f"{n}/{i} {tls.version()} {body!r}")
        return lines

    with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
        for lines in pool.map(worker, range(8)):  # in order, whatever order they ran in
            for line in lines:
                print(line)


def main_urllib(url, ca):
    import urllib.request
    context = ssl.create_default_context(cafile=ca)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                         urllib.request.HTTPSHandler(context=context))
    for suffix in ("/one", "/two"):
        with opener.open(url + suffix, timeout=10) as response:
            print(f"urllib {suffix}: status {response.status} {response.reason}")
            print(f"content-type: {response.headers['Content-Type']} length: {response.headers['Content-Length']}")
            print(f"body: {response.read()!r}")
    try:
        urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url + "/no-ca", timeout=10)
    except urllib.error.URLError as error:
        print(f"without the CA: {type(error.reason).__name__}: {getattr(error.reason, 'verify_message', error.reason)}")


def main_requests(url, ca):
    try:
        import requests
    except ImportError as error:
        print(f"requests not importable: {error}")
        return 3
    print(f"requests {requests.__version__}")
    no_proxy = {"http": None, "https": None}
    response = requests.get(url + "/requests-get", verify=ca, timeout=10, proxies=no_proxy)
    print(f"get: status {response.status_code} body {response.text!r}")
    with requests.Session() as session:
        session.trust_env = False
        session.verify = ca
        for suffix in ("/session-1", "/session-2", "/session-3"):
            response = session.get(url + suffix, timeout=10)
            print(f"session {suffix}: status {response.status_code} body {response.text!r} "
                  f"headers {sorted(response.headers.items())}")
    try:
        requests.get(url + "/no-ca", verify="/etc/ssl/certs/ca-certificates.crt", timeout=10, proxies=no_proxy)
    except requests.exceptions.SSLError as error:
        print(f"without the CA: SSLError, certificate verify failed: {'certificate verify failed' in str(error)}")
    return 0


if __name__ == "__main__":
    mode, *args = sys.argv[1:]
    sys.exit({"socket": main_socket, "urllib": main_urllib, "requests": main_requests,
              "threads": main_threads}[mode](*args))
