#!/usr/bin/env bash
# Secrets in the configuration (docs/operations.md, Deployment): weak or
# placeholder secrets stop check-config and serve with exit 2 naming where
# they came from; every secret can come from $CREDENTIALS_DIRECTORY, the
# database password too (checked against a role that really needs it);
# check-config masks every secret, conninfo parameters included.
. "$(dirname "$0")/../lib/testlib.sh"

dsn=$(new_db)
conf=$(new_config "$dsn")
ok "migrate" "$PARLEY_BIN" migrate -c "$conf"

# --- weak secrets: check-config and serve refuse them, naming file:line
weak="$TEST_TMP/weak.conf"
cp "$conf" "$weak"
conf_set "$weak" meta app_secret fifteen-bytes-1
line=$(grep -n '^app_secret = ' "$weak" | cut -d: -f1)
out=$("$PARLEY_BIN" check-config -c "$weak" 2>&1)
eq "check-config, 15-byte app secret: exit 2" 2 $?
eq "check-config names the key and file:line" \
	"parley: $weak:$line: meta.app_secret: is shorter than 16 bytes" "$out"
out=$(timeout 20 "$PARLEY_BIN" serve -c "$weak" 2>&1)
eq "serve, 15-byte app secret: exit 2" 2 $?
eq "serve gives the same reason" "parley: $weak:$line: meta.app_secret: is shorter than 16 bytes" "$out"

conf_set "$weak" meta app_secret "test-meta-app-secret, short"
out=$("$PARLEY_BIN" check-config -c "$weak" 2>&1)
eq "check-config, one short entry of a rotation list: exit 2" 2 $?
contains "the entry is named" "meta.app_secret: entry 2 of 2 is shorter than 16 bytes" "$out"

cp "$conf" "$weak"
conf_set "$weak" webchat secret REPLACE_WITH_A_RANDOM_WEBCHAT_SECRET
line=$(grep -n '^secret = ' "$weak" | cut -d: -f1)
out=$("$PARLEY_BIN" check-config -c "$weak" 2>&1)
eq "check-config, webchat placeholder: exit 2" 2 $?
eq "the placeholder is named as such" \
	"parley: $weak:$line: webchat.secret: is the example file's placeholder, not a secret" "$out"
out=$(PARLEY_META_VERIFY_TOKEN=short "$PARLEY_BIN" check-config -c "$conf" 2>&1)
eq "check-config, short verify token from the environment: exit 2" 2 $?
eq "the variable is named" \
	"parley: environment PARLEY_META_VERIFY_TOKEN: meta.verify_token: is shorter than 16 bytes" "$out"

conf_set "$weak" webchat secret 0123456789abcdef
ok "check-config, exactly 16 bytes: exit 0" "$PARLEY_BIN" check-config -c "$weak"
ok "check-config, no webchat secret (no widget yet): exit 0" "$PARLEY_BIN" check-config -c "$conf"
# replay signs test traffic and guards nothing: it takes any secret
short="$TEST_TMP/short.conf"
printf '[meta]\napp_secret = short\n' >"$short"
wa_text wamid.SEC1 31612345678 "hi" >"$TEST_TMP/sec1.json"
out=$("$PARLEY_BIN" replay -c "$short" --url "http://127.0.0.1:1/webhooks/meta" "$TEST_TMP/sec1.json" 2>&1)
eq "replay does not judge the secret (exit 1: nothing listens)" 1 $?

# --- the shipped example: its placeholders are refused, and say where
example="$REPO_DIR/config/parley.conf.example"
line=$(grep -n '^app_secret = ' "$example" | cut -d: -f1)
out=$("$PARLEY_BIN" check-config -c "$example" 2>&1)
eq "check-config on the example: exit 2" 2 $?
eq "the example's app secret placeholder is named" \
	"parley: $example:$line: meta.app_secret: is the example file's placeholder, not a secret" "$out"
# ... and credentials replace them, as the unit's LoadCredential= lines do
creds="$TEST_TMP/creds"
mkdir -p "$creds"
printf 'cred-meta-app-secret\n' >"$creds/meta.app_secret"
printf 'cred-verify-token-xyz\n' >"$creds/meta.verify_token"
printf 'sk-cred-openai-key\n' >"$creds/openai.api_key"
printf 'cred-webchat-secret-xyz\n' >"$creds/webchat.secret"
printf 'cred-google-client-secret\n' >"$creds/google.client_secret"
printf 'cred-db-password\n' >"$creds/database.password"
out=$(CREDENTIALS_DIRECTORY=$creds "$PARLEY_BIN" check-config -c "$example" 2>&1)
eq "the example with every secret as a credential: exit 0" 0 $?
for key in meta.app_secret meta.verify_token openai.api_key webchat.secret google.client_secret database.password; do
	contains "$key from its credential, masked" \
		"${key#*.} = ********" "$(printf '%s\n' "$out" | grep -F "# from credential $creds/$key")"
done
contains "the database password is merged into the url, masked" \
	"url = postgresql://parley@localhost/parley?password=********" "$out"
case "$out" in *cred-*) _t_report fail "no credential value printed" "$out" ;;
*) _t_report ok "no credential value printed" ;; esac
: >"$creds/webchat.secret"
out=$(CREDENTIALS_DIRECTORY=$creds "$PARLEY_BIN" check-config -c "$example" 2>&1)
eq "an empty credential file: exit 2" 2 $?
eq "it is named" "parley: credential $creds/webchat.secret: webchat.secret: is empty" "$out"

# --- masking: every secret parameter of database.url
masked="$TEST_TMP/masked.conf"
cp "$conf" "$masked"
conf_set "$masked" database url "host=db user=u password=Pw-One sslkey=/k.pem sslpassword=Pw-Two dbname=p"
out=$("$PARLEY_BIN" check-config -c "$masked" 2>&1)
eq "check-config, conninfo with sslpassword: exit 0" 0 $?
contains "conninfo: password and sslpassword masked, the rest shown" \
	"url = host=db user=u password=******** sslkey=/k.pem sslpassword=******** dbname=p" "$out"
conf_set "$masked" database url "postgresql://u:Pw-One@db/p?sslpassword=Pw-Two&sslmode=require"
out=$("$PARLEY_BIN" check-config -c "$masked" 2>&1)
contains "URI: user:password@ and sslpassword masked" \
	"url = postgresql://u:********@db/p?sslpassword=********&sslmode=require" "$out"
case "$out" in *Pw-*) _t_report fail "no database secret printed" "$out" ;;
*) _t_report ok "no database secret printed" ;; esac

# --- the database password from a credential reaches PostgreSQL. A role
# that must authenticate (scram) while every other role keeps trust auth.
role="parley_pw_$RANDOM"
pw="p@ss w'o\\rd%&=/?#-\"ü"
hba=$(sql "$PG_ADMIN_DSN" "SHOW hba_file")
{ printf 'host all %s 127.0.0.1/32 scram-sha-256\n' "$role"; cat "$hba"; } >"$TEST_TMP/hba"
cat "$TEST_TMP/hba" >"$hba"
psql -X -q -v ON_ERROR_STOP=1 -v pw="$pw" "$PG_ADMIN_DSN" >/dev/null <<SQL
CREATE ROLE $role LOGIN SUPERUSER PASSWORD :'pw';
SELECT pg_reload_conf();
SQL
db=$(sed -nE 's/.*dbname=([^ ]+).*/\1/p' <<<"$(new_db)")
kv_url="host=127.0.0.1 port=$PG_PORT user=$role dbname=$db"
for _ in $(seq 1 100); do
	psql -X -q -w "$kv_url" -c 'SELECT 1' >/dev/null 2>&1 || break # the reload took
	sleep 0.05
done
pwconf="$TEST_TMP/pw.conf"
printf '[database]\nurl = %s\n' "$kv_url" >"$pwconf"
out=$(env -u PGPASSWORD "$PARLEY_BIN" migrate -c "$pwconf" 2>&1)
eq "without the password: migrate exit 1" 1 $?
contains "without the password: libpq says so" "no password supplied" "$out"
pwcreds="$TEST_TMP/pwcreds"
mkdir -p "$pwcreds"
printf '%s\n' "$pw" >"$pwcreds/database.password"
out=$(CREDENTIALS_DIRECTORY=$pwcreds "$PARLEY_BIN" migrate -c "$pwconf" 2>&1)
eq "with the credential database.password: migrate exit 0" 0 $?
out=$(PARLEY_DATABASE_PASSWORD=not-the-password "$PARLEY_BIN" migrate -c "$pwconf" 2>&1)
eq "a wrong password: migrate exit 1" 1 $?
contains "a wrong password: authentication is what failed" "password authentication failed" "$out"
case "$out" in *not-the-password*) _t_report fail "the wrong password is not printed" "$out" ;;
*) _t_report ok "the wrong password is not printed" ;; esac
printf '[database]\nurl = postgresql://%s@127.0.0.1:%s/%s?sslmode=disable\n' "$role" "$PG_PORT" "$db" >"$pwconf"
out=$(CREDENTIALS_DIRECTORY=$pwcreds "$PARLEY_BIN" migrate --status -c "$pwconf" 2>&1)
eq "the credential with a URI url: migrate --status exit 0" 0 $?

# serve's asynchronous pool connects with it as well
{
	printf '[server]\nlisten = 127.0.0.1:%s\n' "$(free_port)"
	printf '[database]\nurl = %s\n' "$kv_url"
	printf '[meta]\napp_secret = test-meta-app-secret\nverify_token = test-verify-token\n'
} >"$pwconf"
CREDENTIALS_DIRECTORY=$pwcreds start_parley "$pwconf" || { finish; exit 1; }
pid=$PARLEY_PID
ready=no
for _ in $(seq 1 100); do
	[ "$(curl -sS -o /dev/null -w '%{http_code}' "$(parley_url "$pwconf")/readyz")" = 200 ] && { ready=yes; break; }
	sleep 0.1
done
eq "serve with the credential password: /readyz 200" yes "$ready"
stop_parley "$pid"
case "$(cat "$pwconf.log")" in *"$pw"* | *cred-*) _t_report fail "no password in serve's log" "$(cat "$pwconf.log")" ;;
*) _t_report ok "no password in serve's log" ;; esac

finish
