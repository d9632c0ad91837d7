#!/usr/bin/env bash
# Limits (SPEC §12): per-route body limits checked before a body is buffered,
# the whole-request deadline, server.max_connections, running out of file
# descriptors, and /readyz costing at most one query a second.
. "$(dirname "$0")/../lib/testlib.sh"
# idle_cpu DESC CPU: the CPU parley used (seconds, in the 2 s of a raw
# hold) stays below half a second.
idle_cpu() { ok "$1 ($2 s of CPU in 2 s)" python3 -c "import sys; sys.exit(0 if $2 < 0.5 else 1)"; }

dsn=$(new_db)
conf=$(new_config "$dsn")
ok "migrate" "$PARLEY_BIN" migrate -c "$conf"

# --- /readyz answers from the pool's state: 300 polls cost a handful of
# transactions, not 300. A backend's statistics reach pg_stat_database at the
# latest when it exits, so the count is taken with parley stopped.
commits() {
	sleep 0.5
	sql "$dsn" "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
}
before=$(commits)
start_parley "$conf" || { finish; exit 1; }
url=$(parley_url "$conf")
# One curl per 50 polls (each URL with its own -o), reusing its connection.
codes=$(for i in $(seq 1 300); do printf -- '-o\n/dev/null\n%s\n' "$url/readyz"; done |
	xargs -d '\n' -n 150 curl -sS -w '%{http_code}\n' | sort | uniq -c | awk '{print $2 "x" $1}')
eq "300 /readyz polls: all 200" 200x300 "$codes"
# An answer leaves in two writes (http_conn.c holds its last byte back).
# Without TCP_NODELAY the second waited for the client's delayed ACK, 40 ms
# per answer on a kept-alive connection: 40 requests took 1.7-2.2 s, with
# it about 50 ms (`make bench`: 1,300 -> 4,300 webhooks/s).
hz=$(for i in $(seq 1 40); do printf -- '-o\n/dev/null\n%s\n' "$url/healthz"; done)
t0=$(date +%s%N)
conns=$(xargs -d '\n' curl -sS -w '%{num_connects}\n' <<<"$hz" | awk '{ n += $1 } END { print n }')
ms=$((($(date +%s%N) - t0) / 1000000))
eq "40 requests on one kept-alive connection" 1 "$conns"
ok "  answered without a delayed-ACK stall each ($ms ms; 40 stalls take 1.6 s)" test "$ms" -lt 1200
stop_parley "$PARLEY_PID"
after=$(commits)
# Start-up and shutdown take queries of their own (the schema check of each
# pool connection, the first claims of the reply, extraction and event
# workers, the janitor's first pass: about 30 to 70 here, more on a loaded
# machine where the run lasts longer); one probe a second is a few more.
# A probe per poll would be 300 more.
ok "300 /readyz polls cost far fewer queries than polls ($((after - before)))" test $((after - before)) -le 150

raw() { python3 "$TESTS_DIR/lib/http_raw.py" "$@"; }

# --- per-route body limits, checked before the body is read: each head
# below announces a body that is never sent, so only an answer that does
# not wait for it arrives within the client's 5 s.
conf_set "$conf" server max_body_bytes 100000
conf_set "$conf" server internal_listen "127.0.0.1:$(free_port)"
serve "$conf" || { finish; exit 1; }
port=$(sed -nE 's/^listen = .*:([0-9]+)$/\1/p' "$conf" | head -1)
iport=$(sed -nE 's/^internal_listen = .*:([0-9]+)$/\1/p' "$conf" | head -1)
eq "webhook over server.max_body_bytes: 413 before the body" \
	'413 {"error":"requestbodytoolarge"}' "$(raw head-only "$port" POST /webhooks/meta 100001)"
eq "webchat over 64 KiB: 413 before the body" \
	'413 {"error":"requestbodytoolarge"}' "$(raw head-only "$port" POST /webchat/v1/messages 65537)"
eq "unknown path over 4 KiB: 413 before the body" \
	'413 {"error":"requestbodytoolarge"}' "$(raw head-only "$port" POST /nowhere 4097)"
eq "/healthz over 4 KiB: 413 before the body" \
	'413 {"error":"requestbodytoolarge"}' "$(raw head-only "$iport" GET /healthz 5000)"
# Within the limit the body is waited for (the client sends none: no answer).
eq "webchat at 64 KiB: the body is awaited" none "$(raw head-only "$port" POST /webchat/v1/messages 65536 | cut -d' ' -f1)"
eq "unknown path at 4 KiB: the body is awaited" none "$(raw head-only "$port" POST /nowhere 4096 | cut -d' ' -f1)"
# Chunked: cut at the limit, whatever the chunks add up to in the end.
eq "chunked over 4 KiB on an unknown path: 413 once a chunk would cross it" "413 4000" \
	"$(raw chunked "$port" /nowhere 1000 20)"
eq "chunked over 64 KiB on webchat: 413" "413 64000" "$(raw chunked "$port" /webchat/v1/messages 16000 10)"
eq "chunked within 4 KiB: routed as usual" "404 3000" "$(raw chunked "$port" /nowhere 1000 3)"
eq "webhook within its limit: routed as usual (unsigned: 401)" 401 \
	"$(head -c 50000 /dev/zero | curl -sS -o /dev/null -w '%{http_code}' --data-binary @- "$url/webhooks/meta")"
# Lengths the framing and evhttp could read apart are refused.
eq "Content-Length and Transfer-Encoding together: 400" '400 {"error":"malformedrequest"}' \
	"$(raw raw "$port" "$(printf 'POST /nowhere HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' | od -An -tx1 | tr -d ' \n')")"
eq "two Content-Lengths: 400" 400 \
	"$(raw raw "$port" "$(printf 'POST /nowhere HTTP/1.1\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc' | od -An -tx1 | tr -d ' \n')" | cut -d' ' -f1)"
eq "a transfer coding other than chunked: 501" 501 \
	"$(raw raw "$port" "$(printf 'POST /nowhere HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n' | od -An -tx1 | tr -d ' \n')" | cut -d' ' -f1)"
# Two requests in one write, the second too large: the first is answered
# as usual, then the second is refused.
pipelined=$(python3 - "$port" <<'PY'
import re, socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /nowhere HTTP/1.1\r\nHost: t\r\n\r\nPOST /nowhere HTTP/1.1\r\nHost: t\r\nContent-Length: 9999\r\n\r\n")
s.settimeout(5)
data = b""
try:
    while data.count(b"HTTP/1.1 ") < 2 or not data.endswith(b"}\n"):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
except socket.timeout:
    pass
print(" ".join(c.decode() for c in re.findall(rb"HTTP/1\.1 (\d{3}) ", data)))
PY
)
eq "pipelined: the first answered, the oversized second refused" "404 413" "$pipelined"
stop_parley "$pid"
eq "body limits: exits 0" 0 $?

# --- the whole-request deadline: a byte a second does not keep a request alive.
conf_set "$conf" server request_timeout_seconds 3
serve "$conf" || { finish; exit 1; }
t=$(raw trickle "$port" head 10)
ok "a head trickled a byte a second is closed after 3 s (closed after: $t)" test "$t" != open -a "$t" -ge 2 -a "$t" -le 6
t=$(raw trickle "$port" body 10)
ok "a body trickled a byte a second is closed after 3 s (closed after: $t)" test "$t" != open -a "$t" -ge 2 -a "$t" -le 6
eq "requests that arrive in time are answered" 200 "$(curl -sS -o /dev/null -w '%{http_code}' "http://127.0.0.1:$iport/healthz")"
stop_parley "$pid"
eq "request deadline: exits 0" 0 $?

# --- server.max_connections: the connection beyond it is closed at once;
# health checks on the internal listener still get in; the loop stays idle.
conf_set "$conf" server request_timeout_seconds 30
conf_set "$conf" server max_connections 5
serve "$conf" || { finish; exit 1; }
read -r closed cpu inner after <<<"$(raw hold "$pid" "$port" "$iport" 5 3)"
eq "max_connections 5: the 3 beyond it are closed at once" 3 "$closed"
idle_cpu "max_connections: parley stays idle meanwhile" "$cpu"
eq "max_connections: /healthz on the internal listener answers" 200 "$inner"
eq "max_connections: a connection is taken again once others closed" 200 "$after"
contains "max_connections: the refusal is logged" "closing new connections: server.max_connections reached" "$(cat "$conf.log")"
stop_parley "$pid"
eq "max_connections: exits 0" 0 $?

# --- out of file descriptors: new connections are closed at once, the loop
# does not spin, and it recovers when connections close.
conf_set "$conf" server max_connections 10000
cat >"$TEST_TMP/parley-nofile" <<SH
#!/bin/sh
ulimit -n 100
exec "$PARLEY_BIN" "\$@"
SH
chmod +x "$TEST_TMP/parley-nofile"
PARLEY_BIN="$TEST_TMP/parley-nofile" serve "$conf" || { finish; exit 1; }
read -r closed cpu inner after <<<"$(raw hold "$pid" "$port" "$iport" 120 5)"
eq "out of descriptors: the 5 beyond are closed at once" 5 "$closed"
idle_cpu "out of descriptors: the loop does not spin" "$cpu"
eq "out of descriptors: a connection is taken again once others closed" 200 "$after"
contains "out of descriptors: logged" "closing new connections: out of file descriptors" "$(cat "$conf.log")"
stop_parley "$pid"
eq "out of descriptors: exits 0" 0 $?
eq "no sanitizer reports in the log" 0 "$(grep -c 'Sanitizer\|runtime error' "$conf.log")"

finish
