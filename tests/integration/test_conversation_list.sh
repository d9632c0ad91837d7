#!/usr/bin/env bash
# `parley conversation list` asks each agent of the tenant for its first
# --limit conversations through conversations_agent_recent (migrations
# 0023, 0026) and merges them: the order across agents, the limit, --active
# and another tenant's conversations must be as if it sorted them all.
. "$(dirname "$0")/../lib/testlib.sh"

seeded_db
# acme: six conversations over its two agents, interleaved in time, one
# inactive and one never written to (last_message_at NULL: last); bee: one,
# the most recent of all.
ok "seed" sql "$dsn" "
	INSERT INTO users (user_id, email) VALUES ('bee', 'b@bee.test');
	INSERT INTO phone_numbers (id, user_id, platform, meta_phone_number_id, access_token)
	VALUES ('pn-bee', 'bee', 'whatsapp', '999000111', 't');
	INSERT INTO agents (agent_id, user_id, phone_number_id, prompt_id, name)
	VALUES ('ag-bee', 'bee', 'pn-bee', 'p', 'Bee');
	INSERT INTO conversations (conversation_id, agent_id, customer_phone, last_message_at, is_active)
	VALUES ('c1', 'ag-wa', '1', '2026-01-01 10:00', true),
	       ('c2', 'ag-ig', '2', '2026-01-01 11:00', true),
	       ('c3', 'ag-wa', '3', '2026-01-01 12:00', false),
	       ('c4', 'ag-ig', '4', '2026-01-01 13:00', true),
	       ('c5', 'ag-wa', '5', '2026-01-01 13:00', true),
	       ('c6', 'ag-ig', '6', NULL, true),
	       ('cb', 'ag-bee', '7', '2026-01-02 00:00', true)"

ids() { "$PARLEY_BIN" conversation list -c "$conf" --json "$@" | jq -r '[.[].conversation_id] | join(",")'; }
eq "all of acme's, newest first, ties by id, never-written last" "c4,c5,c3,c2,c1,c6" "$(ids --tenant acme)"
eq "--limit 3 across both agents" "c4,c5,c3" "$(ids --tenant acme --limit 3)"
eq "--limit 1" "c4" "$(ids --tenant acme --limit 1)"
eq "--active" "c4,c5,c2,c1,c6" "$(ids --tenant acme --active)"
eq "--active --limit 2" "c4,c5" "$(ids --tenant acme --active --limit 2)"
eq "another tenant's" "cb" "$(ids --tenant bee)"

# Ingestion's lookup of a customer's active conversation (parley_ingest_batch)
# takes the unique index meant for it, also before the table has statistics
# and as a generic plan, as plpgsql keeps it: the list index (partial since
# 0026) cannot serve it. With 0023's index the planner took the list index
# here, and read every conversation of the agent per webhook.
lookup=$(psql -X -q -At "$dsn" -c "SET plan_cache_mode = force_generic_plan" \
	-c "PREPARE q(text, text) AS SELECT conversation_id, reply_due_at FROM conversations
	     WHERE agent_id = \$1 AND customer_phone = \$2 AND is_active FOR UPDATE" \
	-c "EXPLAIN EXECUTE q('ag-wa', '1')")
eq "no statistics yet" "" "$(sql "$dsn" "SELECT last_analyze, last_autoanalyze FROM pg_stat_user_tables
	WHERE relname = 'conversations'" | tr -d '|')"
contains "ingestion's lookup: conversations_one_active" "Index Scan using conversations_one_active" "$lookup"

# The index the command relies on, used for one agent's newest first.
ok "ANALYZE" sql "$dsn" "ANALYZE conversations"
plan=$(psql -X -q -At "$dsn" -c "SET enable_seqscan = off" -c "EXPLAIN SELECT conversation_id FROM conversations
	WHERE agent_id = 'ag-wa' AND last_message_at IS NOT NULL
	ORDER BY last_message_at DESC, conversation_id LIMIT 50")
contains "one agent's newest: conversations_agent_recent in order" "conversations_agent_recent" "$plan"
fails "... without a sort" grep -q "Sort" <<<"$plan"
finish
