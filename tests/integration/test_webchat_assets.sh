#!/usr/bin/env bash
# The widget's files as parley serves them (docs/protocol.md): GET
# /webchat/v1/widget.js (cacheable, ETag, 304) and GET
# /webchat/v1/demo?widget=ID (the id checked and escaped, a strict
# Content-Security-Policy). The widget's behaviour in a browser is
# test_browser.sh.
. "$(dirname "$0")/../lib/testlib.sh"

dsn=$(new_db)
conf=$(new_config "$dsn")
conf_set "$conf" webchat secret test-webchat-secret
ok "migrate" "$PARLEY_BIN" migrate -c "$conf"
start_parley "$conf" || { finish; exit 1; }
url=$(parley_url "$conf")

# header NAME FILE: the value of a response header in a curl -D dump.
header() { sed -nE "s/^$1: (.*)\r?$/\1/Ip" "$2" | tr -d '\r' | head -1; }

h=$TEST_TMP/h.$$
code=$(curl -sS -D "$h" -o "$TEST_TMP/widget.js" -w '%{http_code}' "$url/webchat/v1/widget.js")
eq "widget.js: 200" 200 "$code"
eq "widget.js: content type" "application/javascript; charset=utf-8" "$(header Content-Type "$h")"
eq "widget.js: cacheable for five minutes" "public, max-age=300" "$(header Cache-Control "$h")"
eq "widget.js: one Cache-Control header" 1 "$(grep -ci '^cache-control:' "$h")"
ok "widget.js: the very file in the tree" cmp "$TEST_TMP/widget.js" "$REPO_DIR/src/widget/widget.js"
etag=$(header ETag "$h")
contains "widget.js: a strong ETag" '"' "$etag"
got=$(curl -sS -D "$h" -o /dev/null -w '%{http_code} %{size_download}' -H "If-None-Match: $etag" "$url/webchat/v1/widget.js")
eq "widget.js: 304 without a body for its ETag" "304 0" "$got"
eq "widget.js: 304 repeats the ETag" "$etag" "$(header ETag "$h")"
eq "widget.js: 304 for a weak match in a list" 304 \
	"$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: \"x\", W/$etag" "$url/webchat/v1/widget.js")"
eq "widget.js: 200 for another ETag" 200 \
	"$(curl -sS -o /dev/null -w '%{http_code}' -H 'If-None-Match: "other"' "$url/webchat/v1/widget.js")"
eq "widget.js: POST is 405" 405 "$(curl -sS -o /dev/null -w '%{http_code}' -d x "$url/webchat/v1/widget.js")"

code=$(curl -sS -D "$h" -o "$TEST_TMP/demo.html" -w '%{http_code}' "$url/webchat/v1/demo?widget=shop.web-1_x")
eq "demo: 200" 200 "$code"
eq "demo: content type" "text/html; charset=utf-8" "$(header Content-Type "$h")"
csp=$(header Content-Security-Policy "$h")
contains "demo: CSP allows only its own scripts" "script-src 'self';" "$csp"
contains "demo: CSP allows only its own connections" "connect-src 'self';" "$csp"
contains "demo: CSP forbids everything else by default" "default-src 'none'" "$csp"
eq "demo: not cached" "no-store" "$(header Cache-Control "$h")"
contains "demo: the widget id is in the script tag" \
	'<script src="/webchat/v1/widget.js" data-widget="shop.web-1_x"' "$(cat "$TEST_TMP/demo.html")"
eq "demo: no placeholder left" 0 "$(grep -c '{{WIDGET_ID}}' "$TEST_TMP/demo.html")"

for bad in '' 'a%22b' '%3Cscript%3E' 'a%20b' "$(printf 'a%.0s' $(seq 1 101))" 'caf%C3%A9'; do
	code=$(curl -sS -o "$TEST_TMP/body" -w '%{http_code}' "$url/webchat/v1/demo?widget=$bad")
	eq "demo: widget='$bad' is 400" 400 "$code"
done
eq "demo: the 400 is a JSON error" true "$(jq 'has("error")' "$TEST_TMP/body")"
eq "demo: without widget is 400" 400 "$(curl -sS -o /dev/null -w '%{http_code}' "$url/webchat/v1/demo")"
eq "demo: 100 characters are fine" 200 \
	"$(curl -sS -o /dev/null -w '%{http_code}' "$url/webchat/v1/demo?widget=$(printf 'b%.0s' $(seq 1 100))")"

stop_parley "$PARLEY_PID"
eq "parley stops cleanly" 0 "$?"
finish
