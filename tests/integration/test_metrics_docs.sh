#!/usr/bin/env bash
# Metrics as Prometheus users expect (docs/operations.md, "Metrics"): every
# family present from the first scrape with its known label values at 0 (also
# those of features that are off), parley_build_info, the process_* metrics,
# the pool size as its own gauge; and every metric that docs/alerts.yml and
# docs/grafana-dashboard.json use exists in /metrics.
. "$(dirname "$0")/../lib/testlib.sh"

dsn=$(new_db)
conf=$(new_config "$dsn")
ok "migrate" "$PARLEY_BIN" migrate -c "$conf"
# No OpenAI key: replies and extraction are off in this process.
start_parley "$conf" || { finish; exit 1; }
pid=$PARLEY_PID
url=$(parley_url "$conf")
metrics=$(curl -sS "$url/metrics")
printf '%s\n' "$metrics" >"$TEST_TMP/metrics.txt"

has() { printf '%s\n' "$metrics" | grep -qxF "$1" && echo yes || echo "missing: $1"; }
eq "failed replies at 0 before the first" yes "$(has 'parley_replies_total{outcome="failed"} 0')"
eq "extraction outcomes at 0 with extraction off" yes \
	"$(has 'parley_extractions_total{outcome="stored"} 0')"
eq "extraction failures at 0 with extraction off" yes \
	"$(has 'parley_extraction_failures_total{reason="upstream"} 0')"
eq "webhook 5xx (db_error) at 0" yes \
	"$(has 'parley_webhooks_total{object="whatsapp_business_account",result="db_error"} 0')"
eq "upstream in flight at 0" yes "$(has 'parley_upstream_in_flight{state="queued"} 0')"
eq "an empty histogram is exposed" yes "$(has 'parley_webhook_duration_seconds_count 0')"
eq "ready" yes "$(has 'parley_ready 1')"
commit=$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo unknown)
eq "build info with version and commit" yes \
	"$(has "parley_build_info{version=\"$(cat "$REPO_DIR/VERSION")\",commit=\"$commit\"} 1")"
eq "the pool size is its own gauge" yes \
	"$(printf '%s\n' "$metrics" | grep -qE '^parley_db_pool_size [1-9][0-9]*$' && echo yes)"
eq "no configured state in db_connections (sum() counts each connection once)" "" \
	"$(printf '%s\n' "$metrics" | grep 'state="configured"')"
eq "process_cpu_seconds_total exposed" yes \
	"$(printf '%s\n' "$metrics" | grep -qE '^process_cpu_seconds_total [0-9.e+]+$' && echo yes)"
for m in process_resident_memory_bytes process_open_fds \
	process_max_fds process_start_time_seconds; do
	eq "$m exposed with a positive value" yes \
		"$(printf '%s\n' "$metrics" | grep -qE "^$m [0-9.e+]+$" &&
			[ "$(printf '%s\n' "$metrics" | sed -nE "s/^$m ([0-9.e+]+)$/\1/p" |
				awk '{print ($1 > 0)}')" = 1 ] && echo yes)"
done
start=$(printf '%s\n' "$metrics" | sed -nE 's/^process_start_time_seconds ([0-9.e+]+)$/\1/p')
eq "process start time is within the last minute" yes \
	"$(awk -v s="$start" -v n="$(date +%s)" 'BEGIN { print (n - s >= -2 && n - s < 60) ? "yes" : "no: " n - s }')"

# Every metric name in every expression of the alert rules and the dashboard
# is in /metrics (a histogram by its _bucket/_sum/_count samples).
missing=$(python3 - "$TEST_TMP/metrics.txt" "$REPO_DIR/docs/alerts.yml" \
	"$REPO_DIR/docs/grafana-dashboard.json" <<'PY'
import json, re, sys
names = set()
for line in open(sys.argv[1]):
    if line and not line.startswith("#"):
        names.add(re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line).group(0))
exprs = []
# alerts.yml: every `expr:` value, single line or a `|` block.
lines = open(sys.argv[2]).read().split("\n")
i = 0
while i < len(lines):
    m = re.match(r"^(\s*)expr:\s*(.*)$", lines[i])
    if m:
        if m.group(2).strip() in ("|", ">", "|-", ">-"):
            block, ind = [], len(m.group(1))
            i += 1
            while i < len(lines) and (not lines[i].strip() or len(lines[i]) - len(lines[i].lstrip()) > ind):
                block.append(lines[i]); i += 1
            exprs.append(("alerts.yml", " ".join(block)))
            continue
        exprs.append(("alerts.yml", m.group(2)))
    i += 1
def walk(o):
    if isinstance(o, dict):
        for k, v in o.items():
            if k == "expr" and isinstance(v, str):
                exprs.append(("grafana-dashboard.json", v))
            elif k == "query" and isinstance(v, str):
                exprs.append(("grafana-dashboard.json", v))
            else:
                walk(v)
    elif isinstance(o, list):
        for v in o:
            walk(v)
walk(json.load(open(sys.argv[3])))
if len(exprs) < 10:
    print("only %d expressions found" % len(exprs))
used = 0
for where, e in exprs:
    e = re.sub(r'"[^"]*"', '""', e)  # label values are not names
    for n in re.findall(r"\b((?:parley|process)_[a-z0-9_]+)", e):
        used += 1
        if n not in names:
            print("%s: %s (in %s)" % (where, n, e.strip()))
if used < 20:
    print("only %d metric names found" % used)
PY
)
eq "every metric named by docs/alerts.yml and docs/grafana-dashboard.json exists" "" "$missing"
eq "the alert rules name the five required alerts" 5 \
	"$(grep -cE 'alert: Parley(NotReady|Webhook5xx|ReplyFailures|EventLoopLag|DbPoolExhausted)$' \
		"$REPO_DIR/docs/alerts.yml")"

stop_parley "$pid"
finish
