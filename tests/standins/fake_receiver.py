#!/usr/bin/env python3
"""A business's webhook receiver, for tests of events out (README, Events out).

Records every POST (path, headers in lower case, raw body, arrival time) for
GET /_requests, and answers by a script per path set with
POST /_script?path=/a (a JSON array of steps, used up in order; 200 when empty):
  {"status": 500}                       any status
  {"status": 429, "retry_after": "2"}   with Retry-After
  {"hang": 30}                          answer 200 after that many seconds
  {"close": true}                       close the connection without answering
POST /_reset clears requests and scripts. Prints "listening on HOST:PORT".
Python rather than C like the other stand-ins: a receiver needs threads (a
hanging answer must not hold the others) and nothing of parley's code.
"""
import argparse, json, os, signal, socket, sys, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlparse, parse_qs

LOCK = threading.Lock()
REQUESTS = []
SCRIPTS = {}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def _reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        if self.path == "/_requests":
            with LOCK:
                body = json.dumps(REQUESTS).encode()
            self._reply(200, body, [("Content-Type", "application/json")])
        else:
            self._reply(404)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        u = urlparse(self.path)
        if u.path == "/_script":
            path = parse_qs(u.query).get("path", ["/"])[0]
            with LOCK:
                SCRIPTS.setdefault(path, []).extend(json.loads(raw))
            return self._reply(200)
        if u.path == "/_reset":
            with LOCK:
                REQUESTS.clear()
                SCRIPTS.clear()
            return self._reply(200)
        with LOCK:
            steps = SCRIPTS.get(u.path) or []
            step = steps.pop(0) if steps else {}
            REQUESTS.append({"path": u.path, "at": time.time(),
                             "headers": {k.lower(): v for k, v in self.headers.items()},
                             "body": raw.decode("utf-8", "replace"), "step": step})
        if step.get("close"):
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if "hang" in step:
            time.sleep(float(step["hang"]))
        hdrs = []
        if "retry_after" in step:
            hdrs.append(("Retry-After", str(step["retry_after"])))
        self._reply(int(step.get("status", 200)), b"ok", hdrs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1:0")
    a = ap.parse_args()
    host, port = a.listen.rsplit(":", 1)
    srv = ThreadingHTTPServer((host, int(port)), Handler)
    srv.daemon_threads = True
    # Exit 0 on SIGTERM, like the C stand-ins (callers check the status).
    def stop(signum, frame):
        os._exit(0)
    signal.signal(signal.SIGTERM, stop)
    print("listening on %s:%d" % srv.server_address[:2], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    srv.server_close()


if __name__ == "__main__":
    main()
