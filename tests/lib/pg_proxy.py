#!/usr/bin/env python3
"""A TCP proxy between parley and PostgreSQL that breaks one connection on
request, for tests of what parley does when a statement's outcome is
unknown.

    pg_proxy.py LISTEN_PORT PG_PORT CONTROL_DIR

Every accepted connection is forwarded to 127.0.0.1:PG_PORT. A fault is
armed by writing a file into CONTROL_DIR whose content is a byte pattern
(the name of a function, say):

  cut-answer     the next chunk from the server that contains the pattern
                 (the answer to a statement: its column is named after the
                 function) is dropped and the connection is shut down both
                 ways -- the statement committed, its answer never arrives.
  freeze-answer  the same chunk is dropped and the connection goes silent:
                 nothing more is forwarded either way and the sockets stay
                 open, as when a host or a network path dies without FIN or
                 RST.
  freeze-query   the next chunk from parley that contains the pattern (the
                 statement) is dropped and the connection goes silent: the
                 statement never runs.

A fault fires once: its file is renamed to NAME.done (holding the start of
the chunk), so that a test can wait for it.
"""
import os
import socket
import sys
import threading

lport, dport, control = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
frozen = []  # sockets of silenced connections, kept open on purpose


def armed(name, chunk):
    """True (and disarmed) when fault name is armed and chunk matches it."""
    path = os.path.join(control, name)
    with lock:
        try:
            with open(path, "rb") as f:
                pattern = f.read().strip()
        except OSError:
            return False
        if not pattern or pattern not in chunk:
            return False
        os.rename(path, path + ".done")
        with open(path + ".done", "wb") as f:
            f.write(chunk[:200])
        return True


def pipe(src, dst, faults, conn):
    try:
        while not conn["frozen"]:
            b = src.recv(65536)
            if not b or conn["frozen"]:
                break
            for name in faults:
                if not armed(name, b):
                    continue
                if name == "cut-answer":
                    for s in (src, dst):
                        try:
                            s.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                    return
                conn["frozen"] = True
                frozen.extend((src, dst))
                return
            dst.sendall(b)
    except OSError:
        pass
    if conn["frozen"]:
        return
    for s in (src, dst):
        try:
            s.close()
        except OSError:
            pass


ls = socket.socket()
ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
ls.bind(("127.0.0.1", lport))
ls.listen(64)
print("proxy up", flush=True)
while True:
    c, _ = ls.accept()
    try:
        s = socket.create_connection(("127.0.0.1", dport))
    except OSError:
        c.close()
        continue
    conn = {"frozen": False}
    threading.Thread(target=pipe, args=(c, s, ("freeze-query",), conn), daemon=True).start()
    threading.Thread(target=pipe, args=(s, c, ("cut-answer", "freeze-answer"), conn),
                     daemon=True).start()
