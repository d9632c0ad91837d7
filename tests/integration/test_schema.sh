#!/usr/bin/env bash
# The seed schema: 0001_seed_schema.sql matches the catalogue written by hand
# from the seed document (tests/expected/seed-schema.txt); 0002 replaces the
# conversations unique constraint by a partial unique index; the updated_at
# triggers and the CHECKs work; sql/schema.sql is what a fresh `parley
# migrate` produces.
. "$(dirname "$0")/../lib/testlib.sh"
. "$TESTS_DIR/lib/schema.sh"

# refused DSN DESC CHECK SQL: SQL on DSN fails on the CHECK constraint CHECK.
refused() { contains "$2 is refused" "violates check constraint \"$3\"" "$(sql "$1" "$4" 2>&1)"; }

MIG="$REPO_DIR/sql/migrations"
EXPECTED="$TESTS_DIR/expected/seed-schema.txt"

apply() { psql -X -q -v ON_ERROR_STOP=1 -1 -f "$2" "$1"; }

# One line per fact, in the format of tests/expected/seed-schema.txt. Schema
# public only; schema_migrations (the runner's own table) left out.
CATALOGUE_SQL=$(cat <<'SQL'
WITH rel AS (
    SELECT c.oid, c.relname, c.relkind
    FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace
      AND c.relname NOT IN ('schema_migrations', 'schema_migrations_pkey')
)
SELECT line FROM (
    SELECT 'table ' || relname AS line
    FROM rel WHERE relkind IN ('r', 'p')
  UNION ALL
    SELECT 'relation ' || relname || ' relkind=' || relkind::text
    FROM rel WHERE relkind NOT IN ('r', 'p', 'i', 'I')
  UNION ALL
    SELECT format('column %s %s %s %s %s%s',
                  table_name, lpad(ordinal_position::text, 2, '0'), column_name,
                  CASE WHEN data_type = 'ARRAY' THEN ltrim(udt_name, '_') || '[]'
                       ELSE data_type END
                    || coalesce('(' || character_maximum_length || ')', ''),
                  CASE is_nullable WHEN 'YES' THEN 'NULL' ELSE 'NOT NULL' END,
                  coalesce(' DEFAULT ' || column_default, ''))
    FROM information_schema.columns
    WHERE table_schema = 'public' AND table_name <> 'schema_migrations'
  UNION ALL
    SELECT format('constraint %s %s %s', r.relname, k.conname, pg_get_constraintdef(k.oid))
    FROM pg_constraint k JOIN rel r ON r.oid = k.conrelid
  UNION ALL
    SELECT format('index %s %s', r.relname, pg_get_indexdef(i.indexrelid))
    FROM pg_index i JOIN rel r ON r.oid = i.indrelid
    WHERE NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
  UNION ALL
    SELECT format('trigger %s %s', r.relname, pg_get_triggerdef(t.oid))
    FROM pg_trigger t JOIN rel r ON r.oid = t.tgrelid
    WHERE NOT t.tgisinternal
  UNION ALL
    SELECT format('function %s(%s) returns %s language %s: %s',
                  p.proname, pg_get_function_identity_arguments(p.oid),
                  pg_get_function_result(p.oid), l.lanname,
                  btrim(regexp_replace(p.prosrc, '\s+', ' ', 'g')))
    FROM pg_proc p JOIN pg_language l ON l.oid = p.prolang
    WHERE p.pronamespace = 'public'::regnamespace
) facts
ORDER BY line COLLATE "C"
SQL
)
catalogue() { sql "$1" "$CATALOGUE_SQL"; }

# new_db counts its databases in a shell variable, which a $(new_db)
# subshell cannot advance: a second $(new_db) would reuse the first name.
# Call it in this shell, through a file.
fresh_db() {
	new_db >"$TEST_TMP/$T_NAME.dsn" || return 1
	printf -v "$1" '%s' "$(cat "$TEST_TMP/$T_NAME.dsn")"
}

# --- (a) 0001 alone matches the hand-written catalogue ----------------------

want=$(grep -v '^#' "$EXPECTED")
ok "expected catalogue is sorted" env LC_ALL=C sort -c <(printf '%s\n' "$want")

fresh_db db1
ok "0001 applies to a fresh database" apply "$db1" "$MIG/0001_seed_schema.sql"
got=$(catalogue "$db1")
ok "0001 catalogue matches tests/expected/seed-schema.txt" \
	diff -u --label expected --label actual <(printf '%s\n' "$want") <(printf '%s\n' "$got")
eq "eleven tables" 11 "$(sql "$db1" "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")"

# --- (b) 0001 + 0002: one active conversation, any number archived ----------

fresh_db db2
ok "0001 applies" apply "$db2" "$MIG/0001_seed_schema.sql"
ok "0002 applies" apply "$db2" "$MIG/0002_one_active_conversation.sql"

eq "seed's conversations unique constraint is gone" 0 \
	"$(sql "$db2" "SELECT count(*) FROM pg_constraint
	               WHERE conname = 'conversations_agent_id_customer_phone_is_active_key'")"
eq "partial unique index conversations_one_active" \
	"CREATE UNIQUE INDEX conversations_one_active ON public.conversations USING btree (agent_id, customer_phone) WHERE is_active" \
	"$(sql "$db2" "SELECT pg_get_indexdef('conversations_one_active'::regclass)")"

# Nothing else changed: the catalogue differs from the seed's by these lines.
got2=$(catalogue "$db2")
eq "0002 changes only the conversations constraints" \
	"-constraint conversations conversations_agent_id_customer_phone_is_active_key UNIQUE (agent_id, customer_phone, is_active)
+constraint conversations conversations_is_active_not_null CHECK ((is_active IS NOT NULL))
+index conversations CREATE UNIQUE INDEX conversations_one_active ON public.conversations USING btree (agent_id, customer_phone) WHERE is_active" \
	"$(diff <(printf '%s\n' "$got") <(printf '%s\n' "$got2") | sed -n 's/^< /-/p; s/^> /+/p')"

ok "fixtures: user, phone number, agent" sql "$db2" "
	INSERT INTO users (user_id, email) VALUES ('u1', 'u1@example.com');
	INSERT INTO phone_numbers (id, user_id, platform, meta_phone_number_id, access_token)
	     VALUES ('p1', 'u1', 'whatsapp', 'waba-1', 'token');
	INSERT INTO agents (agent_id, user_id, phone_number_id, prompt_id, name)
	     VALUES ('a1', 'u1', 'p1', 'prompt-1', 'Agent One');"
ok "two archived conversations for one (agent, customer)" sql "$db2" "
	INSERT INTO conversations (conversation_id, agent_id, customer_phone, is_active)
	     VALUES ('c1', 'a1', '+15550001', false), ('c2', 'a1', '+15550001', false);"
ok "one active conversation beside them" sql "$db2" "
	INSERT INTO conversations (conversation_id, agent_id, customer_phone)
	     VALUES ('c3', 'a1', '+15550001');"
out=$(sql "$db2" "INSERT INTO conversations (conversation_id, agent_id, customer_phone)
                  VALUES ('c4', 'a1', '+15550001');" 2>&1)
contains "a second active conversation is refused" \
	'violates unique constraint "conversations_one_active"' "$out"
ok "archiving the active one, then opening another" sql "$db2" "
	UPDATE conversations SET is_active = false WHERE conversation_id = 'c3';
	INSERT INTO conversations (conversation_id, agent_id, customer_phone)
	     VALUES ('c4', 'a1', '+15550001');"
ok "another customer has its own active conversation" sql "$db2" "
	INSERT INTO conversations (conversation_id, agent_id, customer_phone)
	     VALUES ('c5', 'a1', '+15550002');"
refused "$db2" "is_active NULL" conversations_is_active_not_null \
	"INSERT INTO conversations (conversation_id, agent_id, customer_phone, is_active)
	 VALUES ('c6', 'a1', '+15550003', NULL);"

# --- (c) updated_at triggers and CHECKs (on the seed schema alone) ----------

ok "fixtures on every table with a trigger" sql "$db1" "
	INSERT INTO users (user_id, email, updated_at)
	     VALUES ('u1', 'u1@example.com', '2000-01-01');
	INSERT INTO phone_numbers (id, user_id, platform, meta_phone_number_id, access_token, updated_at)
	     VALUES ('p1', 'u1', 'whatsapp', 'waba-1', 'token', '2000-01-01');
	INSERT INTO agents (agent_id, user_id, phone_number_id, prompt_id, name, updated_at)
	     VALUES ('a1', 'u1', 'p1', 'prompt-1', 'Agent One', '2000-01-01');
	INSERT INTO google_calendar_tokens (user_id, access_token, refresh_token, token_expiry, scope, updated_at)
	     VALUES ('u1', 'at', 'rt', '2030-01-01', 'calendar', '2000-01-01');
	INSERT INTO conversations (conversation_id, agent_id, customer_phone)
	     VALUES ('c1', 'a1', '+15550001');
	INSERT INTO meetings (meeting_id, user_id, conversation_id, google_event_id, title, meeting_time, updated_at)
	     VALUES ('m1', 'u1', 'c1', 'ev-1', 'Demo', '2030-01-01 10:00', '2000-01-01');
	INSERT INTO messages (message_id, conversation_id, sender, text, sequence_no)
	     VALUES ('msg1', 'c1', 'user', 'hello', 1);
	INSERT INTO extractions (conversation_id, user_id, customer_phone, intent_score)
	     VALUES ('c1', 'u1', '+15550001', 3);
	INSERT INTO credits (user_id, remaining_credits) VALUES ('u1', 0);"

for t in users phone_numbers agents google_calendar_tokens meetings; do
	ok "UPDATE on $t" sql "$db1" "UPDATE $t SET updated_at = updated_at"
	eq "updated_at on $t set by the trigger" 1 \
		"$(sql "$db1" "SELECT count(*) FROM $t WHERE updated_at > '2000-01-02'")"
done

refused "$db1" "messages.sender 'bot'" messages_sender_check \
	"INSERT INTO messages (message_id, conversation_id, sender, text, sequence_no)
	 VALUES ('msg2', 'c1', 'bot', 'hi', 2);"
refused "$db1" "extractions.intent_score 4" extractions_intent_score_check "UPDATE extractions SET intent_score = 4;"
refused "$db1" "extractions.total_score 4" extractions_total_score_check "UPDATE extractions SET total_score = 4;"
refused "$db1" "credits.remaining_credits -1" credits_remaining_credits_check "UPDATE credits SET remaining_credits = -1;"
refused "$db1" "phone_numbers.platform 'telegram'" phone_numbers_platform_check "UPDATE phone_numbers SET platform = 'telegram';"
ok "values inside the CHECKs are accepted" sql "$db1" "
	UPDATE extractions SET intent_score = 1, total_score = 15, lead_status_tag = 'Hot';
	UPDATE credits SET remaining_credits = 10, total_used = 0;
	UPDATE messages SET sender = 'agent', status = 'pending';"
eq "seed allows only one archived conversation per (agent, customer)" \
	'violates unique constraint "conversations_agent_id_customer_phone_is_active_key"' \
	"$(sql "$db1" "INSERT INTO conversations (conversation_id, agent_id, customer_phone, is_active)
	               VALUES ('c2', 'a1', '+15550001', false), ('c3', 'a1', '+15550001', false);" 2>&1 |
	   grep -o 'violates unique constraint "[a-z_]*"')"

# --- (d) sql/schema.sql is the schema the migrations produce ---------------

fresh_db db4
ok "parley migrate on a fresh database" \
	env PARLEY_CONFIG= PARLEY_DATABASE_URL="$db4" "$PARLEY_BIN" migrate -c /dev/null
ok "sql/schema.sql matches a fresh migrate (if not, run make schema)" \
	diff -u --label sql/schema.sql --label 'fresh migrate' \
	"$REPO_DIR/sql/schema.sql" <(schema_header; schema_dump "$db4")

finish
