#!/usr/bin/env python3
"""Raw-socket HTTP clients for the limits tests (test_limits.sh): what curl
cannot do, such as sending a head without its body, trickling bytes, or
holding connections open.

Every command prints one line of space-separated results.
"""
import os
import socket
import sys
import time


def connect(port):
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_response(s, timeout):
    """The status code and body of one response, or 'none' (nothing came
    before timeout) or 'closed' (the server closed without answering)."""
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                for line in head.split(b"\r\n")[1:]:
                    k, _, v = line.partition(b":")
                    if k.strip().lower() == b"content-length" and len(body) >= int(v):
                        return data.split(b" ")[1].decode(), body.decode(errors="replace")
    except socket.timeout:
        if not data:
            return "none", ""
    except ConnectionResetError:
        pass
    if not data:
        return "closed", ""
    return data.split(b" ")[1].decode(), data.partition(b"\r\n\r\n")[2].decode(errors="replace")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def head_only(port, method, path, length):
    """Sends a head announcing length bytes of body and none of it."""
    s = connect(port)
    s.sendall(f"{method} {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
              f"Content-Length: {length}\r\n\r\n".encode())
    code, body = read_response(s, 5)
    print(code, body.strip().replace(" ", ""))


def raw(port, hexdata):
    """Sends bytes as given (hex) and prints the first answer."""
    s = connect(port)
    s.sendall(bytes.fromhex(hexdata))
    code, body = read_response(s, 5)
    print(code, body.strip().replace(" ", ""))


def chunked(port, path, size, count):
    """Sends count chunks of size bytes, one at a time, stopping when an
    answer arrives; prints it and the body bytes sent before it."""
    s = connect(port)
    s.sendall(f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
              "Transfer-Encoding: chunked\r\n\r\n".encode())
    sent = 0
    for _ in range(int(count)):
        try:
            s.sendall(b"%x\r\n" % int(size))
            s.settimeout(0.3)
            try:
                peek = s.recv(1, socket.MSG_PEEK)
            except socket.timeout:
                peek = None
            if peek is not None:
                break
            s.sendall(b"x" * int(size) + b"\r\n")
            sent += int(size)
        except (BrokenPipeError, ConnectionResetError):
            break
    else:
        try:
            s.sendall(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass
    code, body = read_response(s, 5)
    print(code, sent)


def trickle(port, what, limit):
    """Sends a request one byte a second (its head, or its body after a whole
    head); prints after how many seconds the server closed, or 'open'."""
    s = connect(port)
    start = time.monotonic()
    if what == "body":
        s.sendall(b"POST /webhooks/meta HTTP/1.1\r\nHost: t\r\nContent-Length: 1000\r\n\r\n")
        data = b"x" * 1000
    else:
        data = b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Slow: " + b"y" * 1000
    for i in range(len(data)):
        if time.monotonic() - start > float(limit):
            print("open")
            return
        try:
            s.sendall(data[i:i + 1])
            s.settimeout(1)
            if s.recv(4096) == b"":
                raise ConnectionResetError
        except socket.timeout:
            continue
        except (BrokenPipeError, ConnectionResetError):
            print(round(time.monotonic() - start))
            return
    print("open")


def request(port, path):
    s = connect(port)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: t\r\n\r\n".encode())
    return read_response(s, 5)[0]


def hold(pid, port, internal, n, extra):
    """Opens n connections and holds them, then extra more: prints how many
    of the extra were closed within a second, the parley CPU seconds spent
    over two seconds of that, /healthz on the internal port (or '-'), and
    the answer to a subscription check on the public port once the held
    ones are closed."""
    held = [connect(port) for _ in range(int(n))]
    time.sleep(0.5)
    cpu0 = cpu_seconds(pid)
    extras = [connect(port) for _ in range(int(extra))]
    closed = 0
    for s in extras:
        s.settimeout(1)
        try:
            if s.recv(1) == b"":
                closed += 1
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed += 1
    time.sleep(2)
    cpu = cpu_seconds(pid) - cpu0
    inner = request(internal, "/healthz") if internal != "-" else "-"
    for s in held + extras:
        s.close()
    time.sleep(0.5)
    print(closed, f"{cpu:.2f}", inner, request(
        port, "/webhooks/meta?hub.mode=subscribe&hub.verify_token=test-verify-token&hub.challenge=1"))


if __name__ == "__main__":
    cmd, args = sys.argv[1], sys.argv[2:]
    {"head-only": head_only, "raw": raw, "chunked": chunked, "trickle": trickle,
     "hold": hold}[cmd](*args)
