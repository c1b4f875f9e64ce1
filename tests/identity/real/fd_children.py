"""What a Python program and its children see of the fd table: the parent
opens sockets and pipes and starts children that print their own fds.

  fd_children.py spawn PORT       subprocess with close_fds=True, pass_fds,
                                  close_fds=False with one inheritable
                                  socket, os.posix_spawn with file actions;
                                  the children list /proc/self/fd, ls it,
                                  fstat 0..1023, fstat up to RLIMIT_NOFILE
  fd_children.py closerange PORT [TLS_PORT CA]
                                  the program itself: os.closerange(3,
                                  65536), then new sockets (their numbers),
                                  a request (and with TLS_PORT an https
                                  request through a new ssl context), a child
  fd_children.py closeloop PORT [TLS_PORT CA]
                                  close() of every fd 3..RLIMIT_NOFILE one by
                                  one (the classic daemon loop), counting the
                                  ones that were open; then the same as above

PORT is the test's loopback HTTP server, TLS_PORT its HTTPS server. Every fd is printed with what it
is (socket, pipe, a path), never with an inode number.
"""

import os
import resource
import socket
import subprocess
import sys

PYTHON = "/usr/bin/python3"

# The child's own listing. os.listdir holds a directory fd while it reads,
# natively too; it is listed, then gone.
LIST_FDS = r"""
import os
def what(fd):
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError as error:
        return f"gone ({error.strerror})"
    for kind in ("socket:", "pipe:", "anon_inode:"):
        if target.startswith(kind):
            return kind.rstrip(":") + ("" if kind != "anon_inode:" else " " + target[len(kind):])
    return target
fds = sorted(int(name) for name in os.listdir("/proc/self/fd"))
print("fds", fds)
for fd in fds:
    print(" ", fd, what(fd))
"""

FSTAT_FDS = r"""
import os, resource, stat, sys
limit = int(sys.argv[1]) if len(sys.argv) > 1 else 1024
kinds = {stat.S_IFSOCK: "sock", stat.S_IFIFO: "fifo", stat.S_IFREG: "reg", stat.S_IFCHR: "chr",
         stat.S_IFDIR: "dir", stat.S_IFLNK: "lnk", stat.S_IFBLK: "blk"}
open_fds = []
for fd in range(limit):
    try:
        st = os.fstat(fd)
    except OSError:
        continue
    open_fds.append(f"{fd}:{kinds.get(stat.S_IFMT(st.st_mode), '?')}")
print(f"fstat 0..{limit - 1}:", " ".join(open_fds))
"""


def what(fd):
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError as error:
        return f"gone ({error.strerror})"
    for kind in ("socket", "pipe"):
        if target.startswith(kind + ":"):
            return kind
    return target


def own_fds(label):
    fds = sorted(int(name) for name in os.listdir("/proc/self/fd"))
    print(f"{label}: fds {fds}")
    print(f"{label}: " + " ".join(f"{fd}={what(fd)}" for fd in fds))


def soft_limit():
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def scan_limit():
    soft = soft_limit()
    return 65536 if soft == resource.RLIM_INFINITY or soft > 65536 else soft


def child(label, argv, **kwargs):
    completed = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               timeout=30, **kwargs)
    for line in completed.stdout.splitlines():
        print(f"{label}| {line}")
    print(f"{label}: exit {completed.returncode}")


def open_some(port):
    """A connected TCP socket, a listener, a socketpair, a UDP socket, a
    pipe and /dev/null; returns them so they stay open."""
    tcp = socket.create_connection(("127.0.0.1", port), timeout=10)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    pair = socket.socketpair()
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.connect(("127.0.0.1", port))
    pipe_r, pipe_w = os.pipe()
    null = os.open("/dev/null", os.O_RDONLY)
    opened = {"tcp": tcp.fileno(), "listener": listener.fileno(), "pair0": pair[0].fileno(),
              "pair1": pair[1].fileno(), "udp": udp.fileno(), "pipe_r": pipe_r, "pipe_w": pipe_w,
              "null": null}
    print("opened", " ".join(f"{k}={v}" for k, v in opened.items()))
    return (tcp, listener, pair, udp), opened


def request(port, path):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        print(f"request socket fd {s.fileno()}")
        s.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        data = b""
        while chunk := s.recv(4096):
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        print(f"response: {head.splitlines()[0].decode()!r} body {body!r}")


def main_spawn(port):
    print(f"RLIMIT_NOFILE {resource.getrlimit(resource.RLIMIT_NOFILE)}")
    keep, fds = open_some(port)
    own_fds("parent")
    child("close_fds=True", [PYTHON, "-c", LIST_FDS], close_fds=True)
    child("pass_fds", [PYTHON, "-c", LIST_FDS], pass_fds=(fds["tcp"], fds["pipe_w"], fds["listener"]))
    os.set_inheritable(fds["pair1"], True)
    child("close_fds=False", [PYTHON, "-c", LIST_FDS], close_fds=False)
    os.set_inheritable(fds["pair1"], False)
    child("ls", ["ls", "-1", "/proc/self/fd"], pass_fds=(fds["udp"],))
    child("fstat 1024", [PYTHON, "-c", FSTAT_FDS, "1024"], pass_fds=(fds["pair0"], fds["null"]))
    child("fstat rlimit", [PYTHON, "-c", FSTAT_FDS, str(scan_limit())], close_fds=True)
    # posix_spawn with file actions: the socketpair end as the child's fd 7,
    # the pipe's read end closed (it was not inheritable anyway).
    reader, writer = os.pipe()
    pid = os.posix_spawn(PYTHON, [PYTHON, "-c", LIST_FDS], os.environ,
                         file_actions=[(os.POSIX_SPAWN_DUP2, writer, 1),
                                       (os.POSIX_SPAWN_DUP2, fds["pair0"], 7),
                                       (os.POSIX_SPAWN_CLOSE, fds["pipe_r"])])
    os.close(writer)
    with os.fdopen(reader) as out:
        for line in out.read().splitlines():
            print(f"posix_spawn| {line}")
    print(f"posix_spawn: exit {os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])}")
    own_fds("parent after")
    request(port, "/after-children")


def tls_request(tls_port, ca, path):
    """HTTPS with a fresh ssl context (a new SSL_CTX and SSL)."""
    import ssl
    context = ssl.create_default_context(cafile=ca)
    with socket.create_connection(("127.0.0.1", tls_port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            print(f"tls socket fd {tls.fileno()} {tls.version()}")
            tls.sendall(f"GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n".encode())
            data = b""
            while chunk := tls.recv(4096):
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            print(f"tls response: {head.splitlines()[0].decode()!r} body {body!r}")


def after_closing(port, tls=None):
    own_fds("after closing")
    keep, fds = open_some(port)  # the lowest numbers again: 3, 4, ...
    request(port, "/after-closing")
    if tls:
        tls_request(int(tls[0]), tls[1], "/tls-after-closing")
    child("child", [PYTHON, "-c", LIST_FDS], pass_fds=(fds["tcp"],))
    print(f"RLIMIT_NOFILE {resource.getrlimit(resource.RLIMIT_NOFILE)}")


def main_closerange(port, *tls):
    keep, fds = open_some(port)
    own_fds("before")
    os.closerange(3, 65536)
    for sock in keep[0], keep[1], keep[3], *keep[2]:
        sock.detach()  # their fds are closed already
    after_closing(port, tls)


def main_closeloop(port, *tls):
    keep, fds = open_some(port)
    own_fds("before")
    closed = []
    for fd in range(3, scan_limit()):
        try:
            os.close(fd)
        except OSError:
            continue
        closed.append(fd)
    print(f"closed {len(closed)} fds: {closed}")
    for sock in keep[0], keep[1], keep[3], *keep[2]:
        sock.detach()
    after_closing(port, tls)


if __name__ == "__main__":
    mode, port, *tls = sys.argv[1], int(sys.argv[2]), *sys.argv[3:]
    {"spawn": main_spawn, "closerange": main_closerange, "closeloop": main_closeloop}[mode](port, *tls)
    sys.stdout.flush()
