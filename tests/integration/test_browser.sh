#!/usr/bin/env bash
# The chat widget in headless Chromium against a real parley, PostgreSQL and
# the stand-in OpenAI (docs/protocol.md, Webchat):
# tests/browser/webchat.test.mjs loads the demo page, chats, reloads, and
# checks order, statuses and escaping, and the widget as a visitor sees it:
# read marks, times in the page's locale, the layout at desktop and phone
# widths, the notice of a widget that does not exist. Each of its steps
# counts as one result here. Its screenshots are kept in
# $PARLEY_BUILD/artifacts/browser/ (build/artifacts/browser/, or
# build/san/artifacts/browser/ under SANITIZE=1; BROWSER_ARTIFACTS chooses
# another directory).
#
# Without /usr/bin/chromium or node this passes with "skipped: chromium not
# installed" — except in CI (CI set), where `make deps` installs both and a
# missing browser is a failure.
. "$(dirname "$0")/../lib/testlib.sh"
# The widget shows "typing…" (README, Read receipts and typing).
unset PARLEY_REPLIES_READ_RECEIPTS PARLEY_REPLIES_TYPING

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
BROWSER_DIR=$TESTS_DIR/browser
if [ ! -x "$CHROMIUM" ] || ! command -v node >/dev/null || ! command -v npm >/dev/null; then
	if [ -n "${CI:-}" ]; then
		_t_report fail "chromium ($CHROMIUM), node and npm are installed (CI)" \
			"missing: $([ -x "$CHROMIUM" ] || printf 'chromium ')$(command -v node >/dev/null || printf 'node ')$(command -v npm >/dev/null || printf npm)"
	else
		echo "skipped: chromium not installed"
	fi
	finish
	exit
fi
# playwright-core, pinned by package-lock.json; the browser is Debian's.
if [ ! -d "$BROWSER_DIR/node_modules/playwright-core" ]; then
	ok "npm ci in tests/browser" bash -c "cd '$BROWSER_DIR' && npm ci --no-audit --no-fund --loglevel=error"
fi

WIDGET=tulip-twine.web
start_standin fake_openai || { finish; exit 1; }
OPENAI=$STANDIN_URL

dsn=$(new_db)
conf=$(new_config "$dsn")
conf_set "$conf" webchat secret test-webchat-secret
# A page of another origin, served by the browser test itself, embeds the widget too.
shop_port=$(free_port)
conf_set "$conf" webchat allowed_origins "http://127.0.0.1:$shop_port"
conf_set "$conf" openai api_key sk-test
conf_set "$conf" openai url "$OPENAI/v1"
conf_set "$conf" openai timeout_seconds 15
# Short, so that the test waits little; a later message than the debounce
# still gets its own reply, which is what the test sends.
conf_set "$conf" replies debounce_ms 300
ok "migrate" "$PARLEY_BIN" migrate -c "$conf"
psql -X -q -v ON_ERROR_STOP=1 "$dsn" <<SQL
INSERT INTO users (user_id, email, company_name) VALUES ('tulip', 'shop@tulip.test', 'Tulip & Twine');
INSERT INTO credits (user_id, remaining_credits) VALUES ('tulip', 100);
INSERT INTO phone_numbers (id, user_id, platform, meta_phone_number_id, access_token, display_name)
VALUES ('pn-web', 'tulip', 'webchat', '$WIDGET', 'unused', 'Tulip & Twine website');
INSERT INTO agents (agent_id, user_id, phone_number_id, prompt_id, name)
VALUES ('ag-web', 'tulip', 'pn-web', 'pmpt_web', 'Website agent');
SQL
start_parley "$conf" || { finish; exit 1; }
url=$(parley_url "$conf")

out=$TEST_TMP/browser.$$.out
artifacts=${BROWSER_ARTIFACTS:-${PARLEY_BUILD:-$(dirname "$PARLEY_BIN")}/artifacts/browser}
mkdir -p "$artifacts" && rm -f "$artifacts"/*.png
(cd "$BROWSER_DIR" && PARLEY_URL=$url WIDGET_ID=$WIDGET CHROMIUM=$CHROMIUM SHOP_PORT=$shop_port OPENAI_URL=$OPENAI \
	PARLEY_BIN=$PARLEY_BIN PARLEY_CONF=$conf ARTIFACTS=$artifacts \
	timeout 300 node webchat.test.mjs) >"$out" 2>&1
rc=$?
# One result per step: "ok STEP" or "not ok STEP: why" (indented lines follow).
while IFS= read -r line; do
	case "$line" in
	"ok "*) _t_report ok "browser: ${line#ok }" ;;
	"not ok "*) _t_report fail "browser: ${line#not ok }" "$(sed -n '/^not ok /,$p' "$out" | tail -n +2)" ;;
	esac
done <"$out"
eq "the browser test exits 0" 0 "$rc"
# A crash before any step failed: show everything it printed.
[ "$rc" = 0 ] || grep -q '^not ok ' "$out" || { echo "browser test output:"; sed 's/^/    /' "$out"; }

for shot in desktop phone phone-closed unavailable; do
	ok "the screenshot $shot.png is kept in $artifacts" test -s "$artifacts/$shot.png"
done

# What the browser did, as the database recorded it.
eq "the retried message is stored once" 1 \
	"$(sql "$dsn" "SELECT count(*) FROM messages WHERE sender = 'user' AND text = 'Second question: do you ship to Utrecht?'")"
eq "every reply came from the stand-in through the reply path" 5 \
	"$(sql "$dsn" "SELECT count(*) FROM messages WHERE sender = 'agent' AND text LIKE 'Echo: %'")"
eq "the person's message is stored once, as a person's" "agent human" \
	"$(sql "$dsn" "SELECT sender || ' ' || author FROM messages WHERE text LIKE 'Hi, this is Ruth%'")"
eq "nothing in the log at info carries a message text" 0 "$(grep -c 'Second question' "$conf.log")"

stop_parley "$PARLEY_PID"
eq "parley stops cleanly" 0 "$?"
finish
